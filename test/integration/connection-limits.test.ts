// What one client can make the server hold or create, against a real server:
// connections beyond --max-clients are closed, TCP connections that never
// complete TLS count and are timed out, a connection pipelining behind a slow
// call is not read (the server's memory stays flat), refused requests of a
// connection and of a peer are bounded (output files and audit records), and
// refused handshakes are audited with the address and what went wrong,
// aggregated.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { callClassic, callSession } from '../helpers/client.js';
import { createTestArea } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, waitForLogs, type TestServer } from '../helpers/server.js';
import { makeTestPki } from '../helpers/tls.js';

const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssBytes = (pid: number) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const outputFiles = (server: TestServer) => fs.readdirSync(server.area.outputDir).length;

/** Waits for a condition the server reaches on its own (it is checked again and again, up to 20 s). */
async function until(condition: () => boolean | Promise<boolean>, what: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`not reached: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A connection that is kept open, with a promise of its close. */
function hold(connect: () => net.Socket): Promise<{ conn: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const conn = connect();
    const closed = new Promise<void>((done) => conn.on('close', () => done()));
    conn.on('error', () => undefined);
    conn.resume(); // read (and drop) what comes, so that the server closing it is seen
    conn.once('connect', () => resolve({ conn, closed }));
    conn.once('error', reject);
  });
}

describe('connections', () => {
  it('beyond --max-clients are answered and closed, even when they never send or read; the server holds no more descriptors', async () => {
    const server = await startServer({ args: ['--max-clients', '4'] });
    try {
      const pid = server.process.pid!;
      const held = await Promise.all(Array.from({ length: 4 }, () => hold(() => net.connect(server.socket))));
      const fdsWithClients = openFds(pid);
      const refused = await Promise.all(Array.from({ length: 400 }, () => hold(() => net.connect(server.socket))));
      await Promise.all(refused.map((r) => r.closed)); // the server closes every one of them
      await until(() => openFds(pid) <= fdsWithClients + 8, () => `${openFds(pid)} descriptors open, ${fdsWithClients} with the 4 clients`);
      const records = server.logs.filter((l) => l.event === 'connection-refused');
      assert.ok(records.length >= 1 && records.length < 10, `${records.length} records for 400 refusals: aggregated`);
      assert.equal(records[0]!.count, 1);
      for (const { conn } of held) conn.destroy();
    } finally {
      await server.stop();
    }
  });

  it('over TCP count from their first byte: one that never completes its TLS handshake is closed, and audited with its address and why', async () => {
    const area = createTestArea();
    const pki = makeTestPki(path.join(area.root, 'pki'));
    const server = await startServer({
      area,
      args: ['--max-clients', '3', '--idle-timeout', '500ms', '--listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert],
    });
    try {
      const start = await waitForLog(server, (l) => l.event === 'server-start');
      const [host, port] = String((start.listen as string[])[0]).split(':');
      const tcp = () => net.connect({ host: host!, port: Number(port) });
      // Three silent TCP connections take every client slot: a UNIX client is refused meanwhile.
      const silent = await Promise.all(Array.from({ length: 3 }, () => hold(tcp)));
      // A fourth is closed at once: the server accepts in order, so the three hold their slots now.
      await (await hold(tcp)).closed;
      const busy = await callClassic(server.socket, path.join(area.libDir, 'libbasic.so'));
      assert.equal(busy, 'Error: the server is busy: 3 clients are connected (its limit); try again later\n');
      // ... until their handshake times out and the server closes them.
      await Promise.all(silent.map((s) => s.closed));
      const [timeout] = await waitForLogs(server, (l) => l.event === 'connection-refused' && l.error === 'ERR_TLS_HANDSHAKE_TIMEOUT');
      assert.match(String(timeout!.reason), /^no TLS handshake within 500 ms$/);
      assert.match(String((timeout!.peer as { remote: { address: string } }).remote.address), /^127\.0\.0\.1:\d+$/);
      assert.equal(readOutput(await callClassic(server.socket, path.join(area.libDir, 'libbasic.so'))), 'run\n', 'served again');

      // Plain text to the TLS port: its real reason, and its address.
      const plain = await hold(tcp);
      plain.conn.end('GET / HTTP/1.0\r\n\r\n');
      await plain.closed;
      const [http] = await waitForLogs(server, (l) => l.event === 'connection-refused' && l.error === 'ERR_SSL_HTTP_REQUEST');
      assert.match(String(http!.reason), /^not a TLS client: it sent plain text/);
      assert.match(String((http!.peer as { remote: { address: string } }).remote.address), /^127\.0\.0\.1:\d+$/);
      assert.doesNotMatch(JSON.stringify(server.logs), /undefined:undefined/);
    } finally {
      await server.stop();
    }
  });

  it('pipelining hundreds of megabytes behind a slow call: the server stops reading, its memory stays flat, and the garbage behind makes a bounded number of files', async () => {
    const server = await startServer({ timeoutMs: 1500 });
    try {
      const pid = server.process.pid!;
      const before = rssBytes(pid);
      const { conn, closed } = await hold(() => net.connect(server.socket));
      conn.write(`${path.join(server.area.libDir, 'liblifecycle.so')} sleep_long\n`);
      const chunk = Buffer.from('x\n'.repeat(512 * 1024)); // 1 MiB of bad requests
      let offered = 0;
      // Offer 300 MiB, as fast as the connection takes them: with backpressure it takes little.
      for (let i = 0; i < 300 && !conn.destroyed; i++) {
        offered += chunk.length;
        if (!conn.write(chunk)) await new Promise<void>((resolve) => { conn.once('drain', resolve); conn.once('close', resolve); });
      }
      await closed; // closed by the server once the connection's refused requests reached their bound
      const grown = rssBytes(pid) - before;
      assert.ok(grown < 64 * 1024 * 1024, `the server grew by ${Math.round(grown / 1048576)} MiB`);
      assert.ok(offered < 300 * chunk.length, 'the server closed the connection before taking it all');
      assert.ok(outputFiles(server) <= 66, `${outputFiles(server)} output files`);
      const [record] = await waitForLogs(server, (l) => l.event === 'requests-refused' && l.scope === 'connection');
      assert.match(String(record!.reason), /^64 requests of this connection were refused: it is closed$/);
    } finally {
      await server.stop();
    }
  });

  it('a session of garbage lines gets its answers, then a last line, and is closed: a bounded number of files', async () => {
    const server = await startServer();
    try {
      const replies = await callSession(server.socket, Array.from({ length: 5000 }, (_, i) => `garbage ${i} a b c`));
      assert.equal(replies.length, 65);
      assert.equal(replies.at(-1), 'Error: 64 requests of this connection were refused: it is closed');
      assert.match(readOutput(replies[0]!), /Reason: too many words/);
      assert.equal(outputFiles(server), 64);
    } finally {
      await server.stop();
    }
  });

  it("a peer's requests for a missing library, 600 at once as two classic checker bursts make, each get their Error file (the default budget)", async () => {
    const server = await startServer();
    try {
      const missing = path.join(server.area.libDir, 'libmissing.so');
      // 20 connections of 30, all at once: refused faster than any budget refills.
      const sessions = await Promise.all(Array.from({ length: 20 }, () => callSession(server.socket, Array.from({ length: 30 }, () => missing))));
      const answers = sessions.flat();
      assert.equal(answers.length, 600);
      for (const answer of answers) assert.match(readOutput(answer), new RegExp(`^Error: ${missing} could not be executed\\.\nReason: library ${missing} does not exist`));
      assert.equal(outputFiles(server), 600);
    } finally {
      await server.stop();
    }
  });

  it('a peer refused again and again over many connections is answered without files once its budget is spent, each such connection closed, audited in aggregate', async () => {
    const server = await startServer({ args: ['--refused-burst', '200', '--refused-per-second', '16'] });
    try {
      const started = Date.now();
      const sessions: string[][] = [];
      for (let i = 0; i < 20; i++) sessions.push(await callSession(server.socket, Array.from({ length: 30 }, () => 'a b c d')));
      const files = outputFiles(server);
      const refill = Math.ceil(((Date.now() - started) / 1000) * 16);
      // 200 in the budget, plus what it refilled (16 a second) while the test ran.
      assert.ok(files >= 200 && files <= 200 + refill, `${files} output files for ${sessions.length * 30} refused requests`);
      const refusal = /^Error: too many requests from uid 0 \(gid 0.*\) were refused \(more than 200, 16 a second\)/;
      const throttled = sessions.filter((answers) => answers.some((a) => refusal.test(a)));
      assert.ok(throttled.length > 0, 'the budget ran out');
      for (const answers of throttled) {
        assert.equal(answers.filter((a) => refusal.test(a)).length, 1);
        assert.match(answers.at(-1)!, refusal, 'the in-band refusal is the last answer: the connection is closed');
      }
      const records = server.logs.filter((l) => l.event === 'requests-refused' && l.scope === 'peer');
      assert.ok(records.length >= 1 && records.length <= 3, `${records.length} records`);
      assert.equal((records[0]!.peer as { uid: number }).uid, 0);
      const stats = JSON.parse((await callSession(server.socket, ['stats']))[0]!) as { clients: { throttledRequests: number } };
      assert.ok(stats.clients.throttledRequests >= throttled.length);
    } finally {
      await server.stop();
    }
  });
});
