// The compatibility contract's framing against a real server, whatever the
// segmentation: a command split over two sends is one command with one reply;
// newline-terminated commands sent one byte per send are each one command; a
// classic message (no terminator) is one command after the quiet window, or at
// once when the client closes its side; a first line over 64 KiB is one bad
// request, not two commands.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callAs, installClient } from '../helpers/as-user.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

/** A connection that sends pieces one by one, each flushed to the kernel before the next, and collects the replies. */
async function connection(socket: string): Promise<{ send: (piece: string | Buffer) => Promise<void>; end: () => void; received: Promise<string>; data: () => string }> {
  const conn = net.connect(socket);
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', () => resolve());
    conn.once('error', reject);
  });
  let data = '';
  conn.on('data', (chunk) => (data += chunk.toString()));
  const received = new Promise<string>((resolve) => conn.on('close', () => resolve(data)));
  return {
    send: (piece) => new Promise<void>((resolve) => conn.write(piece, () => setImmediate(resolve))),
    end: () => conn.end(),
    received,
    data: () => data,
  };
}

describe('framing', () => {
  let server: TestServer;
  let lib: string;
  let data: string;
  before(async () => {
    // A long quiet window: pieces sent back to back are never taken for a classic message, however loaded the machine.
    server = await startServer({ args: ['--classic-wait', '3s'] });
    lib = path.join(server.area.libDir, 'libbasic.so');
    data = writeData(server.area, 'in.txt', 'the input\n');
  });
  after(() => server.stop());

  it('runs a command arriving in two sends as one command, with one reply', async () => {
    const c = await connection(server.socket);
    await c.send(`${lib} cat`);
    await c.send(` ${data}\n`);
    c.end();
    const replies = (await c.received).split('\n').filter(Boolean);
    assert.equal(replies.length, 1, `one reply: ${JSON.stringify(replies)}`);
    assert.equal(readOutput(replies[0]!), 'the input\n');
  });

  it('takes newline-terminated commands sent one byte per send', async () => {
    const c = await connection(server.socket);
    for (const byte of Buffer.from(`${lib} cat ${data}\n${lib}\n`)) await c.send(Buffer.from([byte]));
    c.end();
    const replies = (await c.received).split('\n').filter(Boolean);
    assert.deepEqual(replies.map(readOutput), ['the input\n', 'run\n']);
  });

  it('answers a classic message sent in pieces once the client closes its side, without waiting for the window', async () => {
    const c = await connection(server.socket);
    await c.send(`${lib} c`);
    await c.send(`at ${data}`);
    c.end();
    const reply = await c.received;
    assert.doesNotMatch(reply, /\n/, 'the classic reply has no terminator');
    assert.equal(readOutput(reply), 'the input\n');
  });

  it('answers a classic message after the quiet window, the connection still open (as the classic client waits in recv)', async () => {
    const c = await connection(server.socket);
    await c.send(`${lib} cat `);
    await c.send(data);
    while (c.data() === '') await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(readOutput(c.data()), 'the input\n');
    c.end();
    await c.received;
  });

  it('takes a first line over 64 KiB as one bad request, and the next line as the next command', async () => {
    const c = await connection(server.socket);
    await c.send(`${'/x'.repeat(40 * 1024)}\n${lib}\n`);
    c.end();
    const replies = (await c.received).split('\n').filter(Boolean);
    assert.equal(replies.length, 2, 'two lines, two replies');
    assert.match(readOutput(replies[0]!), /Reason: command is longer than 8192 bytes\n$/);
    assert.equal(readOutput(replies[1]!), 'run\n');
  });

  it('serves the unmodified classic client at once: ipc.h closes its sending side when it waits for the reply', { timeout: 120_000 }, async () => {
    const patient = await startServer({ args: ['--classic-wait', '1h'] });
    try {
      const client = installClient(patient.area);
      const input = writeData(patient.area, 'in.txt', 'the input\n');
      // With an hour's window, only the half-close can end the message.
      assert.equal(readOutput(callAs(client, patient.socket, { uid: 0, gid: 0 }, [path.join(patient.area.libDir, 'libbasic.so'), 'cat', input])), 'the input\n');
    } finally {
      await patient.stop();
    }
  });
});
