// The session's framing and bounds, on a real UNIX socket with a stand-in
// executor that records the commands it gets: the segmentation the server
// sees is made exact by waiting, before each send, until the server has read
// the previous one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { ExecutionResult } from '../../src/executor/executor.js';
import { MAX_LINE_BYTES, Session, type SessionOptions } from '../../src/server/session.js';

const tenant = { uid: 1000, gid: 1000, pid: 1, groups: [] };

interface Harness {
  /** The commands the executor got, in order. */
  commands: string[];
  /** What the client received so far. */
  received: () => string;
  /** Sends bytes and waits until the server has read them (one read per send). */
  send: (bytes: string | Buffer) => Promise<void>;
  client: net.Socket;
  server: net.Socket;
  /** Resolves with what the client received once it is at least `length` characters. */
  receivedAtLeast: (length: number) => Promise<string>;
}

let dir: string;
before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-session-'))));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function harness(options: Partial<SessionOptions> & { gate?: Promise<void> } = {}): Promise<Harness> {
  const commands: string[] = [];
  const socketPath = path.join(dir, `s${++n}.sock`);
  let serverSocket!: net.Socket;
  const reads: Array<() => void> = [];
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    serverSocket = socket;
    socket.on('data', () => reads.shift()?.());
    new Session(socket, tenant, {
      execute: async (raw) => {
        commands.push(raw);
        await options.gate;
        return { outputPath: `/out/${commands.length}`, reasons: [], command: raw } as unknown as ExecutionResult;
      },
      control: () => undefined,
      admit: () => undefined,
      answered: () => undefined,
      idleTimeoutMs: 0,
      classicWaitMs: 3_600_000,
      maxPending: 16,
      logger: pino({ level: 'silent' }),
      ...options,
    });
  });
  await new Promise<void>((resolve) => listener.listen(socketPath, () => resolve()));
  const client = net.connect(socketPath);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  while (!serverSocket) await new Promise((resolve) => setImmediate(resolve));
  listener.close();
  let data = '';
  const waiters: Array<{ length: number; resolve: (text: string) => void }> = [];
  client.on('data', (chunk) => {
    data += chunk.toString();
    for (const w of waiters.filter((x) => data.length >= x.length)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(data);
    }
  });
  return {
    commands,
    received: () => data,
    client,
    server: serverSocket,
    send: (bytes) => new Promise<void>((resolve) => {
      reads.push(resolve);
      client.write(bytes);
    }),
    receivedAtLeast: (length) => new Promise((resolve) => (data.length >= length ? resolve(data) : waiters.push({ length, resolve }))),
  };
}

describe('session framing', () => {
  it('runs a command that arrives in two sends as one command, with one reply', async () => {
    const h = await harness();
    await h.send('libx.so');
    await h.send(' look\n');
    assert.equal(await h.receivedAtLeast('/out/1\n'.length), '/out/1\n');
    assert.deepEqual(h.commands, ['libx.so look']);
    h.client.destroy();
  });

  it('takes newline-terminated commands one byte per read', async () => {
    const h = await harness();
    const text = '/lib/a.so run /data/in.txt\n{"library":"/lib/b.so"}\r\n/lib/c.so\n';
    for (const byte of Buffer.from(text)) await h.send(Buffer.from([byte]));
    await h.receivedAtLeast('/out/1\n/out/2\n/out/3\n'.length);
    assert.deepEqual(h.commands, ['/lib/a.so run /data/in.txt', '{"library":"/lib/b.so"}', '/lib/c.so']);
    h.client.destroy();
  });

  it('takes an unterminated message as one classic command once nothing more came within the quiet window; the reply has no terminator', async () => {
    const h = await harness({ classicWaitMs: 200 });
    await h.send('/lib/a');
    await h.send('.so ca');
    await h.send('t /data/x');
    assert.equal(await h.receivedAtLeast('/out/1'.length), '/out/1');
    assert.deepEqual(h.commands, ['/lib/a.so cat /data/x']);
    h.client.destroy();
  });

  it('ends a classic message at once when the client closes its side, whatever the window', async () => {
    const h = await harness({ classicWaitMs: 3_600_000 });
    await h.send('/lib/a.so');
    h.client.end();
    assert.equal(await h.receivedAtLeast('/out/1'.length), '/out/1');
    assert.deepEqual(h.commands, ['/lib/a.so']);
  });

  it('takes a line over the limit, in one read or in many, as one bad request, and the next line as the next command', async () => {
    for (const pieces of [1, 7]) {
      const h = await harness();
      const long = Buffer.alloc(MAX_LINE_BYTES + 5000, 'a');
      const step = Math.ceil(long.length / pieces);
      for (let i = 0; i < long.length; i += step) await h.send(long.subarray(i, i + step));
      await h.send('\n/lib/next.so\n');
      await h.receivedAtLeast('/out/1\n/out/2\n'.length);
      assert.equal(h.commands.length, 2, 'two lines, two commands');
      assert.ok(h.commands[0]!.length > 8192 && h.commands[0]!.length <= 16 * 1024 + 1, 'enough of the long line for the parser to say it is too long');
      assert.equal(h.commands[1], '/lib/next.so');
      h.client.destroy();
    }
  });

  it('stops reading a connection that pipelines behind a slow call, and goes on when the call ends', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = await harness({ gate, maxPending: 4 });
    const lines = Buffer.from('/lib/x.so\n'.repeat(200_000)); // 2 MB
    const flushed = new Promise<void>((resolve) => h.client.write(lines, () => resolve()));
    // The server reads until its line is full, then stops: the rest stays with the client and the kernel.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(h.commands.length, 1, 'one command runs; the others wait unread');
    assert.ok(h.server.bytesRead < 2 * MAX_LINE_BYTES + 1024 * 1024, `the server read ${h.server.bytesRead} of ${lines.length} bytes`);
    release();
    await flushed;
    h.client.end();
    const replies = Array.from({ length: 200_000 }, (_, i) => `/out/${i + 1}\n`).join('');
    assert.equal(await h.receivedAtLeast(replies.length), replies, 'every command answered, in order');
    assert.equal(h.commands.length, 200_000);
  });
});
