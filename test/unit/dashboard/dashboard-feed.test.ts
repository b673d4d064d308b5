import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardFeed, type DashboardSources } from '../../../src/dashboard/dashboard-feed.js';
import type { Frame } from '../../../web/src/payload.js';
import { parseEvents } from '../../helpers/event-stream.js';
import { executionResult } from '../../helpers/execution-results.js';

const sources: DashboardSources = {
  nodeName: 'n1',
  version: '0.0.0-test',
  load: () => ({ running: 1, capacity: 4 }),
  registryState: () => 'off',
  functions: async () => [],
};

/** A page: what it was sent, as events. */
function page() {
  const events: Array<{ id: string; frame: Frame }> = [];
  let text = '';
  const write = (chunk: string) => {
    const parsed = parseEvents(text + chunk);
    text = parsed.rest;
    for (const event of parsed.events) events.push({ id: event.id, frame: JSON.parse(event.data) as Frame });
    return true;
  };
  return { events, write };
}

describe('dashboard feed', () => {
  it('sends a snapshot first, then ticks with the calls since the frame before', () => {
    const feed = new DashboardFeed(sources, 0);
    feed.calls.record(executionResult({ request: 'before' }));
    const p = page();
    feed.watch(undefined, p.write);
    assert.equal(p.events[0]!.frame.kind, 'snapshot');
    assert.deepEqual(p.events[0]!.frame.calls.recent.map((c) => c.request), ['before']);
    assert.deepEqual(p.events[0]!.frame.nodes, { cluster: false, list: [p.events[0]!.frame.nodes.list[0]] });
    assert.equal(p.events[0]!.frame.nodes.list[0]!.freeSlots, 3);
    assert.equal(p.events[0]!.frame.jobs, null, 'no job queue: no jobs section, not an empty one');
    feed.calls.record(executionResult({ request: 'during' }));
    feed.tick();
    feed.tick();
    assert.deepEqual(
      p.events.map((e) => [e.frame.kind, e.frame.calls.recent.map((c) => c.request)]),
      [
        ['snapshot', ['before']],
        ['tick', ['during']],
        ['tick', []],
      ],
    );
    feed.close();
  });

  it('resumes a page that reconnects with Last-Event-ID with exactly the frames it missed', () => {
    const feed = new DashboardFeed(sources, 0);
    const first = page();
    const stop = feed.watch(undefined, first.write);
    feed.tick();
    const lastSeen = first.events.at(-1)!.id;
    stop();
    feed.calls.record(executionResult({ request: 'missed-1' }));
    feed.tick();
    feed.calls.record(executionResult({ request: 'missed-2' }));
    feed.tick();
    const again = page();
    feed.watch(lastSeen, again.write);
    assert.deepEqual(
      again.events.map((e) => [e.frame.kind, e.frame.calls.recent.map((c) => c.request)]),
      [
        ['tick', ['missed-1']],
        ['tick', ['missed-2']],
      ],
    );
    const upToDate = page();
    feed.watch(again.events.at(-1)!.id, upToDate.write);
    assert.equal(upToDate.events.length, 0, 'a page that missed nothing is sent nothing until the next tick');
    feed.close();
  });

  it('sends a snapshot to a page whose last event is of another life of the server or no longer kept', () => {
    const feed = new DashboardFeed(sources, 0);
    const first = page();
    feed.watch(undefined, first.write);
    const firstId = first.events[0]!.id;
    for (let i = 0; i < 130; i++) feed.tick();
    for (const lastEventId of ['0badf00d-3', firstId, 'garbage', `${firstId.split('-')[0]}-999999`]) {
      const p = page();
      feed.watch(lastEventId, p.write);
      assert.deepEqual(
        p.events.map((e) => e.frame.kind),
        ['snapshot'],
        lastEventId,
      );
    }
    feed.close();
  });

  it('stops writing to a page that is not keeping up', () => {
    const feed = new DashboardFeed(sources, 0);
    let writes = 0;
    feed.watch(undefined, () => ++writes < 3);
    assert.equal(feed.watching, 1);
    feed.tick();
    feed.tick();
    assert.equal(feed.watching, 0);
    feed.tick();
    assert.equal(writes, 3);
    assert.equal(feed.keepingUp(1 << 20), true);
    assert.equal(feed.keepingUp((1 << 20) + 1), false);
    feed.close();
  });
});
