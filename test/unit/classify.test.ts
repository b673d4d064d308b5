import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, type ClassifyContext } from '../../src/executor/classify.js';
import { emptyResult } from '../../src/launcher/launcher-process.js';
import { DEFAULT_LIMITS } from '../../src/policy/policy.js';
import { Outcome, Phase, type LaunchResult } from '../../src/launcher/protocol.js';

const ctx: ClassifyContext = {
  library: '/x/libbasic.so',
  function: 'solve',
  limits: { ...DEFAULT_LIMITS, timeoutMs: 5000 },
  seccompProfile: 'default',
  syscallName: (nr) => (nr === 101 ? 'ptrace' : undefined),
};
const result = (fields: Partial<LaunchResult>): LaunchResult => ({ ...emptyResult(1), runUs: 3000, ...fields });

describe('classify', () => {
  it('a function that returned is ok', () => {
    assert.deepEqual(classify(result({ phase: Phase.Returned, exitCode: 0 }), ctx), { kind: 'ok', reasons: [], limitsHit: [], functionRan: true });
  });

  it('names the signal, its meaning, the fault address and the duration', () => {
    const v = classify(result({ phase: Phase.Running, signal: 11, faultAddress: 0n }), ctx);
    assert.equal(v.kind, 'signal');
    assert.deepEqual(v.reasons, ['killed by signal 11 (SIGSEGV, invalid memory reference) at address 0x0 after 3.0 ms']);
    assert.equal(v.functionRan, true);
  });

  it('says when a crash happened in a constructor, before the function ran', () => {
    const v = classify(result({ phase: Phase.Loading, signal: 6 }), ctx);
    assert.match(v.reasons[0]!, /^killed by signal 6 \(SIGABRT, aborted\) after 3\.0 ms, while loading the library \(in a constructor\), before the function ran$/);
    assert.equal(v.functionRan, false);
  });

  it('reports the exit status', () => {
    assert.deepEqual(classify(result({ phase: Phase.Running, exitCode: 3 }), ctx).reasons, ['exited with status 3 after 3.0 ms']);
  });

  it('authoritative outcomes win over what the worker claims', () => {
    // A library could write "returned" into its own state page; the timeout stands.
    const timeout = classify(result({ outcome: Outcome.TimedOut, phase: Phase.Returned, exitCode: 0, procsKilled: 3 }), ctx);
    assert.equal(timeout.kind, 'timeout');
    assert.deepEqual(timeout.reasons, ['timed out after 5000 ms (wall clock limit); 3 processes in the sandbox were killed']);
    const seccomp = classify(result({ outcome: Outcome.Seccomp, phase: Phase.LoadFailed, seccompNr: 101 }), ctx);
    assert.deepEqual(seccomp.reasons, ["blocked system call ptrace (101) by seccomp profile 'default'"]);
  });

  it('load errors, missing functions and data symbols say which', () => {
    const load = classify(result({ phase: Phase.LoadFailed, exitCode: 0, message: '/x/libbasic.so: invalid ELF header' }), ctx);
    assert.deepEqual([load.kind, load.reasons[0]], ['load-error', 'library /x/libbasic.so could not be loaded: invalid ELF header']);
    const missing = classify(result({ phase: Phase.ResolveFailed, exitCode: 0 }), ctx);
    assert.deepEqual([missing.kind, missing.reasons[0]], ['missing-function', "function 'solve' is not exported by /x/libbasic.so"]);
    const data = classify(result({ phase: Phase.NotAFunction, exitCode: 0, message: 'a data object' }), ctx);
    assert.equal(data.reasons[0], "symbol 'solve' in /x/libbasic.so is not a function (it is a data object)");
  });

  it('a launcher failure is a server error', () => {
    const v = classify(result({ outcome: Outcome.LaunchFailed, message: 'cannot open library /x: ENOENT' }), ctx);
    assert.deepEqual([v.kind, v.reasons[0], v.functionRan], ['server-error', 'the sandbox could not be set up: cannot open library /x: ENOENT', false]);
  });
});
