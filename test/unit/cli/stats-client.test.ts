// The `stats` session from the client's side, against a fake server on a real
// UNIX socket: replies split across chunks or packed into one, the server's
// refusal, no server at all, and the compiled CLI (`stats`, `top`) end to end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StatsConnection, StatsRefused } from '../../../src/cli/stats-client.js';
import { FnjailError } from '../../../src/errors.js';
import { OUTCOMES, type StatsSnapshot } from '../../../src/metrics/stats.js';
import { cliMain } from '../../helpers/environment.js';

function snapshot(uptimeSeconds: number): StatsSnapshot {
  const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as StatsSnapshot['executions']['byOutcome'];
  byOutcome.ok = 9;
  byOutcome.exit = 1;
  return {
    time: '2024-05-01T12:00:00.000Z',
    startedAt: '2024-05-01T11:00:00.000Z',
    uptimeSeconds,
    clients: { connected: 1, total: 4, refused: 0 },
    executions: { total: 10, running: 1, queued: 0, byOutcome },
    tenants: [{ tenant: 'alice', running: 1, queued: 0, total: 10, byOutcome: { ok: 9, exit: 1 } }],
    latencyMs: { window: 10, p50: 2, p90: 3, p99: 4, max: 5 },
    libraries: [{ library: '/srv/lib/libslow.so', running: 1, calls: 10 }],
    running: [{ request: 'beef-1', tenant: 'alice', uid: 4501, library: '/srv/lib/libslow.so', function: 'sleep_long', startedAt: 0, elapsedMs: 1500 }],
    memory: { serverRssBytes: 40 * 1024 * 1024, launcherRssBytes: 2 * 1024 * 1024 },
    policy: { hash: 'feedfacefeedfacefeedface', reloads: 0, rejected: 0 },
    launcher: { pid: 99, restarts: 0 },
  };
}

/** How the fake server answers the n-th `stats` line of a connection (n from 1). */
type Answer = (socket: net.Socket, n: number) => void;

interface FakeServer {
  path: string;
  /** Lines received, per connection, in order. */
  connections: string[][];
  close(): Promise<void>;
}

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-stats-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let servers = 0;
async function fakeServer(answer: Answer): Promise<FakeServer> {
  const socketPath = path.join(dir, `s${++servers}.sock`);
  const connections: string[][] = [];
  const server = net.createServer((socket) => {
    const lines: string[] = [];
    connections.push(lines);
    let buffered = '';
    let requests = 0;
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        if (line === 'quit') socket.end();
        else if (line === 'stats') answer(socket, ++requests);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    path: socketPath,
    connections,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // connections left open by a test must not keep the server up
        (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

const line = (s: StatsSnapshot) => `${JSON.stringify(s)}\n`;

describe('StatsConnection', () => {
  it('asks again on the same connection; a reply split across chunks is put back together', async () => {
    const server = await fakeServer((socket, n) => {
      const text = line(snapshot(n));
      socket.write(text.slice(0, 7));
      setTimeout(() => socket.write(text.slice(7, 50)), 10);
      setTimeout(() => socket.write(text.slice(50)), 20);
    });
    try {
      const connection = new StatsConnection(server.path);
      assert.equal((await connection.next()).uptimeSeconds, 1);
      assert.equal((await connection.next()).uptimeSeconds, 2);
      await connection.close();
      assert.deepEqual(server.connections, [['stats', 'stats', 'quit']]);
    } finally {
      await server.close();
    }
  });

  it('takes two replies that arrive in one chunk, in order', async () => {
    // Nothing for the first request; both replies with the second, in one write.
    const server = await fakeServer((socket, n) => {
      if (n === 2) socket.write(line(snapshot(1)) + line(snapshot(2)));
    });
    try {
      const connection = new StatsConnection(server.path);
      const [first, second] = await Promise.all([connection.next(), connection.next()]);
      assert.deepEqual([first.uptimeSeconds, second.uptimeSeconds], [1, 2]);
      await connection.close();
    } finally {
      await server.close();
    }
  });

  it("rejects with the server's message when it refuses", async () => {
    const server = await fakeServer((socket) => socket.write('{"error":"stats: not allowed"}\n'));
    try {
      const connection = new StatsConnection(server.path);
      await assert.rejects(connection.next(), (error: unknown) => error instanceof StatsRefused && error.message === 'stats: not allowed');
      await connection.close();
    } finally {
      await server.close();
    }
  });

  it('rejects a reply that is not a snapshot', async () => {
    const server = await fakeServer((socket) => socket.write('Error: stats could not be executed.\n'));
    try {
      const connection = new StatsConnection(server.path);
      await assert.rejects(connection.next(), /unexpected reply to 'stats'/);
      await connection.close();
    } finally {
      await server.close();
    }
  });

  it('fails with FNJ_CONNECT_FAILED when no server listens', async () => {
    const connection = new StatsConnection(path.join(dir, 'nobody.sock'));
    await assert.rejects(connection.next(), (error: unknown) => {
      assert.ok(error instanceof FnjailError);
      assert.equal(error.code, 'FNJ_CONNECT_FAILED');
      assert.match(error.message, /^cannot connect to the fnjail server at .*nobody\.sock: /);
      assert.match(error.hint ?? '', /is the server running\?/);
      return true;
    });
    await assert.rejects(connection.next(), { code: 'FNJ_CONNECT_FAILED' });
    await connection.close();
  });

  it('gives up after the timeout when the server does not answer', async () => {
    const server = await fakeServer(() => {});
    try {
      const connection = new StatsConnection(server.path, 150);
      const started = Date.now();
      await assert.rejects(connection.next(), (error: unknown) => error instanceof FnjailError && /did not answer 'stats' within 0\.15 s/.test(error.message));
      assert.ok(Date.now() - started >= 140);
      await connection.close();
    } finally {
      await server.close();
    }
  });

  it('fails with FNJ_NO_REPLY when the server hangs up', async () => {
    const server = await fakeServer((socket) => socket.end());
    try {
      const connection = new StatsConnection(server.path);
      await assert.rejects(connection.next(), { code: 'FNJ_NO_REPLY' });
      await connection.close();
    } finally {
      await server.close();
    }
  });
});

/** Runs the compiled CLI without blocking this process (the fake server lives here). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliMain, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('fnjail stats and top against a fake server', () => {
  let server: FakeServer;
  before(async () => {
    server = await fakeServer((socket, n) => socket.write(line(snapshot(n))));
  });
  after(() => server.close());

  it('top --once prints one plain frame', async () => {
    const { code, stdout, stderr } = await cli(['top', '--once', '--socket', server.path]);
    assert.equal(stderr, '');
    assert.equal(code, 0);
    assert.ok(!stdout.includes('\x1b'));
    const lines = stdout.split('\n');
    assert.equal(lines[0], 'fnjail top - 12:00:00 up 1s, 1 client');
    assert.ok(lines.includes('executions: 1 running, 0 queued, 10 total (9 ok, 1 failed)'));
    assert.ok(lines.includes('beef-1   alice   4501     1.5s  sleep_long  /srv/lib/libslow.so'), stdout);
  });

  it('top --iterations 2 prints two frames over one connection, separated by a blank line', async () => {
    const before = server.connections.length;
    const { code, stdout } = await cli(['top', '--iterations', '2', '--interval', '0.1', '--socket', server.path]);
    assert.equal(code, 0);
    const frames = stdout.split('\n\nfnjail top - ');
    assert.equal(frames.length, 2);
    assert.match(frames[0]!, /up 1s/);
    assert.match(frames[1]!, /up 2s/);
    assert.deepEqual(server.connections.slice(before), [['stats', 'stats', 'quit']]);
  });

  it('stats --json prints the reply, pretty', async () => {
    const { code, stdout } = await cli(['stats', '--json', '--socket', server.path]);
    assert.equal(code, 0);
    assert.equal(stdout, `${JSON.stringify(snapshot(1), null, 2)}\n`);
  });

  it('stats prints the summary', async () => {
    const { code, stdout } = await cli(['stats', '--socket', server.path]);
    assert.equal(code, 0);
    assert.match(stdout, /^uptime {6}1s \(since 2024-05-01T11:00:00\.000Z\)$/m);
    assert.match(stdout, /^ {2}exit {2}1$/m);
  });

  it('stats exits 1 with the server\'s message when it refuses', async () => {
    const refusing = await fakeServer((socket) => socket.write('{"error":"stats: not allowed"}\n'));
    try {
      const { code, stdout, stderr } = await cli(['stats', '--socket', refusing.path]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, /^fnjail: stats: not allowed$/m);
    } finally {
      await refusing.close();
    }
  });

  it('stats without a server exits 3 with FNJ_CONNECT_FAILED', async () => {
    const { code, stderr } = await cli(['stats', '--socket', path.join(dir, 'nobody.sock')]);
    assert.equal(code, 3);
    assert.match(stderr, /\[FNJ_CONNECT_FAILED\]/);
  });

  it('rejects a bad --interval as a usage error', async () => {
    const { code, stderr } = await cli(['top', '--interval', '0.01', '--socket', server.path]);
    assert.equal(code, 2);
    assert.match(stderr, /--interval must be a number of seconds from 0\.1/);
  });
});
