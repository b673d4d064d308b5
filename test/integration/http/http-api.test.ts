// The HTTP API over TCP, end to end: real servers (their private
// nats-server, the real launcher), real HTTP clients on 127.0.0.1 (curl,
// node's http and https, the fnjail CLI, the package's Client), an
// ephemeral port each. Server A serves plain HTTP on loopback (--insecure:
// its clients are the policy's defaults); server B serves TLS, its clients
// known by certificate or bearer token, one call at a time with no line (so
// that a second is busy); server C has no registry (a call by name is a
// server error) and cuts off clients slow to send their headers after 1 s.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../../../src/client/client.js';
import { packageRoot } from '../../../src/paths.js';
import { OUTCOME_STATUS, ERROR_STATUS } from '../../../src/http/problem.js';
import { errorCodes } from '../../../src/errors.js';
import type { User } from '../../helpers/as-user.js';
import { cliMain, createTestArea, fixturesBuild, HANG_GUARD_MS } from '../../helpers/environment.js';
import { httpAddresses, httpRequest, tcpRequest, type HttpReply, type HttpTarget } from '../../helpers/http.js';
import { startServer, waitForLog, waitForStats, type TestServer } from '../../helpers/server.js';
import { tarGz, validEntries } from '../../helpers/tar-builder.js';
import { makeTestPki, type TestPki } from '../../helpers/tls.js';

const ALICE: User = { uid: 4611, gid: 4611 };

/** A library bundle (.tar.gz) of a fixture library, its manifest naming it `name`. */
function libraryBundle(name: string, library: string, functions: string[], extra: Record<string, unknown> = {}): Buffer {
  return tarGz([
    { name: 'fnjail.json', data: JSON.stringify({ name, kind: 'library', functions, entry: `lib/${library}`, ...extra }) },
    { name: `lib/${library}`, mode: 0o755, data: fs.readFileSync(path.join(fixturesBuild, library)) },
  ]);
}

/** OpenLambda's hello: a program echoing its input (a shell script running cat). */
const helloBundle = () => tarGz(validEntries());

function deploy(server: TestServer, name: string, archive: Buffer, as?: User): Promise<HttpReply> {
  return httpRequest(server.apiSocket, { method: 'PUT', path: `/registry/${name}`, body: archive, headers: { 'content-type': 'application/gzip' }, ...(as ? { as } : {}) });
}

async function deployed(server: TestServer, name: string, archive: Buffer, as?: User): Promise<void> {
  const reply = await deploy(server, name, archive, as);
  assert.ok(reply.status === 201 || reply.status === 200, `deploy ${name}: ${reply.status} ${reply.body.toString()}`);
}

function curl(args: string[], stdin?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('curl', ['--silent', '--show-error', '--max-time', '60', ...args], { encoding: 'utf8', input: stdin });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The fnjail CLI, as root, with the environment given (and nothing of the host's fnjail variables). */
function fnjail(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FNJAIL_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliMain, ...args], { env: { ...env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

interface RawExchange {
  /** What the server sent. */
  received: string;
  /** Bytes of the request the client had written when the server closed the connection. */
  sent: number;
  /** Whether the client ran out of what it had to send before the server closed. */
  exhausted: boolean;
}

/** A raw TCP client: writes `head`, then `next()` every `everyMs` (until it returns undefined), and reads until the server closes. */
function rawExchange(target: { host: string; port: number }, head: string, next: (i: number) => Buffer | string | undefined, everyMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, target.host);
    const chunks: Buffer[] = [];
    let sent = 0;
    let exhausted = false;
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${HANG_GUARD_MS} ms; got: ${Buffer.concat(chunks).toString()}`));
    }, HANG_GUARD_MS);
    socket.on('connect', () => {
      socket.write(head);
      sent += Buffer.byteLength(head);
      let i = 0;
      const tick = () => {
        if (socket.destroyed || !socket.writable) return;
        const piece = next(i++);
        if (piece === undefined) {
          exhausted = true;
          return;
        }
        socket.write(piece);
        sent += Buffer.byteLength(piece);
        timer = setTimeout(tick, everyMs);
      };
      tick();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server cut us off: what is tested
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ received: Buffer.concat(chunks).toString('latin1'), sent, exhausted });
    });
  });
}

/** The problem details of a reply, checked for the shape every refusal has. */
function problemOf(reply: HttpReply): Record<string, unknown> & { outcome: string; reasons: string[]; status: number; code?: string } {
  assert.match(reply.headers['content-type'] ?? '', /^application\/problem\+json/, `${reply.status}: ${reply.body.toString()}`);
  const body = reply.json<Record<string, unknown> & { outcome: string; reasons: string[]; status: number; code?: string }>();
  assert.equal(body.status, reply.status);
  assert.equal(body.request, reply.headers['x-fnjail-request']);
  assert.equal(reply.headers['x-fnjail-outcome'], body.outcome);
  assert.ok(Array.isArray(body.reasons) && body.reasons.length > 0);
  return body;
}

/** The rows of a two-column table of docs/http.md, under the heading given. */
function docTable(heading: string): Array<[string, number]> {
  const text = fs.readFileSync(path.join(packageRoot, 'docs', 'http.md'), 'utf8');
  const start = text.indexOf(`### ${heading}`);
  assert.ok(start >= 0, `docs/http.md has a section '${heading}'`);
  const rows: Array<[string, number]> = [];
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const match = /^\| `([^`]+)` \| (\d{3}) \|$/.exec(line);
    if (match) rows.push([match[1]!, Number(match[2])]);
  }
  assert.ok(rows.length > 0, `the table under '${heading}' has rows`);
  return rows;
}

describe('the HTTP API over TCP', () => {
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  let plain: HttpTarget;
  let secure: HttpTarget;
  let plainC: HttpTarget;
  let pki: TestPki;
  let bobToken: string;
  let bobEntry: { id: string; sha256: string };

  const policyB = (entry: { id: string; sha256: string }[]) => (area: { libDir: string; dataDir: string }) => ({
    defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 10000 } },
    ...(entry.length ? { monitors: { tokens: ['bob-monitor'] } } : {}),
    tenants: [
      { name: 'alice', match: { tlsClients: ['alice'] }, deploy: true },
      { name: 'bob', match: { tlsClients: ['bob'] }, tokens: entry, deploy: true, maxInput: '1 KiB' },
    ],
  });

  before(async () => {
    const made = await fnjail(['token', 'new', '--tenant', 'bob', '--id', 'bob-monitor', '--json']);
    assert.equal(made.status, 0, made.stderr);
    ({ token: bobToken, entry: bobEntry } = JSON.parse(made.stdout) as { token: string; entry: { id: string; sha256: string } });
    const areaB = createTestArea();
    pki = makeTestPki(path.join(areaB.root, 'pki'));
    [a, b, c] = await Promise.all([
      startServer({
        registry: true,
        policy: (area) => ({
          defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 10000 }, deploy: true },
          tenants: [{ name: 'alice', match: { uids: [ALICE.uid] }, deploy: true }],
        }),
        args: ['--http', '127.0.0.1:0', '--insecure', '--max-input', '64KiB'],
      }),
      startServer({
        area: areaB,
        registry: true,
        policy: policyB([bobEntry]),
        args: ['--http', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert, '--max-concurrent', '1', '--queue-length', '0'],
      }),
      // C's clients have a second for their headers (A's, the default 10 s: its 1000 concurrent
      // clients wait for a busy event loop, which counts against that time too).
      startServer({ args: ['--http', '127.0.0.1:0', '--insecure', '--http-header-timeout', '1s'] }),
    ]);
    plain = httpAddresses(a.logs)[0]!;
    plainC = httpAddresses(c.logs)[0]!;
    secure = { ...httpAddresses(b.logs)[0]!, tls: { ca: fs.readFileSync(pki.caCert) } };
    await Promise.all([
      deployed(a, 'hello', helloBundle()),
      deployed(a, 'basic', libraryBundle('basic', 'libbasic.so', ['run', 'cat'])),
      deployed(a, 'lifecycle', libraryBundle('lifecycle', 'liblifecycle.so', ['run', 'crash', 'exit_one', 'sleep_long'], { limits: { timeoutMs: 1000 } })),
      deployed(a, 'hostile', libraryBundle('hostile', 'libhostile.so', ['flood_stdout'], { limits: { output: '64 KiB' } })),
      deployed(a, 'syscalls', libraryBundle('syscalls', 'libsyscalls.so', ['try_socket'])),
      deployed(a, 'broken', tarGz([{ name: 'fnjail.json', data: JSON.stringify({ name: 'broken', kind: 'library', functions: ['run'], entry: 'libbroken.so' }) }, { name: 'libbroken.so', mode: 0o755, data: fs.readFileSync('/usr/bin/true') }])),
      deployed(a, 'private', libraryBundle('private', 'libbasic.so', ['run']), ALICE),
    ]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  });

  const clientCert = (cn: string) => {
    const made = pki.client(cn);
    return { ...secure, tls: { ca: secure.tls!.ca, cert: fs.readFileSync(made.cert), key: fs.readFileSync(made.key) } };
  };
  const withToken = (token: string) => ({ authorization: `Bearer ${token}` });

  it("answers OpenLambda's hello example: curl -X POST localhost:PORT/run/hello -d '{\"name\": \"Alice\"}', and /runLambda/hello", () => {
    for (const route of ['run', 'runLambda']) {
      const result = curl(['-i', '-X', 'POST', `http://localhost:${plain.port}/${route}/hello`, '-d', '{"name": "Alice"}']);
      assert.equal(result.status, 0, result.stderr);
      const [head, body] = result.stdout.split('\r\n\r\n');
      assert.match(head!, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(head!, /\r\nx-fnjail-outcome: ok\r\n/);
      assert.match(head!, /\r\nx-fnjail-request: [0-9a-f]{8}-\d+\r\n/);
      assert.match(head!, /\r\nx-fnjail-duration-ms: \d+\.\d{3}\r\n/);
      assert.equal(body, '{"name": "Alice"}');
    }
  });

  it('answers every row of the outcome -> status table of docs/http.md with problem+json and the partial output', async () => {
    // Each row, provoked for real: the server, the request, and what else its reply must show.
    const cases: Record<string, { target: HttpTarget; path: string; body?: string; headers?: Record<string, string>; check?: (reply: HttpReply) => void | Promise<void> }> = {
      ok: { target: plain, path: '/run/basic?function=cat', body: 'echoed', check: (r) => assert.equal(r.body.toString(), 'echoed') },
      exit: { target: plain, path: '/run/lifecycle?function=exit_one', check: (r) => assert.match(problemOf(r).reasons[0]!, /exit/) },
      signal: {
        target: plain,
        path: '/run/lifecycle?function=crash',
        check: (r) => {
          const p = problemOf(r);
          assert.equal(p.output, 'about to crash\n', 'what it printed before it crashed, without the error lines');
          assert.match(p.reasons[0]!, /^killed by signal 11 \(SIGSEGV/);
        },
      },
      limit: { target: plain, path: '/run/hostile?function=flood_stdout', check: (r) => {
        const p = problemOf(r);
        assert.match(p.reasons.join('\n'), /output limit of 64 KiB/);
        assert.equal((p.output as string).length, 64 * 1024, 'the output up to the limit');
      } },
      seccomp: { target: plain, path: '/run/syscalls?function=try_socket', check: (r) => assert.match(problemOf(r).reasons.join('\n'), /blocked system call socket \(41\)/) },
      'load-error': { target: plain, path: '/run/broken', check: (r) => assert.match(problemOf(r).reasons[0]!, /could not be loaded/) },
      timeout: { target: plain, path: '/run/lifecycle?function=sleep_long', check: (r) => assert.match(problemOf(r).reasons[0]!, /timed out after 1000 ms/) },
      'missing-function': { target: plain, path: '/run/basic?function=solve', check: (r) => assert.match(problemOf(r).reasons[0]!, /function 'solve' is not one that 'basic' offers/) },
      denied: { target: plain, path: '/run/private', check: (r) => assert.match(problemOf(r).reasons[0]!, /belongs to tenant 'alice'/) },
      'bad-request': { target: plain, path: '/run/hello?function=run', check: (r) => assert.match(problemOf(r).reasons[0]!, /'hello' is a program: it has no functions to name/) },
      busy: {
        target: secure,
        path: '/run/slow?function=sleep_long',
        headers: withToken(bobToken),
        check: (r) => {
          assert.equal(r.headers['retry-after'], '1');
          assert.match(problemOf(r).reasons[0]!, /busy|line|queue/i);
        },
      },
      'server-error': { target: plainC, path: '/run/basic', check: (r) => assert.match(problemOf(r).reasons[0]!, /no function registry/) },
    };
    // busy: one call runs on B (--max-concurrent 1, --queue-length 0), then another comes.
    const slow = await tcpRequest(secure, { method: 'PUT', path: '/registry/slow', body: libraryBundle('slow', 'liblifecycle.so', ['sleep_long'], { limits: { timeoutMs: 3000 } }), headers: { 'content-type': 'application/gzip', ...withToken(bobToken) } });
    assert.equal(slow.status, 201, slow.body.toString());
    const rows = docTable('A call\'s outcome → status');
    assert.deepEqual(Object.fromEntries(rows), OUTCOME_STATUS, 'the table is the server\'s');
    for (const [outcome, status] of rows) {
      const row = cases[outcome];
      assert.ok(row, `a case for the row '${outcome}'`);
      let running: Promise<HttpReply> | undefined;
      if (outcome === 'busy') {
        running = tcpRequest(secure, { method: 'POST', path: row.path, headers: withToken(bobToken) });
        await waitForStats(b, (s) => s.running.length === 1);
      }
      const reply = await tcpRequest(row.target, { method: 'POST', path: row.path, ...(row.body !== undefined ? { body: row.body } : {}), ...(row.headers ? { headers: row.headers } : {}) });
      assert.equal(reply.status, status, `${outcome}: ${reply.body.toString()}`);
      assert.equal(reply.headers['x-fnjail-outcome'], outcome);
      if (outcome !== 'ok') assert.equal(problemOf(reply).outcome, outcome);
      await row.check?.(reply);
      if (running) assert.equal((await running).status, 504, 'the call that held the slot timed out (3 s, its manifest)');
    }
  });

  it('answers every other refusal with the status of the code table of docs/http.md, each code one of src/errors.ts', async () => {
    const rows = docTable('Other refusals → status');
    assert.deepEqual(Object.fromEntries(rows), ERROR_STATUS);
    for (const [code] of rows) assert.ok(Object.hasOwn(errorCodes, code), `${code} is in src/errors.ts`);
    // Those a client meets without an unusual server, for real (the others: their own suites, through the same table).
    const seen: Record<string, HttpReply> = {
      FNJ_NO_ROUTE: await tcpRequest(plain, { method: 'GET', path: '/no/such/route' }),
      FNJ_METHOD_NOT_ALLOWED: await tcpRequest(plain, { method: 'DELETE', path: '/status' }),
      FNJ_FUNCTION_NOT_FOUND: await tcpRequest(plain, { method: 'GET', path: '/registry/nothing-here' }),
      FNJ_BUNDLE_INVALID: await tcpRequest(plain, { method: 'PUT', path: '/registry/junk', body: 'this is not a tar.gz', headers: { 'content-type': 'application/gzip' } }),
      FNJ_USAGE: await tcpRequest(plain, { method: 'GET', path: '/registry/NOT_A_NAME' }),
      FNJ_INPUT_TOO_LARGE: await tcpRequest(plain, { method: 'POST', path: '/run/basic?function=cat', body: Buffer.alloc(65 * 1024, 'x') }),
      FNJ_FUNCTION_CONFLICT: await tcpRequest(plain, { method: 'PUT', path: '/registry/private', body: libraryBundle('private', 'libbasic.so', ['run']), headers: { 'content-type': 'application/gzip' } }),
      FNJ_UNAUTHENTICATED: await tcpRequest(secure, { method: 'GET', path: '/registry' }),
      FNJ_DENIED: await tcpRequest(plain, { method: 'GET', path: '/stats' }),
    };
    for (const [code, reply] of Object.entries(seen)) {
      const body = problemOf(reply);
      assert.equal(body.code, code, `${code}: ${reply.body.toString()}`);
      assert.equal(reply.status, ERROR_STATUS[code as keyof typeof ERROR_STATUS], code);
      assert.equal(body.outcome, 'error');
    }
    assert.equal(seen.FNJ_METHOD_NOT_ALLOWED!.headers.allow, 'GET, HEAD');
    assert.equal(seen.FNJ_UNAUTHENTICATED!.headers['www-authenticate'], 'Bearer realm="fnjail"');
  });

  it('knows a TLS client by its certificate and a bearer token by the policy, refuses wrong and revoked tokens and anonymous requests', async () => {
    const alice = clientCert('alice');
    const aliceDeploys = await tcpRequest(alice, { method: 'PUT', path: '/registry/echo', body: libraryBundle('echo', 'libbasic.so', ['run', 'cat']), headers: { 'content-type': 'application/gzip' } });
    assert.equal(aliceDeploys.status, 201, aliceDeploys.body.toString());
    assert.equal(aliceDeploys.json<{ function: { owner: string } }>().function.owner, 'alice');
    const aliceCalls = await tcpRequest(alice, { method: 'POST', path: '/run/echo?function=cat', body: 'by certificate' });
    assert.deepEqual([aliceCalls.status, aliceCalls.body.toString()], [200, 'by certificate']);

    // bob's token: his tenant, on any listener; alice's function is not his to call.
    const bobSees = await tcpRequest(secure, { method: 'GET', path: '/registry', headers: withToken(bobToken) });
    assert.equal(bobSees.status, 200);
    assert.deepEqual(bobSees.json<{ functions: Array<{ name: string }> }>().functions.map((f) => f.name), ['slow']);
    const bobCalls = await tcpRequest(secure, { method: 'POST', path: '/run/echo?function=cat', body: 'x', headers: withToken(bobToken) });
    assert.equal(bobCalls.status, 403);
    assert.match(problemOf(bobCalls).reasons[0]!, /tenant 'bob' may call its own functions only/);
    const overPlain = await tcpRequest(plain, { method: 'GET', path: '/registry', headers: withToken(bobToken) });
    assert.equal(overPlain.status, 401, 'a token of another server\'s policy is no identity here, and never anonymous');
    // His tenant's maxInput (1 KiB) is his limit; alice's is the server's.
    const bobTooMuch = await tcpRequest(secure, { method: 'POST', path: '/run/slow?function=sleep_long', body: Buffer.alloc(2048, 'x'), headers: withToken(bobToken) });
    assert.equal(bobTooMuch.status, 413);
    assert.match(problemOf(bobTooMuch).detail as string, /over 1 KiB/);
    const aliceMore = await tcpRequest(alice, { method: 'POST', path: '/run/echo?function=cat', body: Buffer.alloc(2048, 'y') });
    assert.deepEqual([aliceMore.status, aliceMore.body.length], [200, 2048]);
    // The token's id is a monitor of this policy.
    assert.equal((await tcpRequest(secure, { method: 'GET', path: '/stats', headers: withToken(bobToken) })).status, 200);

    const wrong = await tcpRequest(secure, { method: 'GET', path: '/registry', headers: withToken(`fnj_${'A'.repeat(43)}`) });
    assert.equal(wrong.status, 401);
    assert.match(problemOf(wrong).detail as string, /not one of the policy/);
    const malformed = await tcpRequest(secure, { method: 'GET', path: '/registry', headers: { authorization: 'Basic Ym9iOmJvYg==' } });
    assert.equal(malformed.status, 401);
    const anonymous = await tcpRequest(secure, { method: 'POST', path: '/run/echo' });
    assert.equal(anonymous.status, 401);
    assert.equal(problemOf(anonymous).code, 'FNJ_UNAUTHENTICATED');
    // The public routes answer anyone, and say no more than ready or not.
    const status = await tcpRequest(secure, { method: 'GET', path: '/status' });
    assert.deepEqual([status.status, status.json()], [200, { status: 'ready' }]);
    // A certificate the CA did not issue: refused at the handshake.
    const foreign = pki.foreignClient('alice');
    await assert.rejects(tcpRequest({ ...secure, tls: { ca: secure.tls!.ca, cert: fs.readFileSync(foreign.cert), key: fs.readFileSync(foreign.key) } }, { method: 'GET', path: '/status' }));

    // Revoked: the entry leaves the policy; from the reload on, the token is refused.
    const from = b.logs.length;
    fs.writeFileSync(b.policyFile, JSON.stringify(policyB([])(b.area)));
    b.process.kill('SIGHUP');
    await waitForLog(b, (l) => typeof l.msg === 'string' && l.msg.startsWith('policy reloaded'), { from });
    const revoked = await tcpRequest(secure, { method: 'GET', path: '/registry', headers: withToken(bobToken) });
    assert.equal(revoked.status, 401);
    fs.writeFileSync(b.policyFile, JSON.stringify(policyB([bobEntry])(b.area)));
    const again = b.logs.length;
    b.process.kill('SIGHUP');
    await waitForLog(b, (l) => typeof l.msg === 'string' && l.msg.startsWith('policy reloaded'), { from: again });
  });

  it('on the API socket, knows two real users by their uid: each sees what its tenant allows', async () => {
    const asAlice = await httpRequest(a.apiSocket, { method: 'GET', path: '/registry', as: ALICE });
    assert.deepEqual(asAlice.json<{ functions: Array<{ name: string }> }>().functions.map((f) => f.name), ['private']);
    const asOther = await httpRequest(a.apiSocket, { method: 'GET', path: '/registry', as: { uid: 4612, gid: 4612 } });
    assert.ok(!asOther.json<{ functions: Array<{ name: string }> }>().functions.some((f) => f.name === 'private'));
    assert.equal((await httpRequest(a.apiSocket, { method: 'POST', path: '/run/private', as: { uid: 4612, gid: 4612 } })).status, 403);
    assert.equal((await httpRequest(a.apiSocket, { method: 'POST', path: '/run/private', as: ALICE })).status, 200);
  });

  it('serves plain HTTP only on loopback and only with --insecure', async () => {
    const area = createTestArea();
    try {
      await assert.rejects(startServer({ area, args: ['--http', '127.0.0.1:0'] }), /--http \(http\) needs --tls-cert \(tlsCert\), --tls-key \(tlsKey\) and --tls-ca \(tlsCa\)/);
      await assert.rejects(startServer({ area, args: ['--http', '0.0.0.0:0', '--insecure'] }), /loopback/);
    } finally {
      area.cleanup();
    }
  });

  it('refuses a body over the limit (413) before reading it, or at the limit, and closes the connection; keeps nothing of it', async () => {
    // Announced: refused before a byte of the body is sent.
    const announced = await rawExchange(plain, 'POST /run/basic?function=cat HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n', () => undefined, 0);
    assert.match(announced.received, /^HTTP\/1\.1 413 /);
    assert.match(announced.received, /"code":"FNJ_INPUT_TOO_LARGE"/);
    // Chunked: refused once past 64 KiB, the connection cut while the client still sends (at most 64 MiB).
    const chunk = `4000\r\n${'z'.repeat(0x4000)}\r\n`;
    const chunked = await rawExchange(plain, 'POST /run/basic?function=cat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', (i) => (i < 4096 ? chunk : undefined), 1);
    assert.match(chunked.received, /^HTTP\/1\.1 413 /);
    assert.equal(chunked.exhausted, false, 'the server closed the connection before the client was done');
    assert.deepEqual(fs.readdirSync(path.join(a.stateDir, 'spool')).filter((f) => f.startsWith('in-')), [], 'no spooled input is left');
  });

  it('cuts off a client sending its headers a byte at a time (slowloris): 408, connection closed', async () => {
    const header = 'X-Slow: ' + 'a'.repeat(400) + '\r\n';
    const slow = await rawExchange(plainC, 'GET /status HTTP/1.1\r\n', (i) => header[i], 50);
    assert.match(slow.received, /^HTTP\/1\.1 408 /);
    assert.match(slow.received, /"code":"FNJ_REQUEST_TIMEOUT"/);
    assert.equal(slow.exhausted, false, 'cut off (--http-header-timeout 1s) long before the 20 s its headers would take');
  });

  it('rejects a malformed multipart upload and takes a well-formed one (curl -F)', async () => {
    const garbage = await tcpRequest(plain, { method: 'PUT', path: '/registry/upload', body: 'garbage, no parts', headers: { 'content-type': 'multipart/form-data; boundary=XyZ' } });
    assert.equal(garbage.status, 400, garbage.body.toString());
    assert.equal(problemOf(garbage).code, 'FNJ_BUNDLE_INVALID');
    const noFile = curl(['-X', 'PUT', '-F', 'note=just a field', '-w', '\n%{http_code}', `http://127.0.0.1:${plain.port}/registry/upload`]);
    assert.match(noFile.stdout, /holds no file[\s\S]*\n400$/);
    const archive = path.join(a.area.root, 'upload.tar.gz');
    fs.writeFileSync(archive, libraryBundle('upload', 'libbasic.so', ['run']));
    const uploaded = curl(['-X', 'PUT', '-F', `bundle=@${archive}`, '-w', '\n%{http_code}', `http://127.0.0.1:${plain.port}/registry/upload`]);
    assert.match(uploaded.stdout, /"created":true[\s\S]*\n201$/);
    assert.equal(curl([`-XPOST`, `http://127.0.0.1:${plain.port}/run/upload`]).stdout, 'run\n');
  });

  it('answers 1000 concurrent calls, each with its own output', async () => {
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const call = (i: number) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const body = `call ${i}\n`;
        const request = http.request({ host: plain.host, port: plain.port, method: 'POST', path: '/run/basic?function=cat', agent, headers: { 'content-length': body.length } }, (response) => {
          let text = '';
          response.on('data', (c: Buffer) => (text += c.toString()));
          response.on('end', () => resolve({ status: response.statusCode!, body: text }));
        });
        request.on('error', reject);
        request.end(body);
      });
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => call(i)));
    agent.destroy();
    const wrong = replies.map((r, i) => ({ ...r, i })).filter((r) => r.status !== 200 || r.body !== `call ${r.i}\n`);
    assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of 1000 not answered with their own output`);
  });

  it('serves /status, /stats (monitors) and /metrics', async () => {
    const status = await tcpRequest(plain, { method: 'GET', path: '/status' });
    assert.equal(status.status, 200);
    assert.equal(status.json<{ status: string; registry: { state: string } }>().registry.state, 'ready');
    const stats = await httpRequest(a.apiSocket, { method: 'GET', path: '/stats' });
    assert.equal(stats.status, 200, 'root is a monitor');
    assert.ok(stats.json<{ executions: { total: number } }>().executions.total > 0);
    const metrics = await tcpRequest(plain, { method: 'GET', path: '/metrics' });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body.toString(), /^fnjail_executions_total\b/m);
  });

  it("the package's Client keeps its connection open over the API socket: many requests, one connection (in the server's stats), no listener left behind", async () => {
    type Clients = { clients: { connected: number; total: number } };
    const before = (await httpRequest(a.apiSocket, { method: 'GET', path: '/stats' })).json<Clients>().clients.total;
    const client = new Client({ socketPath: a.apiSocket });
    let connections = 0;
    const onSocket = () => connections++;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    diagnosticsChannel.subscribe('net.client.socket', onSocket);
    process.on('warning', onWarning);
    try {
      const first = ((await client.stats()) as Clients).clients;
      assert.equal(first.total, before + 1, 'an HTTP connection counts in the stats as a classic one does');
      // More than a socket's default listener limit (10): a listener added per request would warn.
      for (let i = 0; i < 25; i++) assert.equal((await client.status()).registry.state, 'ready');
      const last = ((await client.stats()) as Clients).clients;
      assert.equal(connections, 1, 'every request after the first went over the connection it opened');
      assert.equal(last.total, first.total);
      assert.ok(last.connected >= 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      diagnosticsChannel.unsubscribe('net.client.socket', onSocket);
      process.off('warning', onWarning);
      client.close();
    }
  });

  it('publishes /openapi.json, valid OpenAPI 3.1, listing every route the server answers', async () => {
    const reply = await tcpRequest(plain, { method: 'GET', path: '/openapi.json' });
    assert.equal(reply.status, 200);
    const document = reply.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020') as typeof import('ajv/dist/2020.js');
    // The official schema's "$dynamicRef": "#meta" resolves to its own $defs/schema when used alone;
    // ajv resolves that dynamic scope wrongly here, so it is given the plain reference it stands for.
    const text = fs.readFileSync(path.join(packageRoot, 'node_modules', '@apidevtools', 'openapi-schemas', 'schemas', 'v3.1', 'schema.json'), 'utf8');
    const schema = JSON.parse(text.replaceAll('"$dynamicRef": "#meta"', '"$ref": "#/$defs/schema"')) as object;
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(schema);
    assert.ok(validate(document), JSON.stringify(validate.errors, null, 2));
    assert.equal(document.openapi, '3.1.0');
    const operations = Object.entries(document.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    for (const expected of ['POST /run/{name}', 'POST /runLambda/{name}', 'GET /registry', 'GET /registry/{name}', 'PUT /registry/{name}', 'DELETE /registry/{name}', 'GET /status', 'GET /stats', 'GET /metrics', 'GET /openapi.json']) {
      assert.ok(operations.includes(expected), `${expected} is listed`);
    }
    // And every operation listed is one the server has (not "no route", not "wrong method").
    for (const operation of operations) {
      const [method, template] = operation.split(' ') as [string, string];
      const reply = await tcpRequest(plain, { method, path: template.replace(/\{[^}]+\}/g, 'nothing-here') });
      const code = reply.headers['content-type']?.startsWith('application/problem+json') ? problemOf(reply).code : undefined;
      assert.ok(code !== 'FNJ_NO_ROUTE' && code !== 'FNJ_METHOD_NOT_ALLOWED', `${operation}: ${reply.status} ${reply.body.toString()}`);
    }
  });

  it('is reached by the CLI with --url and a token (and FNJAIL_URL, FNJAIL_TOKEN), and by `import { Client } from \'fnjail\'`', async () => {
    const url = `https://127.0.0.1:${secure.port}`;
    // bob deploys over TCP with the CLI, his token saying who he is.
    const dir = path.join(b.area.root, 'bob-echo');
    fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
    fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), path.join(dir, 'lib', 'libbasic.so'));
    fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name: 'bobs', kind: 'library', functions: ['run', 'cat'], entry: 'lib/libbasic.so' }));
    const deployedByCli = await fnjail(['deploy', dir, '--url', url, '--token', bobToken, '--tls-ca', pki.caCert]);
    assert.equal(deployedByCli.status, 0, deployedByCli.stderr);
    assert.match(deployedByCli.stdout, /^bobs: deployed, .*owner bob\n$/);
    const called = await fnjail(['call', 'bobs', '--function', 'cat', '--input', '-'], { stdin: 'tiny', env: { FNJAIL_URL: url, FNJAIL_TOKEN: bobToken, FNJAIL_TLS_CA: pki.caCert } });
    assert.deepEqual([called.status, called.stdout, called.stderr], [0, 'tiny', '']);
    const refused = await fnjail(['functions', '--url', url, '--token', `fnj_${'B'.repeat(43)}`, '--tls-ca', pki.caCert]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /\[FNJ_UNAUTHENTICATED\]/);

    // The package's export, from a project that depends on fnjail.
    const project = path.join(b.area.root, 'project');
    fs.mkdirSync(path.join(project, 'node_modules'), { recursive: true });
    fs.symlinkSync(packageRoot, path.join(project, 'node_modules', 'fnjail'));
    fs.writeFileSync(
      path.join(project, 'main.mjs'),
      `import fs from 'node:fs';
import { Client } from 'fnjail';
const client = new Client({ url: process.argv[2], token: process.argv[3], tls: { ca: fs.readFileSync(process.argv[4]) } });
const result = await client.run('bobs', { function: 'cat', input: Buffer.from('from the library') });
const chunks = [];
for await (const c of result.output) chunks.push(c);
const names = (await client.functions()).map((f) => f.name);
client.close();
process.stdout.write(JSON.stringify({ ok: result.ok, output: Buffer.concat(chunks).toString(), names }));
`,
    );
    const run = spawnSync(process.execPath, ['main.mjs', url, bobToken, pki.caCert], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { ok: true, output: 'from the library', names: ['bobs', 'slow'] });
    assert.match(fs.readFileSync(path.join(packageRoot, 'dist', 'src', 'index.d.ts'), 'utf8'), /export \{ Client,/, 'with its type declarations');
  });
});
