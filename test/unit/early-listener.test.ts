// The socket fnjail serve binds first thing (src/server/early-listener.ts):
// connections that arrive before the server is ready are held and handed over
// in order, and no more than --max-clients of them: the server cannot count
// them yet, so the rest are closed rather than held without a bound.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EarlyListener } from '../../src/server/early-listener.js';
import { createTestArea, requireRoot, type TestArea } from '../helpers/environment.js';

let area: TestArea;
before(() => {
  requireRoot();
  area = createTestArea();
});
after(() => area.cleanup());

/** A client connected to the socket, with a promise of its closing. */
async function client(socket: string): Promise<{ conn: net.Socket; closed: Promise<void>; isClosed: () => boolean }> {
  const conn = net.connect(socket);
  let done = false;
  const closed = new Promise<void>((resolve) => conn.once('close', () => ((done = true), resolve())));
  conn.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  return { conn, closed, isClosed: () => done };
}

describe('the early listener', () => {
  it('holds at most maxHeld connections, closes the rest, and hands the held ones over in order', async () => {
    const socket = path.join(area.root, 'early.sock');
    const early = await EarlyListener.listen({ path: socket, mode: 0o666, owner: 0, group: 0, maxHeld: 2 });
    const clients = [];
    let seen = 0;
    early.server.on('connection', () => seen++); // after the listener's own handler
    try {
      for (let i = 0; i < 4; i++) clients.push(await client(socket));
      while (seen < 4) await new Promise((resolve) => setImmediate(resolve));
      const accepted: net.Socket[] = [];
      early.handOver((s) => accepted.push(s));
      assert.equal(accepted.length, 2, 'two held, handed over');
      await Promise.all([clients[2]!.closed, clients[3]!.closed]);
      assert.deepEqual(clients.map((c) => c.isClosed()), [false, false, true, true], 'the first two were held, the others closed');
      // Handed over in order: what the first client sends arrives on the first socket.
      const first = new Promise<string>((resolve) => accepted[0]!.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      clients[0]!.conn.write('first');
      assert.equal(await first, 'first');
      // After the hand-over, the server decides (server.ts admit): nothing is closed here.
      const late = await client(socket);
      while (accepted.length < 3) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(late.isClosed(), false);
      clients.push(late);
    } finally {
      for (const c of clients) c.conn.destroy();
      early.abandon();
    }
  });
});
