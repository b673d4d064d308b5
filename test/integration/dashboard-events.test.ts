// The dashboard's event stream (GET /dashboard/events) as any client sees it,
// over the API socket: a snapshot, then a frame a second carrying the calls
// answered meanwhile; a client that reconnects with Last-Event-ID gets the
// frames it missed (not a snapshot), so no call goes unseen; the stream and
// the page are refused (403, no data) to a user who is not a monitor.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Frame } from '../../web/src/payload.js';
import { callClassic } from '../helpers/client.js';
import { openEventStream, type StreamEvent } from '../helpers/event-stream.js';
import { httpRequest } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const MONITOR = { uid: 4611, gid: 4611 };
const TENANT = { uid: 4612, gid: 4612 };

const frameOf = (event: StreamEvent) => JSON.parse(event.data) as Frame;
const carries = (request: RegExp) => (event: StreamEvent) => frameOf(event).calls.recent.some((c) => request.test(c.target));

describe('dashboard event stream', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ policy: (area) => ({ monitors: { uids: [MONITOR.uid] }, defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 2000 } } }) });
  });
  after(() => server?.stop());

  it('sends a snapshot, then the calls as they are answered, with their outcome', async () => {
    const stream = await openEventStream(server.apiSocket, '/dashboard/events');
    try {
      assert.equal(stream.status, 200);
      const snapshot = frameOf(await stream.next(() => true));
      assert.equal(snapshot.kind, 'snapshot');
      assert.equal(snapshot.nodes.cluster, false);
      assert.equal(snapshot.functions.registry, 'off');
      await callClassic(server.socket, `${server.area.libDir}/liblifecycle.so exit_one`);
      const frame = frameOf(await stream.next(carries(/liblifecycle\.so exit_one$/)));
      assert.equal(frame.kind, 'tick');
      const call = frame.calls.recent.find((c) => c.target.endsWith('exit_one'))!;
      assert.equal(call.outcome, 'exit');
      assert.match(call.reason!, /^Reason: /);
      assert.ok(Object.values(frame.calls.totals).reduce((a, b) => a + (b ?? 0), 0) >= 1);
    } finally {
      stream.close();
    }
  });

  it('resumes from Last-Event-ID with the frames missed, so a call made while disconnected still arrives', async () => {
    const first = await openEventStream(server.apiSocket, '/dashboard/events');
    const seen = await first.next(() => true);
    first.close();
    await callClassic(server.socket, `${server.area.libDir}/liblifecycle.so run`);
    const again = await openEventStream(server.apiSocket, '/dashboard/events', { 'last-event-id': seen.id });
    try {
      const resumed = await again.next(carries(/liblifecycle\.so run$/));
      assert.ok(again.events.every((e) => frameOf(e).kind === 'tick'), 'no snapshot: the frames missed, from where the client left off');
      const [life, sequence] = seen.id.split('-');
      assert.equal(again.events[0]!.id, `${life}-${Number(sequence) + 1}`, 'the first frame is the one after the last seen');
      assert.equal(frameOf(resumed).calls.recent.find((c) => c.target.endsWith('liblifecycle.so run'))!.outcome, 'ok');
    } finally {
      again.close();
    }
  });

  it('gives a monitor the stream, and a user who is not one 403 and no data', async () => {
    for (const path of ['/dashboard/events', '/dashboard', '/dashboard/assets/main.js']) {
      const refused = await httpRequest(server.apiSocket, { method: 'GET', path, as: TENANT });
      assert.equal(refused.status, 403, path);
      assert.match(refused.headers['content-type']!, /^application\/problem\+json/);
      assert.match(refused.json<{ detail: string }>().detail, /uid 4612 .*may not see the dashboard/);
    }
    const page = await httpRequest(server.apiSocket, { method: 'GET', path: '/dashboard', as: MONITOR });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy']!, /default-src 'none'/);
    assert.match(page.body.toString(), /<title>fnjail dashboard<\/title>/);
  });
});
