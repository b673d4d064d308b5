// What the executor asks the launcher to run for an allowed decision (the
// launcher's RunSpec, src/launcher/run-spec.ts): a library's function, or a
// program function with the request on its stdin, or a connection as its
// stdin and stdout; and how its result is
// classified. The one place where a decision becomes a launcher request.
import { ExecFlag } from '../launcher/protocol.js';
import type { RunSpec } from '../launcher/run-spec.js';
import type { Decision, Tenant } from '../policy/decide.js';
import type { LauncherFilter } from '../seccomp/launcher-filter.js';
import type { ClassifyTarget } from './classify.js';

type Allowed = Extract<Decision, { allowed: true }>;

export interface FlagOptions {
  /** Classic servers left the function's stderr out of the output file. */
  compat: 'classic' | undefined;
  netns: 'auto' | 'fresh' | 'shared';
}

/** The launcher's flags for a call under this seccomp filter. */
export function execFlags(seccomp: LauncherFilter, options: FlagOptions): number {
  let flags = 0;
  if (options.compat !== 'classic') flags |= ExecFlag.StderrToOutput;
  if (options.netns === 'auto' && seccomp.allowsSockets) flags |= ExecFlag.FreshNetns;
  if (seccomp.notify === 'refusals') flags |= ExecFlag.SeccompNotify;
  if (seccomp.notify === 'logs') flags |= ExecFlag.SeccompLearn;
  if (!seccomp.allowsIpc) flags |= ExecFlag.SharedIpc;
  return flags;
}

// Made on every call: the specs are written out with the optional fields
// spread last, never `{ ...common, more }`: in V8 (Node 20) an object literal
// that starts with a spread defines each property after it on a slow path,
// ~1 us each (`{ a, ...x, more }` is not affected), measured.
export function launchSpec(decision: Allowed, output: string, flags: number, tenant: Tenant): RunSpec {
  const limits = decision.limits;
  const filter = decision.seccomp.program;
  const who = { uid: tenant.uid, gid: tenant.gid, groups: tenant.groups };
  const bundle = decision.bundleDir !== undefined ? { bundleDir: decision.bundleDir } : {};
  const connection = decision.program?.connection;
  if (connection) {
    // The connection is its stdin and stdout; its stderr goes to the output file (the call's log), never to the client.
    const stdin = { socket: connection.socket, ...(connection.idleMs > 0 ? { idleMs: connection.idleMs } : {}) };
    return { flags: flags | ExecFlag.StderrToOutput, limits, output, filter, tenant: who, kind: 'program', program: decision.library, argv: decision.program!.argv, stdin, ...bundle };
  }
  if (decision.program) {
    // The input (a request body, or the tenant's file) is its stdin; its stdout, the output file.
    const stdin = decision.input !== undefined ? { stdin: { file: decision.input } } : {};
    return { flags, limits, output, filter, tenant: who, kind: 'program', program: decision.library, argv: decision.program.argv, ...stdin, ...bundle };
  }
  return { flags, limits, output, filter, tenant: who, kind: 'library', library: decision.library, function: decision.function, input: decision.input, ...bundle };
}

/** What ran, for the classifier's lines. */
export function classifyTarget(decision: Allowed): ClassifyTarget {
  if (!decision.program) return { kind: 'library', library: decision.library, function: decision.function };
  const idleMs = decision.program.connection?.idleMs;
  return { kind: 'program', program: decision.library, ...(idleMs ? { idleMs } : {}) };
}
