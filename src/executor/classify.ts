// How an execution ended, turned into an outcome kind and the detail lines a
// person can act on. One ordered chain: the first matching case gives the kind
// and the first reason; limits hit along the way add their own lines. The
// authoritative facts (launcher outcome, exit status, signal, cgroup counters,
// refused system call) come before what the worker reported about itself.
import { formatSize } from '../config/size.js';
import { Outcome, Phase, type LaunchResult, type Limits } from '../launcher/protocol.js';
import { describeSignal, signalName } from './signals.js';

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
  | 'busy'
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
  limits: Limits;
  seccompProfile: string | undefined;
  syscallName: (nr: number) => string | undefined;
}

export function formatDuration(us: number): string {
  const ms = us / 1000;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Where in the worker's life something happened, for the detail line. */
function when(phase: Phase): string {
  switch (phase) {
    case Phase.Loading:
      return ', while loading the library (in a constructor), before the function ran';
    case Phase.Resolving:
      return ', while looking up the function';
    case Phase.Returned:
      return ', after the function returned (in a destructor or exit handler)';
    default:
      return '';
  }
}

/** The dlerror text usually starts with the library path: do not say it twice. */
function withoutPath(message: string, library: string): string {
  return message.startsWith(`${library}: `) ? message.slice(library.length + 2) : message;
}

type Verdict = { kind: OutcomeKind; reason: string; functionRan?: boolean; covers?: Array<keyof Notes> };

/** Limits hit that deserve a line even when something else ended the call. */
interface Notes {
  processLimit: string;
  tmpFull: string;
  outputLimit: string;
  oom: string;
}

function notes(r: LaunchResult, ctx: ClassifyContext): Partial<Notes> {
  const { limits } = ctx;
  const found: Partial<Notes> = {};
  if (r.processLimitHit) {
    found.processLimit = `process limit of ${limits.maxProcs} reached: creating a process or thread failed`;
  }
  if (r.tmpFull) found.tmpFull = `private /tmp limit of ${formatSize(limits.tmpBytes)} reached: writes failed with "No space left on device"`;
  if (r.outputLimitHit) {
    found.outputLimit = `output limit of ${formatSize(limits.outputBytes)} exceeded; output truncated at ${r.outputBytes} bytes`;
  }
  if (r.oomKilled) found.oom = `memory limit of ${formatSize(limits.memoryBytes)} exceeded (killed by the out-of-memory killer)`;
  return found;
}

function primary(r: LaunchResult, ctx: ClassifyContext, found: Partial<Notes>): Verdict | undefined {
  const after = ` after ${formatDuration(r.runUs)}`;
  const { limits } = ctx;
  switch (r.outcome) {
    case Outcome.LaunchFailed:
      return { kind: 'server-error', reason: `the sandbox could not be set up: ${r.message}`, functionRan: false };
    case Outcome.SupervisorLost:
      return { kind: 'server-error', reason: r.message || 'the sandbox supervisor was lost' };
    case Outcome.Cancelled:
      return { kind: 'server-error', reason: `the call was cancelled by the server (${r.message})` };
    case Outcome.InputDenied:
      return { kind: 'denied', reason: r.message, functionRan: false };
    case Outcome.TimedOut: {
      const killed =
        r.procsKilled === 1 ? '; 1 process in the sandbox was killed'
        : r.procsKilled > 1 ? `; ${r.procsKilled} processes in the sandbox were killed`
        : '; the sandbox was killed';
      return { kind: 'timeout', reason: `timed out after ${limits.timeoutMs} ms (wall clock limit)${killed}` };
    }
    case Outcome.Seccomp: {
      const nr = r.seccompNr ?? -1;
      const name = ctx.syscallName(nr) ?? 'unknown';
      return { kind: 'seccomp', reason: `blocked system call ${name} (${nr}) by seccomp profile '${ctx.seccompProfile ?? 'none'}'` };
    }
    case Outcome.CpuLimit:
      return {
        kind: 'limit',
        reason: `CPU time limit of ${formatSeconds(limits.cpuMs)} exceeded by the sandbox's processes together; the sandbox was killed${after}`,
      };
    case Outcome.Stopped:
      return {
        kind: 'signal',
        reason: `stopped by signal ${r.signal} (${signalName(r.signal ?? 0)}) and nothing could continue it; the sandbox was killed${after}`,
      };
    case Outcome.Completed:
      break;
  }
  // The cgroup saw the out-of-memory killer take the worker.
  if (found.oom && r.signal === 9) return { kind: 'limit', reason: found.oom, covers: ['oom'] };

  switch (r.phase) {
    case Phase.SetupFailed:
      return { kind: 'server-error', reason: `the sandbox could not be set up: ${r.message}`, functionRan: false };
    case Phase.LoadFailed:
      return { kind: 'load-error', reason: `library ${ctx.library} could not be loaded: ${withoutPath(r.message, ctx.library)}`, functionRan: false };
    case Phase.ResolveFailed:
      return { kind: 'missing-function', reason: `function '${ctx.function}' is not exported by ${ctx.library}`, functionRan: false };
    case Phase.NotAFunction:
      return { kind: 'missing-function', reason: `symbol '${ctx.function}' in ${ctx.library} is not a function (it is ${r.message})`, functionRan: false };
    default:
      break;
  }

  const sig = r.signal !== null ? signalName(r.signal) : undefined;
  if (sig === 'SIGXCPU' || (sig === 'SIGKILL' && limits.cpuMs > 0 && (r.userUs + r.sysUs) / 1000 >= limits.cpuMs)) {
    const how = sig === 'SIGXCPU' ? 'SIGXCPU' : 'killed at the hard limit';
    return { kind: 'limit', reason: `CPU time limit of ${formatSeconds(limits.cpuMs)} exceeded (${how})${after}` };
  }
  if (sig === 'SIGXFSZ' || (found.outputLimit && r.signal === null)) {
    // RLIMIT_FSIZE holds the output limit, and it applies to every file written.
    const reason = found.outputLimit ?? `file size limit of ${formatSize(limits.outputBytes)} exceeded (SIGXFSZ) by a file other than the output (the output limit applies to every file the function writes)`;
    return { kind: 'limit', reason, covers: ['outputLimit'] };
  }
  if (r.signal !== null) {
    const at = r.faultAddress !== null ? ` at address 0x${r.faultAddress.toString(16)}` : '';
    const overflow = r.stackOverflow ? ' (stack overflow)' : '';
    return { kind: 'signal', reason: `killed by signal ${r.signal} (${describeSignal(r.signal)})${at}${overflow}${after}${when(r.phase)}` };
  }
  if (r.exitCode !== null && r.exitCode !== 0) {
    return { kind: 'exit', reason: `exited with status ${r.exitCode}${after}${when(r.phase)}` };
  }
  if (r.phase < Phase.Running) {
    return { kind: 'exit', reason: `the process ended with status 0${when(r.phase) || ', before the function ran'}`, functionRan: false };
  }
  // The function ran to completion, but a limit stopped part of what it did.
  for (const key of ['oom', 'processLimit', 'tmpFull'] as const) {
    const reason = found[key];
    if (reason) return { kind: 'limit', reason, covers: [key] };
  }
  return undefined;
}

export function classify(r: LaunchResult, ctx: ClassifyContext): Classification {
  const found = notes(r, ctx);
  const verdict = primary(r, ctx, found);
  if (!verdict) return { kind: 'ok', reasons: [], functionRan: true };
  const covered = new Set(verdict.covers ?? []);
  const extra = (Object.keys(found) as Array<keyof Notes>).filter((k) => !covered.has(k)).map((k) => found[k]!);
  return {
    kind: verdict.kind,
    reasons: [verdict.reason, ...extra],
    functionRan: verdict.functionRan ?? r.phase >= Phase.Running,
  };
}
