// The member table's rules (src/cluster/member-table.ts) on a clock of the
// test's own, at the default timings: when a node is suspect and down, never
// earlier; what a rejoin, a clean leave, a restart and a takeover do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyChanges, checkTimings, DEFAULT_TIMINGS, evaluate, memberRows, type HeardNode, type MemberEntry } from '../../../src/cluster/member-table.js';
import type { HeartbeatMessage, MemberChange } from '../../../src/cluster/wire.js';

const T = DEFAULT_TIMINGS;
const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';

function heartbeat(node: string, incarnation: string, ready = true): HeartbeatMessage {
  return {
    type: 'heartbeat', node, incarnation, startedAt: incarnation === A ? 1000 : 2000, seq: 1, sentAt: 0, version: '1.0', ready,
    cpu: { host: 0.1, cores: 2 }, memory: { totalBytes: 100, availableBytes: 60, usedBytes: 40 }, load: [0, 0, 0], calls: { running: 0, freeSlots: 4, queued: 0, capacity: 4 },
  };
}

function heard(node: string, incarnation: string, lastMono: number, extra: Partial<HeardNode> = {}): [string, HeardNode] {
  const hb = heartbeat(node, incarnation, extra.heartbeat?.ready ?? true);
  return [node, { incarnation, startedAt: hb.startedAt, lastMono, heartbeat: hb, ...extra }];
}

function entry(node: string, incarnation: string, state: MemberEntry['state']): [string, MemberEntry] {
  return [node, { node, incarnation, startedAt: incarnation === A ? 1000 : 2000, state, since: 0, version: '1.0', coordinator: 'x', term: 1 }];
}

const at = (nowMono: number, table: Array<[string, MemberEntry]>, h: Array<[string, HeardNode]>, sinceMono = 0) =>
  evaluate({ table: new Map(table), heard: new Map(h), nowMono, nowWall: 1_000_000 + nowMono, sinceMono, timings: T });
const steps = (changes: MemberChange[]) => changes.map((c) => [c.node, c.incarnation === A ? 'A' : 'B', c.from, c.to]);

describe('the member table', () => {
  it('a first heartbeat: joining, and up at once when the node is ready; joining only while it is not', () => {
    assert.deepEqual(steps(at(100, [], [heard('n1', A, 100)])), [['n1', 'A', null, 'joining'], ['n1', 'A', 'joining', 'up']]);
    const notReady = heard('n1', A, 100, { heartbeat: heartbeat('n1', A, false) });
    assert.deepEqual(steps(at(100, [], [notReady])), [['n1', 'A', null, 'joining']]);
    assert.deepEqual(steps(at(200, [entry('n1', A, 'joining')], [heard('n1', A, 150)])), [['n1', 'A', 'joining', 'up']]);
  });

  it('silence: suspect at 3 s, not a moment before; down at 5 s, not before', () => {
    const table = [entry('n1', A, 'up')];
    assert.deepEqual(at(T.suspectAfterMs - 1, table, [heard('n1', A, 0)]), []);
    const suspect = at(T.suspectAfterMs, table, [heard('n1', A, 0)]);
    assert.deepEqual(steps(suspect), [['n1', 'A', 'up', 'suspect']]);
    assert.equal(suspect[0]!.silentMs, 3000);
    assert.deepEqual(at(T.downAfterMs - 1, [entry('n1', A, 'suspect')], [heard('n1', A, 0)]), []);
    const down = at(T.downAfterMs, [entry('n1', A, 'suspect')], [heard('n1', A, 0)]);
    assert.deepEqual(steps(down), [['n1', 'A', 'suspect', 'down']]);
    assert.equal(down[0]!.silentMs, 5000);
    // A coordinator that looks late sees both steps, in order.
    assert.deepEqual(steps(at(9000, table, [heard('n1', A, 0)])), [['n1', 'A', 'up', 'suspect'], ['n1', 'A', 'suspect', 'down']]);
  });

  it('heard again: a suspect node is up again; a down one rejoins through joining', () => {
    assert.deepEqual(steps(at(4000, [entry('n1', A, 'suspect')], [heard('n1', A, 3900)])), [['n1', 'A', 'suspect', 'up']]);
    assert.deepEqual(steps(at(9000, [entry('n1', A, 'down')], [heard('n1', A, 8900)])), [['n1', 'A', 'down', 'joining'], ['n1', 'A', 'joining', 'up']]);
    assert.deepEqual(at(9000, [entry('n1', A, 'down')], [heard('n1', A, 1000)]), [], 'still silent: stays down');
  });

  it('a leave: left, from any state, and nothing after', () => {
    assert.deepEqual(steps(at(100, [entry('n1', A, 'up')], [heard('n1', A, 50, { leftIncarnation: A })])), [['n1', 'A', 'up', 'left']]);
    assert.deepEqual(steps(at(100, [entry('n1', A, 'suspect')], [heard('n1', A, 50, { leftIncarnation: A })])), [['n1', 'A', 'suspect', 'left']]);
    assert.deepEqual(at(60_000, [entry('n1', A, 'left')], [heard('n1', A, 50, { leftIncarnation: A })]), []);
  });

  it('a new incarnation: the old one down ("restarted") if it was not already, the new one joins', () => {
    const restarted = at(500, [entry('n1', A, 'up')], [heard('n1', B, 400)]);
    assert.deepEqual(steps(restarted), [['n1', 'A', 'up', 'down'], ['n1', 'B', null, 'joining'], ['n1', 'B', 'joining', 'up']]);
    assert.match(restarted[0]!.reason, /restarted/);
    assert.equal(restarted[1]!.reason, 'rejoined with a new incarnation');
    assert.deepEqual(steps(at(500, [entry('n1', A, 'down')], [heard('n1', B, 400)])), [['n1', 'B', null, 'joining'], ['n1', 'B', 'joining', 'up']]);
  });

  it('an older incarnation than the table\'s, still heard, is not believed', () => {
    // B started later than A: the table has B; a late heartbeat of A changes nothing.
    assert.deepEqual(at(500, [entry('n1', B, 'up')], [heard('n1', A, 400)]), []);
  });

  it('a new coordinator counts members it has not heard yet as heard at its takeover', () => {
    const table = [entry('n1', A, 'up')];
    assert.deepEqual(at(10_000 + T.suspectAfterMs - 1, table, [], 10_000), [], 'no one marked by the takeover itself');
    assert.deepEqual(steps(at(10_000 + T.suspectAfterMs, table, [], 10_000)), [['n1', 'A', 'up', 'suspect']]);
  });

  it('applies changes as entries, and shows rows with the heartbeat of the same incarnation only', () => {
    const h = new Map([heard('n1', B, 400)]);
    const table = new Map([entry('n1', A, 'up')]);
    const changes = at(500, [...table], [...h]);
    const entries = applyChanges(table, h, changes, { coordinator: 'boss', term: 7 });
    assert.deepEqual(entries.get('n1'), { node: 'n1', incarnation: B, startedAt: 2000, state: 'up', since: 1_000_500, version: '1.0', coordinator: 'boss', term: 7 });
    const rows = memberRows(entries, h, 'n1', 1000);
    assert.equal(rows[0]!.heartbeatAgeMs, 600);
    assert.equal(rows[0]!.coordinator, true);
    assert.deepEqual(rows[0]!.calls, { running: 0, freeSlots: 4, queued: 0, capacity: 4 });
    const stale = memberRows(new Map([entry('n1', A, 'down')]), h, undefined, 1000);
    assert.equal(stale[0]!.heartbeatAgeMs, null);
    assert.equal(stale[0]!.cpu, null);
  });

  it('refuses timings that would mark nodes suspect between two heartbeats', () => {
    assert.equal(checkTimings(DEFAULT_TIMINGS), DEFAULT_TIMINGS);
    assert.throws(() => checkTimings({ ...T, suspectAfterMs: 1500 }), /suspect-after must be at least two heartbeat intervals/);
    assert.throws(() => checkTimings({ ...T, downAfterMs: 3000 }), /down-after must be longer than suspect-after/);
    assert.throws(() => checkTimings({ ...T, leaseMs: 1000 }), /lease must be at least two heartbeat intervals/);
  });
});
