// fnjail tls: a CA, a server certificate and a client certificate, made by
// the CLI, then used as the docs say: a server with --listen, a client with
// --connect whose certificate names its tenant.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliMain, createTestArea, type TestArea } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog } from '../helpers/server.js';

const exec = promisify(execFile);
const tls = (args: string[]) =>
  exec(process.execPath, [cliMain, 'tls', ...args], { encoding: 'utf8' }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

describe('fnjail tls', () => {
  let area: TestArea;
  let dir: string;
  before(() => {
    area = createTestArea();
    dir = path.join(area.root, 'tls');
  });
  after(() => area.cleanup());

  it('makes a CA, a server and a client certificate that a server and a client use as documented', async () => {
    assert.equal((await tls(['ca', '--dir', dir])).code, 0);
    assert.equal((await tls(['server', '--dir', dir, '--host', '127.0.0.1', '--host', 'localhost'])).code, 0);
    const client = await tls(['client', '--dir', dir, '--name', 'alice']);
    assert.equal(client.code, 0, client.stderr);
    for (const key of ['ca.key', 'server.key', 'clients/alice.key']) assert.equal(fs.statSync(path.join(dir, key)).mode & 0o777, 0o600, key);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['ca.key', 'ca.pem', 'clients', 'server.key', 'server.pem'], 'no scratch files left');

    const server = await startServer({
      policy: (a) => ({ defaults: { libraryDirs: [a.libDir] }, tenants: [{ name: 'alice', match: { tlsClients: ['alice'] }, libraryDirs: [a.libDir] }] }),
      args: ['--listen', '127.0.0.1:0', '--tls-cert', path.join(dir, 'server.pem'), '--tls-key', path.join(dir, 'server.key'), '--tls-ca', path.join(dir, 'ca.pem')],
    });
    try {
      const start = await waitForLog(server, (l) => l.event === 'server-start');
      const address = (start.listen as string[])[0]!;
      const { stdout } = await exec(process.execPath, [cliMain, 'run', '--connect', address, '--tls-cert', path.join(dir, 'clients/alice.pem'), '--tls-key', path.join(dir, 'clients/alice.key'), '--tls-ca', path.join(dir, 'ca.pem'), path.join(server.area.libDir, 'libbasic.so')]);
      assert.equal(readOutput(stdout.trim()), 'run\n');
      const record = await waitForLog(server, (l) => l.event === 'execution' && l.output === stdout.trim());
      assert.equal(record.tenant, 'alice', 'the certificate names the tenant');
    } finally {
      await server.stop();
    }
  });

  it('never overwrites, and says what is missing or wrong', async () => {
    const again = await tls(['ca', '--dir', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ca\.pem exists already \[FNJ_TLS_EXISTS\]/);
    const noCa = await tls(['server', '--dir', path.join(area.root, 'empty'), '--host', 'localhost']);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /ca\.pem is missing \[FNJ_TLS_FAILED\]\n {2}hint: make the CA first: fnjail tls ca --dir/);
    const badHost = await tls(['server', '--dir', dir, '--host', 'not a host']);
    assert.equal(badHost.code, 2);
    assert.match(badHost.stderr, /--host: 'not a host' is neither a DNS name nor an IP address \[FNJ_USAGE\]/);
    const badName = await tls(['client', '--dir', dir, '--name', 'a/b']);
    assert.equal(badName.code, 2);
  });
});
