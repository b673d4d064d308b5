// How a bundle job's `make -s run` ended (src/jobs/make-outcome.ts), read
// from make's own last "*** " line as GNU make writes it: a target other than
// run failed (the build), run exited with a status or was killed by a
// signal (a crash), or make found no rule; ends that are not an exit (a
// timeout, a limit) are the classifier's, unchanged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Classification } from '../../../src/executor/classify.js';
import { makeOutcome } from '../../../src/jobs/make-outcome.js';

const exit2: Classification = { kind: 'exit', reasons: ['exited with status 2'], limitsHit: [], functionRan: true };

describe("a bundle job's make run", () => {
  it('a failed compile is "build failed", naming the target', () => {
    const output = "main.c:1:1: error: expected ';'\nmake: *** [Makefile:3: prog] Error 1\n";
    assert.deepEqual(makeOutcome(exit2, output), { outcome: 'build-failed', reasons: ['the build failed: make: *** [Makefile:3: prog] Error 1', 'exited with status 2'] });
  });

  it('no rule to make a target is a failed build', () => {
    const out = makeOutcome(exit2, "make: *** No rule to make target 'prog.c', needed by 'prog'.  Stop.\n");
    assert.equal(out.outcome, 'build-failed');
  });

  it('run killed by a signal is a crash, with the signal named (make\'s words, or a shell\'s status)', () => {
    const segv = makeOutcome(exit2, 'make: *** [Makefile:5: run] Segmentation fault (core dumped)\n');
    assert.equal(segv.outcome, 'signal');
    assert.match(segv.reasons[0]!, /^the program crashed: killed by signal 11 \(SIGSEGV/);
    const shell = makeOutcome(exit2, 'make: *** [Makefile:5: run] Error 134\n');
    assert.equal(shell.outcome, 'signal');
    assert.match(shell.reasons[0]!, /killed by signal 6 \(SIGABRT/);
  });

  it('run exiting with a status is that exit', () => {
    assert.deepEqual(makeOutcome(exit2, 'make: *** [Makefile:5: run] Error 3\n'), { outcome: 'exit', reasons: ['the program exited with status 3 (make: *** [Makefile:5: run] Error 3)'] });
  });

  it('a timeout or a limit is the classifier\'s outcome; a success is ok', () => {
    const timeout: Classification = { kind: 'timeout', reasons: ['timed out after 100 ms'], limitsHit: ['time'], functionRan: true };
    assert.deepEqual(makeOutcome(timeout, 'make: *** [Makefile:5: run] Killed\n'), { outcome: 'timeout', reasons: ['timed out after 100 ms'] });
    assert.deepEqual(makeOutcome({ kind: 'ok', reasons: [], limitsHit: [], functionRan: true }, 'hello\n'), { outcome: 'ok', reasons: [] });
  });
});
