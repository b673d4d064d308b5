import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallAggregate, RECENT_CALLS } from '../../../src/dashboard/call-aggregate.js';
import { OUTCOMES as CLASSIFIED } from '../../../src/executor/classify.js';
import { OUTCOMES as SHOWN } from '../../../web/src/payload.js';
import { executionResult } from '../../helpers/execution-results.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('dashboard call aggregate', () => {
  it('the page knows every outcome the server classifies, and no other', () => {
    assert.deepEqual([...SHOWN], [...CLASSIFIED]);
  });

  it('counts calls per complete second by outcome, zeros included, oldest first', () => {
    const calls = new CallAggregate();
    calls.record(executionResult(), T0 + 100);
    calls.record(executionResult({ kind: 'signal', reasons: ['killed by signal 11 (SIGSEGV, invalid memory reference) at address 0x0 after 3 ms'] }), T0 + 200);
    calls.record(executionResult(), T0 + 2500);
    const seconds = calls.secondsAfter(undefined, T0 + 3000);
    assert.equal(seconds.length, 60);
    assert.deepEqual(seconds.slice(-3), [
      { second: T0 / 1000, byOutcome: { ok: 1, signal: 1 } },
      { second: T0 / 1000 + 1, byOutcome: {} },
      { second: T0 / 1000 + 2, byOutcome: { ok: 1 } },
    ]);
    assert.deepEqual(calls.secondsAfter(T0 / 1000 + 1, T0 + 3000), [{ second: T0 / 1000 + 2, byOutcome: { ok: 1 } }], 'only the seconds after the one given');
    assert.deepEqual(calls.secondsAfter(T0 / 1000 + 1, T0 + 2999), [], 'the current second is not complete');
    assert.deepEqual(calls.callsPerSecond(T0 + 3000).slice(-3), [2, 0, 1]);
  });

  it('keeps the last calls, newest first, with the first Reason line of a failure', () => {
    const calls = new CallAggregate();
    calls.record(executionResult({ tenant: undefined, library: undefined, function: undefined, command: 'nonsense', kind: 'bad-request', reasons: ['no such library', 'second line'] }), T0);
    calls.record(executionResult({ registered: { name: 'resize', version: 'abc', owner: 'ana' } }), T0 + 1);
    const { recent, omitted } = calls.recentSince(undefined);
    assert.equal(omitted, 0);
    assert.deepEqual(
      recent.map((c) => [c.target, c.tenant, c.outcome, c.reason]),
      [
        ['resize', 'ana', 'ok', null],
        ['nonsense', null, 'bad-request', 'Reason: no such library'],
      ],
    );
  });

  it('says how many calls since a frame were too many to keep', () => {
    const calls = new CallAggregate();
    calls.record(executionResult(), T0);
    const seen = calls.count;
    for (let i = 0; i < RECENT_CALLS + 25; i++) calls.record(executionResult(), T0 + 1);
    const { recent, omitted } = calls.recentSince(seen);
    assert.equal(recent.length, RECENT_CALLS);
    assert.equal(omitted, 25);
    assert.deepEqual(calls.recentSince(calls.count), { recent: [], omitted: 0 });
  });

  it('gives per function its calls, errors and median, and the last minute by duration bucket', () => {
    const calls = new CallAggregate();
    for (const totalMs of [1, 2, 3, 40]) calls.record(executionResult({ totalMs }), T0);
    calls.record(executionResult({ totalMs: 5, kind: 'timeout', reasons: ['timed out'] }), T0);
    calls.record(executionResult({ decision: 'none', library: undefined, command: 'garbage', kind: 'bad-request', reasons: ['malformed'], totalMs: 3 }), T0);
    const views = calls.targetViews();
    assert.deepEqual(views.get('/opt/fnlib/libbasic.so run'), { registered: false, calls: 5, errors: 1, p50Ms: 3 });
    assert.deepEqual([...views.keys()], ['/opt/fnlib/libbasic.so run'], 'a request refused before the policy allowed it is no function');
    const latency = calls.latencyView(T0 + 1000)!;
    assert.equal(latency.window, 6);
    assert.equal(latency.p50, 3);
    assert.equal(latency.p99, 40);
    const { boundsMs, counts } = latency.histogram;
    assert.equal(counts.reduce((a, b) => a + b), 6);
    assert.equal(counts[boundsMs.indexOf(50)], 1, '40 ms falls in the bucket up to 50 ms');
    assert.equal(calls.latencyView(T0 + 120_000)!.histogram.counts.reduce((a, b) => a + b), 0, 'a minute later the histogram is empty');
  });
});
