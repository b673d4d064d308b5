// A bundle job runs `make -s run` (the cloud-infrastructure project's model:
// the Makefile's run target builds the program, then runs it). make exits 2
// whatever failed, so the outcome is read from its last "*** " line, which
// names the target that failed and how: a target other than run failed (or
// no rule made it) — the build failed; run itself failed — the program
// exited with a status, or was killed by a signal (make says "Segmentation
// fault", or "Error 139" when a shell ran it). Other ends (a timeout, a
// limit, a refused system call) are the classifier's, unchanged.
import type { Classification } from '../executor/classify.js';
import { bundleFile, type Bundle } from '../functions/bundle.js';
import { describeSignal } from '../executor/signals.js';
import type { JobOutcome } from './job-record.js';

export const MAKE_RUN = ['make', '-s', 'run'];

/** Makefiles GNU make reads, in its order: a bundle job's bundle has one at its top. */
const MAKEFILES = ['GNUmakefile', 'makefile', 'Makefile'];

export function hasMakefile(bundle: Bundle): boolean {
  return MAKEFILES.some((name) => bundleFile(bundle, name) !== undefined);
}

/** What make writes for a target killed by a signal (strsignal's words), by signal number. */
const SIGNAL_WORDS: Record<string, number> = {
  'Segmentation fault': 11,
  Aborted: 6,
  Killed: 9,
  'Bus error': 7,
  'Floating point exception': 8,
  'Illegal instruction': 4,
  Terminated: 15,
  'Bad system call': 31,
  'Trace/breakpoint trap': 5,
  'CPU time limit exceeded': 24,
  'File size limit exceeded': 25,
};

const MAKE_FAILURE = /^make(?:\[\d+\])?: \*\*\* (.*)$/;
const TARGET_FAILURE = /^\[(?:.*?:\d+: )?(.+?)\] (.+?)(?: \(core dumped\))?$/;

export function makeOutcome(verdict: Classification, output: string): { outcome: JobOutcome | 'ok'; reasons: string[] } {
  if (verdict.kind !== 'exit') return { outcome: verdict.kind, reasons: verdict.reasons };
  const line = output
    .split('\n')
    .reverse()
    .map((l) => MAKE_FAILURE.exec(l.trim()))
    .find((m) => m !== null);
  if (!line) return { outcome: 'exit', reasons: verdict.reasons };
  const failure = line[0].trim();
  const target = TARGET_FAILURE.exec(line[1]!);
  if (!target || target[1] !== 'run') return { outcome: 'build-failed', reasons: [`the build failed: ${failure}`, ...verdict.reasons] };
  const how = target[2]!;
  const status = /^Error (\d+)$/.exec(how);
  const signal = status ? (Number(status[1]) > 128 ? Number(status[1]) - 128 : undefined) : SIGNAL_WORDS[how];
  if (signal !== undefined) return { outcome: 'signal', reasons: [`the program crashed: killed by signal ${signal} (${describeSignal(signal)}) (${failure})`] };
  if (status) return { outcome: 'exit', reasons: [`the program exited with status ${status[1]} (${failure})`] };
  return { outcome: 'exit', reasons: [`the program failed: ${failure}`, ...verdict.reasons] };
}
