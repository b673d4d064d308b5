// The classic C client library's transports, alone: the unmodified classic
// client (clients/c/build/classic-client on libipc.so) against small servers
// written here with node:net and node:tls, not the fnjail server. The transport
// comes from the environment: FNJAIL_SOCKET (UNIX), or FNJAIL_CONNECT with
// FNJAIL_TLS_CERT, FNJAIL_TLS_KEY, FNJAIL_TLS_CA (mutual TLS), or with
// FNJAIL_INSECURE=1 (plain TCP, loopback only).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { clientsBuild, HANG_GUARD_MS } from '../helpers/environment.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';

const classicClient = path.join(clientsBuild, 'classic-client');
const loadgen = path.join(clientsBuild, 'fnjail-loadgen');
const WAIT_MS = HANG_GUARD_MS;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a client asynchronously (the test servers live in this process) with
 * only the given environment, killed after WAIT_MS. */
function run(program: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

const OUTPUT_LINE = /^Output file: (.*)\n$/;

/** The path the classic client printed, or undefined if it printed no reply. */
function outputFile(result: Run): string | undefined {
  const match = OUTPUT_LINE.exec(result.stdout);
  return match?.[1] || undefined;
}

interface Session {
  received: Buffer;
  peerCn?: string;
}

/** A test server: answers the first bytes of each connection with `reply`,
 * and keeps what every connection sent until it closed. */
interface TestServer {
  port: number;
  sessions: Session[];
  /** Raw TCP connections accepted (TLS or not, handshake or not). */
  connections: number;
  tlsErrors: Error[];
  /** Resolves once every accepted connection has closed (bounded). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

function serve(server: net.Server, reply: (session: Session) => string | Buffer, secureEvent: boolean): TestServer {
  const sockets = new Set<net.Socket>();
  const state: TestServer = {
    port: 0,
    sessions: [],
    connections: 0,
    tlsErrors: [],
    settled: () => waitFor(() => sockets.size === 0, 'the server-side connections to close'),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: net.Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (error: Error) => state.tlsErrors.push(error));
  server.on(secureEvent ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    const session: Session = { received: Buffer.alloc(0) };
    if (socket instanceof tls.TLSSocket) session.peerCn = (socket.getPeerCertificate().subject?.CN as string | undefined) ?? '';
    state.sessions.push(session);
    let replied = false;
    socket.on('data', (chunk: Buffer) => {
      session.received = Buffer.concat([session.received, chunk]);
      // A classic command has no terminator: the first bytes are the command.
      if (!replied) {
        replied = true;
        socket.end(reply(session));
      }
    });
    socket.on('error', () => {});
  });
  return state;
}

function listen(server: net.Server, state: TestServer, where: { host?: string; path?: string }): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      const address = server.address();
      if (address && typeof address === 'object') state.port = address.port;
      resolve(state);
    };
    if (where.path) server.listen(where.path, done);
    else server.listen(0, where.host, done);
  });
}

async function waitFor(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the classic C client library, transports', () => {
  let tmp: string;
  let pki: TestPki;
  const servers: TestServer[] = [];

  before(() => {
    for (const file of [classicClient, loadgen]) assert.ok(fs.existsSync(file), `${file} is built by scripts/build.sh`);
    tmp = fs.mkdtempSync('/tmp/fnjail-c-transport-');
    pki = makeTestPki(path.join(tmp, 'pki'));
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function tlsServer(cert: { cert: string; key: string }, reply: (session: Session) => string, host = '127.0.0.1'): Promise<TestServer> {
    const server = tls.createServer({
      cert: fs.readFileSync(cert.cert),
      key: fs.readFileSync(cert.key),
      ca: fs.readFileSync(pki.caCert),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
    const state = await listen(server, serve(server, reply, true), { host });
    servers.push(state);
    return state;
  }

  async function plainServer(reply: (session: Session) => string, where: { host?: string; path?: string }): Promise<TestServer> {
    const server = net.createServer();
    const state = await listen(server, serve(server, reply, false), where);
    servers.push(state);
    return state;
  }

  function tlsEnv(endpoint: string, cn = 'tenant-alice', client = pki.client(cn), ca = pki.caCert): Record<string, string> {
    return { FNJAIL_CONNECT: endpoint, FNJAIL_TLS_CERT: client.cert, FNJAIL_TLS_KEY: client.key, FNJAIL_TLS_CA: ca };
  }

  const serverCert = () => ({ cert: pki.serverCert, key: pki.serverKey });

  it('over mutual TLS: the server sees the client certificate CN and the exact command; the client prints the reply', async () => {
    const server = await tlsServer(serverCert(), (session) => `/var/lib/fnjail/output/out-${session.peerCn}`);
    const result = await run(classicClient, ['/opt/fnlib/libbasic.so', 'cat', '/opt/fnlib/data/hello.txt'], tlsEnv(`127.0.0.1:${server.port}`, 'tenant-alice'));
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'Output file: /var/lib/fnjail/output/out-tenant-alice\n');
    assert.equal(result.stderr, '');
    await server.settled();
    assert.equal(server.sessions.length, 1);
    assert.equal(server.sessions[0]!.peerCn, 'tenant-alice');
    assert.equal(server.sessions[0]!.received.toString('latin1'), '/opt/fnlib/libbasic.so cat /opt/fnlib/data/hello.txt');
  });

  it('over mutual TLS by name (localhost) and to an IPv6 literal ([::1])', async () => {
    const v4 = await tlsServer(serverCert(), () => '/out/by-name');
    const byName = await run(classicClient, ['libbasic.so'], tlsEnv(`localhost:${v4.port}`, 'tenant-bob'));
    assert.equal(byName.status, 0, byName.stderr);
    assert.equal(byName.stdout, 'Output file: /out/by-name\n');

    let v6: TestServer;
    try {
      v6 = await tlsServer(serverCert(), () => '/out/v6', '::1');
    } catch (error) {
      assert.fail(`this test wants IPv6 on loopback: ${(error as Error).message}`);
    }
    const byAddress = await run(classicClient, ['libbasic.so', 'run'], tlsEnv(`[::1]:${v6.port}`, 'tenant-bob'));
    assert.equal(byAddress.status, 0, byAddress.stderr);
    assert.equal(byAddress.stdout, 'Output file: /out/v6\n');
    await v6.settled();
    assert.deepEqual(
      v6.sessions.map((s) => [s.peerCn, s.received.toString()]),
      [['tenant-bob', 'libbasic.so run']],
    );
  });

  it('refuses a server whose certificate comes from another CA: no command is sent', async () => {
    const server = await tlsServer(pki.foreignServer(), () => '/out/should-not-be-printed');
    const result = await run(classicClient, ['libbasic.so', 'run'], tlsEnv(`127.0.0.1:${server.port}`));
    assert.notEqual(result.status, 0, result.stdout);
    assert.equal(outputFile(result), undefined, result.stdout);
    assert.match(result.stderr, /^fnjail client: the server at 127\.0\.0\.1:\d+ is not trusted: unable to get local issuer certificate \(is FNJAIL_TLS_CA=\S+ the CA that signed its certificate\?\)\n/);
    await server.settled();
    assert.equal(server.connections, 1, 'the client did connect');
    assert.equal(server.sessions.length, 0, 'the server got no command');
  });

  it('refuses a server certificate from the right CA but for another host, or not for servers', async () => {
    const elsewhere = pki.issue({ cn: 'elsewhere', usage: 'server', altNames: ['DNS:elsewhere.test', 'IP:192.0.2.7'] });
    const wrongHost = await tlsServer(elsewhere, () => '/out/should-not-be-printed');
    const byAddress = await run(classicClient, ['libbasic.so'], tlsEnv(`127.0.0.1:${wrongHost.port}`));
    assert.notEqual(byAddress.status, 0);
    assert.equal(outputFile(byAddress), undefined, byAddress.stdout);
    assert.match(byAddress.stderr, /^fnjail client: the server at 127\.0\.0\.1:\d+ is not trusted: IP address mismatch \(its certificate is not for 127\.0\.0\.1\)\n/);
    const byName = await run(classicClient, ['libbasic.so'], tlsEnv(`localhost:${wrongHost.port}`));
    assert.notEqual(byName.status, 0);
    assert.match(byName.stderr, /^fnjail client: the server at localhost:\d+ is not trusted: hostname mismatch \(its certificate is not for localhost\)\n/);

    // A client certificate cannot pass for a server (extended key usage).
    const clientAsServer = pki.issue({ cn: 'tenant-mallory', usage: 'client', altNames: ['IP:127.0.0.1'] });
    const impostor = await tlsServer(clientAsServer, () => '/out/should-not-be-printed');
    const fooled = await run(classicClient, ['libbasic.so'], tlsEnv(`127.0.0.1:${impostor.port}`));
    assert.notEqual(fooled.status, 0);
    assert.match(fooled.stderr, /^fnjail client: the server at 127\.0\.0\.1:\d+ is not trusted: unsuitable certificate purpose \(its certificate is not a server's/);

    for (const server of [wrongHost, impostor]) {
      await server.settled();
      assert.equal(server.sessions.length, 0, 'no command reached the server');
    }
  });

  it('a client certificate from another CA is refused by the server, and the client says why', async () => {
    const server = await tlsServer(serverCert(), () => '/out/should-not-be-printed');
    const result = await run(classicClient, ['libbasic.so'], tlsEnv(`127.0.0.1:${server.port}`, 'x', pki.foreignClient('tenant-alice')));
    assert.equal(outputFile(result), undefined, result.stdout);
    assert.match(result.stderr, /^fnjail client: (the server at 127\.0\.0\.1:\d+ closed the TLS connection without a reply \(did it refuse FNJAIL_TLS_CERT=\S+\? its log says\)|TLS (read|write) with 127\.0\.0\.1:\d+ failed: .*alert.*)\n/);
    await server.settled();
    assert.equal(server.sessions.length, 0);
    assert.ok(server.tlsErrors.length >= 1, 'the server refused the handshake');
  });

  it('FNJAIL_CONNECT needs the TLS variables, or FNJAIL_INSECURE=1; nothing is sent otherwise', async () => {
    const server = await plainServer(() => '/out/should-not-be-printed', { host: '127.0.0.1' });
    const endpoint = `127.0.0.1:${server.port}`;
    const none = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: endpoint });
    assert.equal(none.status, 1);
    assert.equal(none.stdout, '');
    assert.equal(
      none.stderr,
      `fnjail client: FNJAIL_CONNECT=${endpoint} needs FNJAIL_TLS_CERT, FNJAIL_TLS_KEY and FNJAIL_TLS_CA (or FNJAIL_INSECURE=1 on loopback); missing: FNJAIL_TLS_CERT FNJAIL_TLS_KEY FNJAIL_TLS_CA\n` +
        'connect: Operation not permitted\n',
    );

    const partial = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: endpoint, FNJAIL_TLS_CERT: pki.client('tenant-alice').cert });
    assert.equal(partial.status, 1);
    assert.match(partial.stderr, /; missing: FNJAIL_TLS_KEY FNJAIL_TLS_CA\n/);

    const both = await run(classicClient, ['libbasic.so'], { ...tlsEnv(endpoint), FNJAIL_INSECURE: '1' });
    assert.equal(both.status, 1);
    assert.match(both.stderr, /^fnjail client: FNJAIL_INSECURE=1 and FNJAIL_TLS_\* exclude each other/);

    const missingFile = await run(classicClient, ['libbasic.so'], { ...tlsEnv(endpoint), FNJAIL_TLS_CERT: path.join(tmp, 'no-such.crt') });
    assert.equal(missingFile.status, 1);
    assert.match(missingFile.stderr, /^fnjail client: cannot use FNJAIL_TLS_CERT=\S+no-such\.crt \(a PEM certificate\): .*No such file/);

    const wrongKey = await run(classicClient, ['libbasic.so'], { ...tlsEnv(endpoint), FNJAIL_TLS_KEY: pki.client('tenant-bob').key });
    assert.equal(wrongKey.status, 1);
    assert.match(wrongKey.stderr, /^fnjail client: cannot use FNJAIL_TLS_KEY=\S+ \(the PEM private key of FNJAIL_TLS_CERT=\S+\): .*key values mismatch\n/);

    for (const bad of ['::1:7443', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '[localhost]:7443', ':7443']) {
      const malformed = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: bad, FNJAIL_INSECURE: '1' });
      assert.equal(malformed.status, 1, bad);
      assert.ok(
        malformed.stderr.startsWith(`fnjail client: FNJAIL_CONNECT=${bad} is not HOST:PORT (an IPv6 address goes in brackets: [::1]:7443)\n`),
        `${bad}: ${malformed.stderr}`,
      );
    }

    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.connections, 0, 'no connection was made');
  });

  it('FNJAIL_INSECURE=1: plain TCP to loopback works, anything else is refused before connecting', async () => {
    const server = await plainServer(() => '/out/plain', { host: '127.0.0.1' });
    const result = await run(classicClient, ['libcounter.so', 'next'], { FNJAIL_CONNECT: `127.0.0.1:${server.port}`, FNJAIL_INSECURE: '1' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'Output file: /out/plain\n');
    assert.equal(result.stderr, '');
    const byName = await run(classicClient, ['libcounter.so'], { FNJAIL_CONNECT: `localhost:${server.port}`, FNJAIL_INSECURE: '1' });
    assert.equal(byName.stdout, 'Output file: /out/plain\n', byName.stderr);
    await server.settled();
    assert.deepEqual(
      server.sessions.map((s) => s.received.toString()),
      ['libcounter.so next', 'libcounter.so'],
    );

    // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and the check comes before any connect().
    const started = Date.now();
    const remote = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: '192.0.2.1:7', FNJAIL_INSECURE: '1' });
    assert.equal(remote.status, 1);
    assert.equal(remote.stdout, '');
    assert.equal(
      remote.stderr,
      'fnjail client: FNJAIL_INSECURE=1 is for loopback only, and 192.0.2.1 is not a loopback address: use TLS (FNJAIL_TLS_CERT, FNJAIL_TLS_KEY, FNJAIL_TLS_CA)\n' +
        'connect: Operation not permitted\n',
    );
    assert.ok(Date.now() - started < 5000, 'refused at once, not after a connection attempt');
    const remote6 = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: '[2001:db8::1]:7', FNJAIL_INSECURE: '1' });
    assert.equal(remote6.status, 1);
    assert.match(remote6.stderr, /^fnjail client: FNJAIL_INSECURE=1 is for loopback only, and 2001:db8::1 is not a loopback address/);

    const odd = await run(classicClient, ['libbasic.so'], { FNJAIL_CONNECT: `127.0.0.1:${server.port}`, FNJAIL_INSECURE: 'yes' });
    assert.equal(odd.status, 1);
    assert.match(odd.stderr, /^fnjail client: FNJAIL_INSECURE=yes: set it to 1/);
  });

  it('without FNJAIL_CONNECT, the UNIX socket FNJAIL_SOCKET as before', async () => {
    const socket = path.join(tmp, 'fnjail.sock');
    const server = await plainServer(() => '/out/unix', { path: socket });
    const result = await run(classicClient, ['/lib/libbasic.so', 'run', 'in.txt'], { FNJAIL_SOCKET: socket });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'Output file: /out/unix\n');
    assert.equal(result.stderr, '');
    // An empty FNJAIL_CONNECT is unset, as an empty FNJAIL_SOCKET is.
    const empty = await run(classicClient, ['/lib/libbasic.so'], { FNJAIL_SOCKET: socket, FNJAIL_CONNECT: '' });
    assert.equal(empty.stdout, 'Output file: /out/unix\n', empty.stderr);
    await server.settled();
    assert.deepEqual(
      server.sessions.map((s) => s.received.toString()),
      ['/lib/libbasic.so run in.txt', '/lib/libbasic.so'],
    );

    const absent = await run(classicClient, ['libbasic.so'], { FNJAIL_SOCKET: path.join(tmp, 'nobody-here.sock') });
    assert.equal(absent.status, 1);
    assert.equal(absent.stderr, 'connect: No such file or directory\n', 'the UNIX path prints what it always printed');
  });

  it('OpenSSL is loaded at run time, only by a client that asks for TLS', async () => {
    // The dynamic loader's own account of the files it loads.
    const loaded = (result: Run) => [...result.stderr.matchAll(/file=(\S+)\s+\[0\];\s+(?:needed by|dynamically loaded by)/g)].map((m) => path.basename(m[1]!));
    const socket = path.join(tmp, 'fnjail-ld.sock');
    const unixServer = await plainServer(() => '/out/unix', { path: socket });
    const unix = await run(classicClient, ['/lib/libbasic.so'], { FNJAIL_SOCKET: socket, LD_DEBUG: 'files' });
    assert.match(unix.stdout, /^Output file: \/out\/unix\n$/);
    assert.ok(loaded(unix).includes('libipc.so'), unix.stderr);
    assert.ok(!loaded(unix).some((file) => /^lib(ssl|crypto)\.so/.test(file)), `no OpenSSL without TLS: ${loaded(unix).join(' ')}`);
    await unixServer.settled();

    const server = await tlsServer(serverCert(), () => '/out/tls');
    const overTls = await run(classicClient, ['libbasic.so'], { ...tlsEnv(`127.0.0.1:${server.port}`), LD_DEBUG: 'files' });
    assert.match(overTls.stdout, /^Output file: \/out\/tls\n$/);
    assert.ok(loaded(overTls).includes('libssl.so.3') && loaded(overTls).includes('libcrypto.so.3'), loaded(overTls).join(' '));
  });

  it('many threads at once over TLS (the load generator, with timeouts set between create and connect)', async () => {
    const data = path.join(tmp, 'reply.txt');
    fs.writeFileSync(data, 'pong\n');
    const server = await tlsServer(serverCert(), () => data);
    const result = await run(loadgen, ['--clients', '16', '--requests', '8', '--timeout-ms', '5000', '1|=pong\\n|libping.so ping'], tlsEnv(`localhost:${server.port}`, 'tenant-load'));
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    const report = JSON.parse(result.stdout) as { requests: number; errors: number };
    assert.equal(report.requests, 128);
    assert.equal(report.errors, 0, result.stdout);
    await server.settled();
    assert.equal(server.sessions.length, 128);
    assert.ok(server.sessions.every((s) => s.peerCn === 'tenant-load' && s.received.toString() === 'libping.so ping'));
  });
});
