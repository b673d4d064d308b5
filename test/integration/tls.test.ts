// The server over TCP with mutual TLS, with a CA and certificates made for the
// test: a client certificate is the tenant's identity (its CN), its tenant's
// account owns its files; no certificate, or another CA's, is refused at the
// handshake and audited; the fnjail CLI and the unmodified classic C client
// both speak it. Plain TCP (--insecure) only on loopback, anonymous.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliAs, installClient } from '../helpers/as-user.js';
import { cliMain, createTestArea, HANG_GUARD_MS, writeData } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, waitForLogs, type TestServer } from '../helpers/server.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';

const DAEMON_UID = 1;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: HANG_GUARD_MS }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('TCP with mutual TLS', () => {
  let server: TestServer;
  let pki: TestPki;
  let address: string;
  const area = createTestArea();
  const lib = (name: string) => path.join(area.libDir, name);
  const fnjail = (args: string[], client: { cert: string; key: string } | undefined, ca = pki.caCert) =>
    run(process.execPath, [cliMain, ...args, '--connect', address, '--tls-ca', ca, ...(client ? ['--tls-cert', client.cert, '--tls-key', client.key] : [])]);

  before(async () => {
    pki = makeTestPki(path.join(area.root, 'pki'));
    server = await startServer({
      area,
      policy: {
        monitors: { tlsClients: ['monitor-node'] },
        defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir] },
        tenants: [{ name: 'alice', match: { tlsClients: ['alice'] }, account: 'daemon', functions: [{ library: area.libDir, allow: ['run', 'cat'] }] }],
      },
      args: ['--listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert],
    });
    const start = await waitForLog(server, (l) => l.event === 'server-start');
    address = (start.listen as string[])[0]!;
    assert.match(address, /^127\.0\.0\.1:\d+$/);
  });
  after(() => server.stop());

  it('runs a call for a client whose certificate names its tenant, as the tenant\'s account', async () => {
    const result = await fnjail(['run', lib('libbasic.so')], pki.client('alice'));
    assert.equal(result.code, 0, result.stderr);
    const output = result.stdout.trim();
    assert.equal(readOutput(output), 'run\n');
    assert.equal(fs.statSync(output).uid, DAEMON_UID, 'the output file belongs to the account');
    const [record] = await waitForLogs(server, (l) => l.event === 'execution' && l.output === output);
    const peer = record!.peer as Record<string, unknown>;
    assert.equal(record!.tenant, 'alice');
    assert.equal(peer.uid, DAEMON_UID);
    assert.equal(peer.user, 'daemon');
    assert.deepEqual(Object.keys(peer.remote as object).sort(), ['address', 'commonName', 'fingerprint']);
    assert.equal((peer.remote as Record<string, unknown>).commonName, 'alice');
  });

  it("applies that tenant's rules, naming them", async () => {
    const result = await fnjail(['run', '--json', lib('libbasic.so'), 'echo_arg', '/x'], pki.client('alice'));
    assert.equal(result.code, 17, 'the exit status of a denied call');
    const reply = JSON.parse(result.stdout) as { outcome: string; reasons: string[] };
    assert.equal(reply.outcome, 'denied');
    assert.match(reply.reasons[0]!, /rule tenants\[0\]\.functions\[0\]: function 'echo_arg' of \S+libbasic\.so is not allowed for tenant 'alice'/);
  });

  it('gives a certificate no tenant names the defaults, acting as nobody', async () => {
    const data = writeData(area, 'public.txt', 'for anyone\n');
    const result = await fnjail(['run', '--json', lib('libbasic.so'), 'cat', data], pki.client('bob'));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const reply = JSON.parse(result.stdout) as { output: string; outcome: string };
    assert.equal(readOutput(reply.output), 'for anyone\n');
    assert.equal(fs.statSync(reply.output).uid, 65534);
  });

  it('refuses a client without a certificate, and audits it', async () => {
    const cli = await fnjail(['run', lib('libbasic.so')], undefined);
    assert.equal(cli.code, 2, 'the CLI does not even try');
    assert.match(cli.stderr, /needs --tls-cert, --tls-key and --tls-ca/);
    const from = server.logs.length;
    // A TLS client without a certificate: the server ends the handshake.
    const [host, port] = address.split(':');
    const bare = spawnSync('openssl', ['s_client', '-connect', `${host}:${port}`, '-CAfile', pki.caCert, '-quiet'], { input: `${lib('libbasic.so')}\n`, encoding: 'utf8', timeout: 10_000 });
    assert.doesNotMatch(bare.stdout, /\/out-/, 'no output file comes back');
    const [refused] = await waitForLogs(server, (l) => l.event === 'connection-refused' && l.transport === 'tls', { from });
    assert.match(String(refused!.reason), /certificate/i);
  });

  it('refuses a client certificate from another CA, and audits it', async () => {
    const from = server.logs.length;
    const result = await fnjail(['run', lib('libbasic.so')], pki.foreignClient('alice'));
    assert.equal(result.code, 3, 'the server cannot be reached');
    assert.match(result.stderr, /cannot connect to the fnjail server at tls:\/\/127\.0\.0\.1:\d+|closed the connection/);
    const [refused] = await waitForLogs(server, (l) => l.event === 'connection-refused', { from });
    assert.match(String(refused!.msg), /refused at the handshake/);
  });

  it('is refused by a client that does not trust the server\'s certificate', async () => {
    const result = await fnjail(['run', lib('libbasic.so')], pki.client('alice'), pki.foreignCaCert);
    assert.equal(result.code, 3, 'the server cannot be reached');
    assert.match(result.stderr, /cannot connect to the fnjail server at tls:\/\/\S+: .*(certificate|verify)/i);
    assert.match(result.stderr, /hint: the TLS handshake failed/);
  });

  it('serves the unmodified classic C client over TLS', async () => {
    const client = installClient(area);
    const alice = pki.client('alice');
    const result = await run(client, [lib('libbasic.so')], { FNJAIL_CONNECT: address, FNJAIL_TLS_CERT: alice.cert, FNJAIL_TLS_KEY: alice.key, FNJAIL_TLS_CA: pki.caCert });
    assert.equal(result.code, 0, result.stderr);
    const match = /^Output file: (\S+)$/.exec(result.stdout.trim());
    assert.ok(match, result.stdout);
    assert.equal(readOutput(match[1]!), 'run\n');
  });

  it('answers stats to a monitor node, and to no other client', async () => {
    const monitor = await fnjail(['stats', '--json'], pki.client('monitor-node'));
    assert.equal(monitor.code, 0, monitor.stderr);
    assert.ok((JSON.parse(monitor.stdout) as { executions: { total: number } }).executions.total >= 3);
    const other = await fnjail(['stats'], pki.client('alice'));
    assert.equal(other.code, 1);
    assert.match(other.stderr, /stats: TLS client 'alice' \(127\.0\.0\.1:\d+\) may not see the server's statistics/);
  });
});

describe('plain TCP (--insecure)', () => {
  it('serves loopback clients anonymously, and is refused on other addresses', async () => {
    const server = await startServer({ args: ['--listen', '127.0.0.1:0', '--insecure'] });
    try {
      const start = await waitForLog(server, (l) => l.event === 'server-start');
      const address = (start.listen as string[])[0]!;
      // As root the CLI refuses plain TCP (any user could be listening there); another user may use it.
      const asRoot = await run(process.execPath, [cliMain, 'run', path.join(server.area.libDir, 'libbasic.so'), '--connect', address, '--insecure']);
      assert.equal(asRoot.code, 1);
      assert.match(asRoot.stderr, /plain TCP \(--insecure, FNJAIL_INSECURE=1\) is refused as root: .*\[FNJ_SERVER_UNTRUSTED\]/);
      const [command, ...args] = cliAs({ uid: 65534, gid: 65534 }, ['run', path.join(server.area.libDir, 'libbasic.so'), '--connect', address, '--insecure']);
      const result = await run(command!, args);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(fs.statSync(result.stdout.trim()).uid, 65534, 'an anonymous client acts as nobody');
      const [record] = await waitForLogs(server, (l) => l.event === 'execution');
      assert.deepEqual((record!.peer as Record<string, unknown>).remote, { address: (record!.peer as { remote: { address: string } }).remote.address });
    } finally {
      await server.stop();
    }
    const refused = await run(process.execPath, [cliMain, 'serve', '--no-config', '--listen', '192.0.2.1:7000', '--insecure', '--socket', '/run/fnjail-test-unused.sock']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--insecure serves plain TCP only on loopback, not on 192\.0\.2\.1/);
    // A name is checked by what it resolves to and what gets bound, not by its spelling: in a mount
    // namespace of its own, the server sees an /etc/hosts where evil.localhost is 0.0.0.0.
    const hosts = path.join(os.tmpdir(), `fnjail-hosts-${process.pid}`);
    fs.writeFileSync(hosts, '127.0.0.1 localhost\n0.0.0.0 evil.localhost\n');
    try {
      const script = 'mount --bind "$0" /etc/hosts && exec "$@"';
      const evil = await run('unshare', ['--mount', 'sh', '-c', script, hosts, process.execPath, cliMain, 'serve', '--no-config', '--listen', 'evil.localhost:0', '--insecure', '--socket', '/run/fnjail-test-unused.sock']);
      assert.equal(evil.code, 2, evil.stderr);
      assert.match(evil.stderr, /--insecure serves plain TCP only on loopback, not on evil\.localhost \(0\.0\.0\.0\)/);
    } finally {
      fs.rmSync(hosts, { force: true });
    }
    const noTls = await run(process.execPath, [cliMain, 'serve', '--no-config', '--listen', '127.0.0.1:7000']);
    assert.equal(noTls.code, 2);
    assert.match(noTls.stderr, /--listen \(listen\) needs --tls-cert \(tlsCert\), --tls-key \(tlsKey\) and --tls-ca \(tlsCa\)/);
  });
});
