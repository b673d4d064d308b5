import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberRow } from '../../../src/cluster/member-table.js';
import { HISTORY_SECONDS } from '../../../src/dashboard/call-aggregate.js';
import { ClusterNodes } from '../../../src/dashboard/cluster-nodes.js';
import type { NodeView } from '../../../web/src/payload.js';

/** A member as the table shows it; answered: its heartbeat's count of answered requests. */
function row(node: string, fields: Partial<MemberRow> & { answered?: number } = {}): MemberRow {
  const { answered, ...rest } = fields;
  return {
    node,
    state: 'up',
    incarnation: `${node}-1`,
    since: new Date(0).toISOString(),
    version: '0.0.0-test',
    coordinator: false,
    heartbeatAgeMs: 0,
    cpu: { host: 0.25, cores: 2 },
    memory: { totalBytes: 4096, availableBytes: 1024, usedBytes: 3072 },
    load: [0, 0, 0],
    calls: { running: 1, freeSlots: 3, queued: 0, capacity: 4, ...(answered !== undefined ? { answered } : {}) },
    ...rest,
  };
}

const self: NodeView = { name: 'a', state: 'up', coordinator: false, heartbeatAgeMs: 0, cpu: 0.5, memory: null, running: 0, freeSlots: 4, history: { cpu: [], callsPerSecond: [] } };

describe('the cluster on the dashboard', () => {
  it("shows each member's last heartbeat, and the page's own node with its own figures", () => {
    const nodes = new ClusterNodes();
    const rows = [row('b', { heartbeatAgeMs: 300 }), row('a', { cpu: { host: 0.9, cores: 2 }, coordinator: true })];
    nodes.sample(rows, 1000);
    const [a, b] = nodes.views(rows, self);
    assert.deepEqual({ ...a!, history: undefined }, { ...self, coordinator: true, history: undefined }, 'the serving node: its own figures, not its heartbeat; the role the table gives it');
    assert.equal(b!.coordinator, false);
    assert.equal(b!.name, 'b');
    assert.equal(b!.heartbeatAgeMs, 300);
    assert.equal(b!.cpu, 0.25);
    assert.deepEqual(b!.memory, { usedBytes: 3072, totalBytes: 4096 });
    assert.equal(b!.running, 1);
    assert.equal(b!.freeSlots, 3);
    assert.equal(b!.history.cpu.length, HISTORY_SECONDS);
    assert.equal(b!.history.cpu.at(-1), 0.25);
  });

  it('computes calls per second between two heartbeats, counts each heartbeat once, and starts over with a new incarnation', () => {
    const nodes = new ClusterNodes();
    // Heartbeats arrive at 0, 1000 and 2000 (ms, monotonic); frames read the table at 500, 1500, 1700, 2500.
    nodes.sample([row('b', { heartbeatAgeMs: 500, answered: 10 })], 500);
    nodes.sample([row('b', { heartbeatAgeMs: 500, answered: 30 })], 1500);
    nodes.sample([row('b', { heartbeatAgeMs: 700, answered: 30 })], 1700);
    nodes.sample([row('b', { heartbeatAgeMs: 500, answered: 35 })], 2500);
    const views = () => nodes.views([row('b')], self).find((v) => v.name === 'b')!;
    assert.deepEqual(views().history.callsPerSecond.slice(-4), [null, 20, 20, 5]);

    // Restarted: its count starts from zero again, which is no negative rate.
    nodes.sample([row('b', { incarnation: 'b-2', heartbeatAgeMs: 0, answered: 2 })], 3000);
    nodes.sample([row('b', { incarnation: 'b-2', heartbeatAgeMs: 0, answered: 4 })], 3500);
    assert.deepEqual(views().history.callsPerSecond.slice(-2), [null, 4]);
  });

  it('shows no figures for a down or departed node, nor for one never heard, and keeps listing them', () => {
    const nodes = new ClusterNodes();
    const rows = [row('b', { state: 'down', heartbeatAgeMs: 6000 }), row('c', { state: 'left' }), row('d', { state: 'joining', heartbeatAgeMs: null })];
    nodes.sample(rows, 10_000);
    const views = nodes.views(rows, self);
    assert.deepEqual(views.map((v) => [v.name, v.state]), [['a', 'joining'], ['b', 'down'], ['c', 'left'], ['d', 'joining']], 'the serving node, not in the table yet, is joining');
    for (const view of views.slice(1)) {
      assert.deepEqual([view.cpu, view.memory, view.running, view.freeSlots], [null, null, null, null], view.name);
      assert.equal(view.history.cpu.at(-1), null);
    }
    assert.equal(views[1]!.heartbeatAgeMs, 6000, 'how long it has been silent');
  });

  it('forgets a node that leaves the table', () => {
    const nodes = new ClusterNodes();
    nodes.sample([row('b', { cpu: { host: 0.75, cores: 1 } })], 0);
    nodes.sample([], 1000);
    nodes.sample([row('b', { heartbeatAgeMs: null, state: 'joining' })], 2000);
    assert.deepEqual(nodes.views([row('b')], self)[1]!.history.cpu.filter((v) => v !== null), [], 'no history from before');
  });
});
