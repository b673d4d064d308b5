import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { classify, LIMIT_NAMES, OUTCOMES, refused, type ClassifyContext } from '../../src/executor/classify.js';
import { policiesDir } from '../../src/paths.js';
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

describe('classify: limits hit by any process of the call', () => {
  const limits = { ...ctx, limits: { ...ctx.limits, cpuMs: 1000, outputBytes: 1 << 20 } };

  it('a CPU limit reached by a child, while the function returned, is a limit', () => {
    const v = classify(result({ phase: Phase.Returned, exitCode: 0, cpuLimitHit: true, cgroupCpuUs: 1_020_000 }), limits);
    assert.deepEqual([v.kind, v.reasons, v.limitsHit], ['limit', ["CPU time limit of 1 s exceeded by the call's processes (1020 ms of CPU time)"], ['cpu']]);
  });

  it('a child stopped by the file size limit names the output limit', () => {
    const v = classify(result({ phase: Phase.Returned, exitCode: 0, fileSizeLimitHit: true }), limits);
    assert.equal(v.kind, 'limit');
    assert.match(v.reasons[0]!, /^output limit of 1 MiB exceeded: a process of the call wrote or reserved past it and was stopped \(SIGXFSZ/);
    assert.deepEqual(v.limitsHit, ['output']);
  });

  it('disk held past the output limit is named, with how much', () => {
    const v = classify(result({ phase: Phase.Returned, exitCode: 0, outputDiskExceeded: true, outputDiskBytes: 64 << 20 }), limits);
    assert.deepEqual([v.kind, v.reasons, v.limitsHit], ['limit', ['output limit of 1 MiB exceeded: the output file held 64 MiB of disk (space reserved past its end, released since)'], ['output']]);
  });

  it('the worker stopped by SIGXFSZ is one output line, not two', () => {
    const v = classify(result({ phase: Phase.Running, signal: 25, fileSizeLimitHit: true }), limits);
    assert.equal(v.reasons.length, 1);
    assert.deepEqual(v.limitsHit, ['output']);
  });

  it('a supervision failure is a server error with its reason', () => {
    const v = classify(result({ outcome: Outcome.SupervisionFailed, message: 'the CPU time of the sandbox\'s cgroup could not be read: EIO' }), limits);
    assert.deepEqual([v.kind, v.reasons[0]], ['server-error', "the sandbox's limits could not be watched (the CPU time of the sandbox's cgroup could not be read: EIO); the sandbox was killed"]);
  });

  it('every combination of facts: "limit" always names a limit, and every named limit has a reason line', () => {
    const flags = ['cpuLimitHit', 'fileSizeLimitHit', 'outputDiskExceeded', 'oomKilled', 'processLimitHit', 'outputLimitHit', 'tmpFull'] as const;
    for (const outcome of [Outcome.Completed, Outcome.TimedOut, Outcome.CpuLimit, Outcome.Seccomp]) {
      for (const signal of [null, 9, 11, 24, 25]) {
        for (let mask = 0; mask < 1 << flags.length; mask++) {
          const facts = Object.fromEntries(flags.map((f, i) => [f, (mask & (1 << i)) !== 0]));
          const v = classify(result({ outcome, signal, phase: Phase.Running, exitCode: signal === null ? 0 : null, ...facts }), limits);
          if (v.kind === 'limit') assert.ok(v.limitsHit.length > 0, JSON.stringify({ outcome, signal, facts }));
          assert.ok(v.reasons.length >= v.limitsHit.length || v.kind === 'timeout', JSON.stringify({ outcome, signal, facts, v }));
          if (v.kind === 'ok') assert.deepEqual(v.limitsHit, []);
        }
      }
    }
  });
});

describe('the outcome list exists once', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(policiesDir, 'audit-event.schema.json'), 'utf8')) as {
    definitions: { outcome: { enum: string[] }; execution: { properties: { limitsHit: { items: { enum: string[] } } } } };
  };

  it('the audit schema lists the classifier\'s outcomes and limits, in order', () => {
    assert.deepEqual(schema.definitions.outcome.enum, [...OUTCOMES]);
    assert.deepEqual(schema.definitions.execution.properties.limitsHit.items.enum, [...LIMIT_NAMES]);
  });

  it('refusals are classified here too', () => {
    assert.deepEqual(refused('busy', 'the server is busy'), { kind: 'busy', reasons: ['the server is busy'], limitsHit: [], functionRan: false });
  });
});

describe('classify programs and builds', () => {
  const common = { limits: { ...DEFAULT_LIMITS, timeoutMs: 5000 }, seccompProfile: 'program', syscallName: (nr: number) => (nr === 41 ? 'socket' : undefined) };
  const program: ClassifyContext = { ...common, kind: 'program', program: '/b/toupper', idleMs: 250 };
  const build: ClassifyContext = { ...common, kind: 'build', command: ['make', 'all'], workBytes: 4 << 20 };

  it('a program that exited 0 is ok; a non-zero exit names the program or the build command', () => {
    assert.equal(classify(result({ phase: Phase.Running, exitCode: 0 }), program).kind, 'ok');
    assert.deepEqual(classify(result({ phase: Phase.Running, exitCode: 3 }), program).reasons, ['program /b/toupper exited with status 3 after 3.0 ms']);
    assert.deepEqual(classify(result({ phase: Phase.Running, exitCode: 2 }), build).reasons, ["build command 'make all' exited with status 2 after 3.0 ms"]);
  });

  it('an exec that failed is a load error with the errno text', () => {
    const v = classify(result({ phase: Phase.ExecFailed, exitCode: 127, message: 'Exec format error' }), program);
    assert.deepEqual([v.kind, v.reasons, v.functionRan], ['load-error', ['cannot execute /b/toupper: Exec format error'], false]);
    assert.deepEqual(classify(result({ phase: Phase.ExecFailed, exitCode: 127, message: 'No such file or directory' }), build).reasons, ['cannot execute make: No such file or directory']);
  });

  it('signals, timeouts and refused calls read as for a library', () => {
    assert.deepEqual(classify(result({ phase: Phase.Running, signal: 11 }), program).reasons, ['killed by signal 11 (SIGSEGV, invalid memory reference) after 3.0 ms']);
    assert.deepEqual(classify(result({ outcome: Outcome.TimedOut, phase: Phase.Running, procsKilled: 1 }), build).reasons, ['timed out after 5000 ms (wall clock limit); 1 process in the sandbox was killed']);
    assert.deepEqual(classify(result({ outcome: Outcome.Seccomp, phase: Phase.Running, seccompNr: 41 }), build).reasons, ["blocked system call socket (41) by seccomp profile 'program'"]);
  });

  it('an idle connection is a timeout at the idle limit', () => {
    const v = classify(result({ outcome: Outcome.Idle, phase: Phase.Running, procsKilled: 1 }), program);
    assert.deepEqual([v.kind, v.reasons, v.limitsHit], ['timeout', ['the connection was idle for 250 ms (no data either way: idle limit); 1 process in the sandbox was killed'], ['time']]);
  });

  it('a build that failed on a full work directory failed at its disk limit; one that succeeded with it full says so too', () => {
    const failed = classify(result({ phase: Phase.Running, exitCode: 2, workDirFull: true }), build);
    assert.deepEqual([failed.kind, failed.limitsHit], ['limit', ['disk']]);
    assert.deepEqual(failed.reasons, ['disk limit of 4 MiB of the work directory reached: writes failed with "No space left on device"; build command \'make all\' exited with status 2 after 3.0 ms']);
    const succeeded = classify(result({ phase: Phase.Running, exitCode: 0, workDirFull: true }), build);
    assert.deepEqual([succeeded.kind, succeeded.reasons], ['limit', ['disk limit of 4 MiB of the work directory reached: writes failed with "No space left on device"']]);
  });

  it('a program that ended before it was executed says so', () => {
    const v = classify(result({ phase: Phase.Setup, exitCode: 0 }), program);
    assert.deepEqual([v.kind, v.reasons, v.functionRan], ['exit', ['the process ended with status 0, before the program ran'], false]);
  });
});
