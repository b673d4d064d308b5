// How a request ended: its outcome kind, the detail lines a person can act on
// and the limits it ran into, decided here and only here. Everything else
// (the executor's error lines, the reply, the audit record, the statistics)
// reads a Classification.
//
// A request refused before anything ran (malformed, denied, busy, no output
// file) is `refused()`. A launched one goes through one ordered chain in
// `classify()`: the first matching case gives the kind and the first reason;
// limits hit along the way add their own lines. The authoritative facts
// (launcher outcome, exit status, signal, cgroup counters, the end of every
// process of the call, refused system call) come before what the worker
// reported about itself. Programs and builds go through the same chain: only
// the lines that name what ran (exit status, a failed exec) say "program" or
// "build command" instead of the function.
import { formatSize } from '../config/size.js';
import { Outcome, Phase, type LaunchResult, type Limits } from '../launcher/protocol.js';
import { describeSignal, signalName } from './signals.js';

/** Every outcome a request can have, in the order reports list them. The
 * audit log's schema, the statistics and the metrics use this list. */
export const OUTCOMES = [
  'ok',
  'exit',
  'signal',
  'timeout',
  'limit',
  'seccomp',
  'load-error',
  'missing-function',
  'denied',
  'bad-request',
  'busy',
  'server-error',
] as const;
export type OutcomeKind = (typeof OUTCOMES)[number];

/** The limits a call can run into, as the audit log names them. */
export const LIMIT_NAMES = ['time', 'cpu', 'memory', 'processes', 'output', 'tmp', 'disk'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

export interface Classification {
  kind: OutcomeKind;
  /** Detail lines, without the leading "Reason: ". */
  reasons: string[];
  /** Every limit the call ran into, whichever ended it; never empty for 'limit'. */
  limitsHit: LimitName[];
  /** Whether the function itself was called: classic mode then keeps its output untouched. */
  functionRan: boolean;
}

interface ContextCommon {
  limits: Limits;
  seccompProfile: string | undefined;
  syscallName: (nr: number) => string | undefined;
}

/** What ran: a library's function (the default), a program, or a build command. */
export type ClassifyTarget =
  | { kind?: 'library'; library: string; function: string }
  | { kind: 'program'; program: string; /** a connection's idle limit */ idleMs?: number }
  | { kind: 'build'; /** the command's words */ command: string[]; /** the size of the work directory's file system */ workBytes?: number };

export type ClassifyContext = ContextCommon & ClassifyTarget;

/** What ran, as a line names it: "program /x", "build command 'make all'" (a library's function is left unnamed: the command line says it). */
function subject(ctx: ClassifyContext): { noun: string; name: string } {
  if (ctx.kind === 'program') return { noun: 'program', name: `program ${ctx.program}` };
  if (ctx.kind === 'build') return { noun: 'build command', name: `build command '${ctx.command.join(' ')}'` };
  return { noun: 'function', name: '' };
}

/** A request that ended before anything ran. */
export function refused(kind: Exclude<OutcomeKind, 'ok'>, reason: string): Classification {
  return { kind, reasons: [reason], limitsHit: [], functionRan: false };
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

/** Limits hit that deserve a line even when something else ended the call. */
type NoteKey = 'cpu' | 'oom' | 'processLimit' | 'outputLimit' | 'fileSize' | 'outputDisk' | 'tmpFull' | 'workFull';
interface Note {
  limit: LimitName;
  reason: string;
}
type Notes = Partial<Record<NoteKey, Note>>;

type Verdict = { kind: OutcomeKind; reason: string; functionRan?: boolean; limit?: LimitName; covers?: NoteKey[] };

/** CPU time of the call's processes: the cgroup's figure covers them all;
 * without cgroups, what the supervisor reaped. */
const callCpuUs = (r: LaunchResult) => r.cgroupCpuUs || r.cpuUs;

function notes(r: LaunchResult, ctx: ClassifyContext): Notes {
  const { limits } = ctx;
  const output = formatSize(limits.outputBytes);
  const found: Notes = {};
  if (r.cpuLimitHit) {
    found.cpu = { limit: 'cpu', reason: `CPU time limit of ${formatSeconds(limits.cpuMs)} exceeded by the call's processes (${formatDuration(callCpuUs(r))} of CPU time)` };
  }
  if (r.oomKilled) found.oom = { limit: 'memory', reason: `memory limit of ${formatSize(limits.memoryBytes)} exceeded (killed by the out-of-memory killer)` };
  if (r.processLimitHit) {
    found.processLimit = { limit: 'processes', reason: `process limit of ${limits.maxProcs} reached: creating a process or thread failed` };
  }
  if (r.outputLimitHit) {
    found.outputLimit = { limit: 'output', reason: `output limit of ${output} exceeded; output truncated at ${r.outputBytes} bytes` };
  }
  if (r.fileSizeLimitHit) {
    found.fileSize = {
      limit: 'output',
      reason: `output limit of ${output} exceeded: a process of the call wrote or reserved past it and was stopped (SIGXFSZ; the limit applies to every file the function writes)`,
    };
  }
  if (r.outputDiskExceeded) {
    found.outputDisk = {
      limit: 'output',
      reason: `output limit of ${output} exceeded: the output file held ${formatSize(r.outputDiskBytes)} of disk (space reserved past its end, released since)`,
    };
  }
  if (r.tmpFull) found.tmpFull = { limit: 'tmp', reason: `private /tmp limit of ${formatSize(limits.tmpBytes)} reached: writes failed with "No space left on device"` };
  if (r.workDirFull) {
    const size = ctx.kind === 'build' && ctx.workBytes ? ` of ${formatSize(ctx.workBytes)}` : '';
    found.workFull = { limit: 'disk', reason: `disk limit${size} of the work directory reached: writes failed with "No space left on device"` };
  }
  return found;
}

/** How many of the sandbox's processes a kill took, for the detail line. */
function killedCount(r: LaunchResult): string {
  if (r.procsKilled === 1) return '; 1 process in the sandbox was killed';
  if (r.procsKilled > 1) return `; ${r.procsKilled} processes in the sandbox were killed`;
  return '; the sandbox was killed';
}

function primary(r: LaunchResult, ctx: ClassifyContext, found: Notes): Verdict | undefined {
  const after = ` after ${formatDuration(r.runUs)}`;
  const { limits } = ctx;
  switch (r.outcome) {
    case Outcome.LaunchFailed:
      return { kind: 'server-error', reason: `the sandbox could not be set up: ${r.message}`, functionRan: false };
    case Outcome.SupervisorLost:
      return { kind: 'server-error', reason: r.message || 'the sandbox supervisor was lost' };
    case Outcome.SupervisionFailed:
      return { kind: 'server-error', reason: `the sandbox's limits could not be watched (${r.message}); the sandbox was killed` };
    case Outcome.Cancelled:
      return { kind: 'server-error', reason: `the call was cancelled by the server (${r.message})` };
    case Outcome.InputDenied:
      return { kind: 'denied', reason: r.message, functionRan: false };
    case Outcome.TimedOut:
      return { kind: 'timeout', reason: `timed out after ${limits.timeoutMs} ms (wall clock limit)${killedCount(r)}`, limit: 'time' };
    case Outcome.Idle: {
      const idle = ctx.kind === 'program' && ctx.idleMs ? ` for ${ctx.idleMs} ms` : '';
      return { kind: 'timeout', reason: `the connection was idle${idle} (no data either way: idle limit)${killedCount(r)}`, limit: 'time' };
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
        limit: 'cpu',
        covers: ['cpu'],
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
  if (found.oom && r.signal === 9) return { kind: 'limit', reason: found.oom.reason, limit: 'memory', covers: ['oom'] };

  const ran = subject(ctx);
  switch (r.phase) {
    case Phase.SetupFailed:
      return { kind: 'server-error', reason: `the sandbox could not be set up: ${r.message}`, functionRan: false };
    case Phase.ExecFailed: {
      const what = ctx.kind === 'program' ? ctx.program : ctx.kind === 'build' ? ctx.command[0] ?? '' : '';
      return { kind: 'load-error', reason: `cannot execute ${what}: ${r.message}`, functionRan: false };
    }
    default:
      break;
  }
  if (ctx.kind !== 'program' && ctx.kind !== 'build') {
    switch (r.phase) {
      case Phase.LoadFailed:
        return { kind: 'load-error', reason: `library ${ctx.library} could not be loaded: ${withoutPath(r.message, ctx.library)}`, functionRan: false };
      case Phase.ResolveFailed:
        return { kind: 'missing-function', reason: `function '${ctx.function}' is not exported by ${ctx.library}`, functionRan: false };
      case Phase.NotAFunction:
        return { kind: 'missing-function', reason: `symbol '${ctx.function}' in ${ctx.library} is not a function (it is ${r.message})`, functionRan: false };
      default:
        break;
    }
  }

  const sig = r.signal !== null ? signalName(r.signal) : undefined;
  if (sig === 'SIGXCPU' || (sig === 'SIGKILL' && limits.cpuMs > 0 && r.cpuUs / 1000 >= limits.cpuMs)) {
    const how = sig === 'SIGXCPU' ? 'SIGXCPU' : 'killed at the hard limit';
    return { kind: 'limit', reason: `CPU time limit of ${formatSeconds(limits.cpuMs)} exceeded (${how})${after}`, limit: 'cpu', covers: ['cpu'] };
  }
  if (sig === 'SIGXFSZ' || (found.outputLimit && r.signal === null)) {
    // RLIMIT_FSIZE holds the output limit, and it applies to every file written.
    const reason =
      found.outputLimit?.reason ??
      `output limit of ${formatSize(limits.outputBytes)} exceeded: the function wrote or reserved past it and was stopped (SIGXFSZ; the limit applies to every file it writes)`;
    return { kind: 'limit', reason, limit: 'output', covers: ['outputLimit', 'fileSize'] };
  }
  if (r.signal !== null) {
    const at = r.faultAddress !== null ? ` at address 0x${r.faultAddress.toString(16)}` : '';
    const overflow = r.stackOverflow ? ' (stack overflow)' : '';
    return { kind: 'signal', reason: `killed by signal ${r.signal} (${describeSignal(r.signal)})${at}${overflow}${after}${when(r.phase)}` };
  }
  const exited = `${ran.name ? `${ran.name} ` : ''}exited with status ${r.exitCode}${after}`;
  // A build that fails because its disk is full failed at its limit.
  if (found.workFull && r.exitCode !== null && r.exitCode !== 0) {
    return { kind: 'limit', reason: `${found.workFull.reason}; ${exited}`, limit: 'disk', covers: ['workFull'] };
  }
  if (r.exitCode !== null && r.exitCode !== 0) {
    return { kind: 'exit', reason: `${exited}${ran.name ? '' : when(r.phase)}` };
  }
  if (r.phase < Phase.Running) {
    return { kind: 'exit', reason: `the process ended with status 0${when(r.phase) || `, before the ${ran.noun} ran`}`, functionRan: false };
  }
  // The function ran to completion, but a limit stopped part of what it did
  // (in it, or in another process of the call).
  for (const key of ['cpu', 'oom', 'processLimit', 'fileSize', 'outputDisk', 'tmpFull', 'workFull'] as const) {
    const note = found[key];
    if (note) return { kind: 'limit', reason: note.reason, limit: note.limit, covers: [key] };
  }
  return undefined;
}

export function classify(r: LaunchResult, ctx: ClassifyContext): Classification {
  const found = notes(r, ctx);
  const verdict = primary(r, ctx, found);
  const covered = new Set(verdict?.covers ?? []);
  const extra = (Object.keys(found) as NoteKey[]).filter((k) => !covered.has(k)).map((k) => found[k]!);
  const hit = new Set<LimitName>([...(verdict?.limit ? [verdict.limit] : []), ...Object.values(found).map((n) => n.limit)]);
  const limitsHit = LIMIT_NAMES.filter((l) => hit.has(l));
  if (!verdict) return { kind: 'ok', reasons: [], limitsHit, functionRan: true };
  return {
    kind: verdict.kind,
    reasons: [verdict.reason, ...extra.map((n) => n.reason)],
    limitsHit,
    functionRan: verdict.functionRan ?? r.phase >= Phase.Running,
  };
}
