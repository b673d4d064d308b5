// A job's record and its transitions (src/jobs/job-record.ts), as pure
// functions: the ticket follows its replicas (WAITING, RUNNING, COMPLETED,
// INVALID as soon as one is invalid, the others then stopped), a replica
// taken again after its node was lost runs again or ends INVALID "node
// lost" past its attempts, a result of a run that is no longer the current
// one is not kept, a requeue by a failing node, a cancel; every transition
// with its time, in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cancelJob, finishReplica, newJob, requeueReplica, startReplica, ticketState, type JobRecord } from '../../../src/jobs/job-record.js';

const A = { name: 'a', incarnation: 'a1' };
const B = { name: 'b', incarnation: 'b1' };
const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function job(replicas: number): JobRecord {
  return newJob(
    { ticket: 'f'.repeat(32), owner: 'u1000', tenant: 'alice', peer: { uid: 1000, gid: 1000, pid: 1, groups: [] }, submittedBy: 'uid 1000', node: 'a', target: { kind: 'function', name: 'basic', owner: 'alice' }, queued: true },
    replicas,
    t(0),
  );
}

const states = (record: JobRecord) => [record.state, ...record.replicas.map((r) => r.state)];

describe('job records', () => {
  it('a ticket is RUNNING while a replica runs and COMPLETED when all completed, with each transition timed', () => {
    const record = job(2);
    assert.deepEqual(states(record), ['WAITING', 'WAITING', 'WAITING']);
    const first = startReplica(record, 1, A, 2, t(1));
    assert.equal(first.kind, 'start');
    assert.deepEqual(states(record), ['RUNNING', 'RUNNING', 'WAITING']);
    startReplica(record, 2, B, 2, t(2));
    const done1 = finishReplica(record, 1, A, 1, { outcome: 'ok', reasons: [], output: { object: 'o1', bytes: 3 } }, t(3));
    assert.equal(done1.kind, 'recorded');
    assert.deepEqual(states(record), ['RUNNING', 'COMPLETED', 'RUNNING']);
    const done2 = finishReplica(record, 2, B, 1, { outcome: 'ok', reasons: [] }, t(5));
    assert.equal(done2.kind, 'recorded');
    assert.deepEqual(states(record), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.equal(record.endedAt, t(5).toISOString());
    assert.deepEqual(
      record.history.map((h) => [h.state, h.at]),
      [['WAITING', t(0).toISOString()], ['RUNNING', t(1).toISOString()], ['COMPLETED', t(5).toISOString()]],
    );
    assert.deepEqual(record.replicas[1]!.history.map((h) => [h.state, h.node]), [['WAITING', undefined], ['RUNNING', 'b'], ['COMPLETED', 'b']]);
    assert.deepEqual(record.replicas[0]!.output, { object: 'o1', bytes: 3 });
    // The changes name the wait and the run (the statistics' source).
    const ticketEnd = done2.kind === 'recorded' ? done2.changes.find((c) => c.replica === undefined) : undefined;
    assert.deepEqual([ticketEnd?.from, ticketEnd?.to, ticketEnd?.afterMs], ['RUNNING', 'COMPLETED', 4000]);
  });

  it('one invalid replica makes the ticket INVALID at once and stops the others, with its reason', () => {
    const record = job(3);
    startReplica(record, 1, A, 2, t(1));
    startReplica(record, 2, B, 2, t(1));
    const verdict = finishReplica(record, 1, A, 1, { outcome: 'signal', reasons: ['killed by signal 11 (SIGSEGV)'] }, t(2));
    assert.equal(verdict.kind, 'recorded');
    assert.deepEqual(states(record), ['INVALID', 'INVALID', 'INVALID', 'INVALID']);
    assert.deepEqual(record.replicas.map((r) => r.outcome), ['signal', 'stopped', 'stopped']);
    assert.match(record.replicas[1]!.reasons[0]!, /^stopped: replica 1 of the job is invalid \(signal\)$/);
    const ticketChange = verdict.kind === 'recorded' ? verdict.changes.at(-1) : undefined;
    assert.deepEqual([ticketChange?.replica, ticketChange?.to, ticketChange?.outcome], [undefined, 'INVALID', 'signal']);
    assert.deepEqual(ticketChange?.reasons, ['replica 1: killed by signal 11 (SIGSEGV)']);
    // Replica 2 ends later on its node: the record keeps "stopped", its output is attached.
    const late = finishReplica(record, 2, B, 1, { outcome: 'ok', reasons: [], output: { object: 'o2', bytes: 1 } }, t(3));
    assert.deepEqual(late, { kind: 'ended', attached: true });
    assert.equal(record.replicas[1]!.outcome, 'stopped');
    // Replica 3 never started: a node that takes its work item drops it.
    assert.deepEqual(startReplica(record, 3, A, 2, t(4)), { kind: 'ended' });
  });

  it('a replica taken again while RUNNING (its node lost) runs once more, then is INVALID "node lost"', () => {
    const record = job(1);
    startReplica(record, 1, A, 2, t(1));
    const again = startReplica(record, 1, B, 2, t(40));
    assert.equal(again.kind, 'start');
    assert.equal(again.kind === 'start' && again.attempt, 2);
    assert.match(record.replicas[0]!.history.at(-1)!.note!, /^redelivered: node a was lost while running attempt 1$/);
    // The lost node's late result is not the one kept.
    assert.deepEqual(finishReplica(record, 1, A, 1, { outcome: 'ok', reasons: [] }, t(41)), { kind: 'stale' });
    const lost = startReplica(record, 1, A, 2, t(80));
    assert.equal(lost.kind, 'lost');
    assert.deepEqual(states(record), ['INVALID', 'INVALID']);
    assert.equal(record.replicas[0]!.outcome, 'node-lost');
    assert.match(record.replicas[0]!.reasons[0]!, /^node lost: node b was lost while running attempt 2; not run again: 2 attempts at most \(at-least-once delivery\)$/);
  });

  it('the same node after a restart (a new incarnation) is another run: its old result is stale', () => {
    const record = job(1);
    startReplica(record, 1, A, 3, t(1));
    startReplica(record, 1, { name: 'a', incarnation: 'a2' }, 3, t(2));
    assert.deepEqual(finishReplica(record, 1, A, 1, { outcome: 'ok', reasons: [] }, t(3)), { kind: 'stale' });
    assert.equal(finishReplica(record, 1, { name: 'a', incarnation: 'a2' }, 2, { outcome: 'ok', reasons: [] }, t(3)).kind, 'recorded');
    assert.equal(record.state, 'COMPLETED');
  });

  it('a run its node gives back waits again, and is INVALID past its attempts', () => {
    const record = job(1);
    startReplica(record, 1, A, 2, t(1));
    const back = requeueReplica(record, 1, A, 1, { outcome: 'server-error', reasons: ['the launcher died'] }, 2, t(2));
    assert.deepEqual(back.kind === 'recorded' && back.requeued, true);
    assert.deepEqual(states(record), ['WAITING', 'WAITING']);
    startReplica(record, 1, B, 2, t(3));
    assert.match(record.replicas[0]!.history.at(-1)!.note!, /^requeued: the launcher died$/);
    const last = requeueReplica(record, 1, B, 2, { outcome: 'server-error', reasons: ['the launcher died'] }, 2, t(4));
    assert.deepEqual(last.kind === 'recorded' && last.requeued, false);
    assert.deepEqual(states(record), ['INVALID', 'INVALID']);
    assert.deepEqual(record.replicas[0]!.reasons, ['the launcher died', 'not run again: 2 attempts at most']);
  });

  it('a cancel ends every replica not ended, saying whether it waited or ran; an ended job is left as it is', () => {
    const record = job(3);
    startReplica(record, 1, A, 2, t(1));
    finishReplica(record, 1, A, 1, { outcome: 'ok', reasons: [] }, t(2));
    startReplica(record, 2, A, 2, t(2));
    const changes = cancelJob(record, 'uid 1000', t(3));
    assert.deepEqual(states(record), ['INVALID', 'COMPLETED', 'INVALID', 'INVALID']);
    assert.deepEqual(record.replicas.map((r) => r.reasons), [[], ['cancelled by uid 1000 while it ran on node a'], ['cancelled by uid 1000 while it waited']]);
    assert.deepEqual(changes.map((c) => [c.replica, c.from, c.to]), [[2, 'RUNNING', 'INVALID'], [3, 'WAITING', 'INVALID'], [undefined, 'RUNNING', 'INVALID']]);
    assert.deepEqual(cancelJob(record, 'uid 1000', t(4)), []);
  });

  it('the ticket state from replica states', () => {
    const r = (state: JobRecord['state']) => ({ replica: 1, state, attempts: 0, reasons: [], history: [] });
    assert.equal(ticketState([r('WAITING'), r('WAITING')]), 'WAITING');
    assert.equal(ticketState([r('COMPLETED'), r('WAITING')]), 'RUNNING', 'one replica done, one waiting: the ticket is under way');
    assert.equal(ticketState([r('COMPLETED'), r('INVALID')]), 'INVALID');
    assert.equal(ticketState([r('COMPLETED'), r('COMPLETED')]), 'COMPLETED');
  });
});
