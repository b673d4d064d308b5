// How an execution ended, turned into an outcome kind and the detail lines a
// person can act on. One ordered chain: the first matching case wins, and the
// authoritative facts (launcher outcome, exit status, signal, refused system
// call) come before what the worker reported about its own progress.
import { Outcome, Phase, type LaunchResult } from '../launcher/protocol.js';
import { describeSignal } from './signals.js';

export type OutcomeKind =
  | 'ok'
  | 'exit'
  | 'signal'
  | 'timeout'
  | 'limit'
  | 'seccomp'
  | 'load-error'
  | 'missing-function'
  | 'denied'
  | 'bad-request'
  | 'server-error';

export interface Classification {
  kind: OutcomeKind;
  /** Detail lines, without the leading "Reason: ". */
  reasons: string[];
  /** Whether the function itself was called: classic mode then keeps its output untouched. */
  functionRan: boolean;
}

export interface ClassifyContext {
  library: string;
  function: string;
  timeoutMs: number;
  seccompProfile: string | undefined;
  syscallName: (nr: number) => string | undefined;
}

export function formatDuration(us: number): string {
  const ms = us / 1000;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}


/** Where in the worker's life something happened, for the detail line. */
function when(phase: Phase): string {
  switch (phase) {
    case Phase.Loading:
      return ' while loading the library (in a constructor), before the function ran';
    case Phase.Resolving:
      return ' while looking up the function';
    case Phase.Returned:
      return ' after the function returned (in a destructor or exit handler)';
    default:
      return '';
  }
}

/** The dlerror text usually starts with the library path: do not say it twice. */
function withoutPath(message: string, library: string): string {
  return message.startsWith(`${library}: `) ? message.slice(library.length + 2) : message;
}

export function classify(r: LaunchResult, ctx: ClassifyContext): Classification {
  const ran = r.phase >= Phase.Running;
  const after = ` after ${formatDuration(r.runUs)}`;
  const fail = (kind: OutcomeKind, reason: string, functionRan = ran): Classification => ({
    kind,
    reasons: [reason],
    functionRan,
  });

  switch (r.outcome) {
    case Outcome.LaunchFailed:
      return fail('server-error', `the sandbox could not be set up: ${r.message}`, false);
    case Outcome.SupervisorLost:
      return fail('server-error', r.message || 'the sandbox supervisor was lost');
    case Outcome.Cancelled:
      return fail('server-error', `the call was cancelled by the server (${r.message})`);
    case Outcome.TimedOut: {
      const killed =
        r.procsKilled === 1 ? '; 1 process in the sandbox was killed'
        : r.procsKilled > 1 ? `; ${r.procsKilled} processes in the sandbox were killed`
        : '; the sandbox was killed';
      return fail('timeout', `timed out after ${ctx.timeoutMs} ms (wall clock limit)${killed}`);
    }
    case Outcome.Seccomp: {
      const nr = r.seccompNr ?? -1;
      const name = ctx.syscallName(nr) ?? 'unknown';
      return fail('seccomp', `blocked system call ${name} (${nr}) by seccomp profile '${ctx.seccompProfile ?? 'none'}'`);
    }
    case Outcome.Completed:
      break;
  }

  switch (r.phase) {
    case Phase.SetupFailed:
      return fail('server-error', `the sandbox could not be set up: ${r.message}`, false);
    case Phase.LoadFailed:
      return fail('load-error', `library ${ctx.library} could not be loaded: ${withoutPath(r.message, ctx.library)}`, false);
    case Phase.ResolveFailed:
      return fail('missing-function', `function '${ctx.function}' is not exported by ${ctx.library}`, false);
    case Phase.NotAFunction:
      return fail('missing-function', `symbol '${ctx.function}' in ${ctx.library} is not a function (it is ${r.message})`, false);
    default:
      break;
  }

  if (r.signal !== null) {
    const at = r.faultAddress !== null ? ` at address 0x${r.faultAddress.toString(16)}` : '';
    return fail('signal', `killed by signal ${r.signal} (${describeSignal(r.signal)})${at}${when(r.phase)}${after}`);
  }
  if (r.exitCode !== null && r.exitCode !== 0) {
    return fail('exit', `exited with status ${r.exitCode}${when(r.phase)}${after}`);
  }
  if (!ran) {
    return fail('exit', `the process ended with status 0${when(r.phase) || ' before the function ran'}`);
  }
  return { kind: 'ok', reasons: [], functionRan: true };
}
