// What the executor asks the launcher to run: a library's function, a program,
// or a build command, with what every execution has (limits, output file,
// seccomp filter, tenant). toWire() turns it into the launcher's execution
// spec (protocol.ts); launcher-process.ts hands a connection over.
import type net from 'node:net';
import { ExecFlag, Kind, type ExecSpec, type Limits } from './protocol.js';

/** What every execution has. */
export interface ExecCommon {
  /** ExecFlag bits (StdinSocket is set here, from the target). */
  flags: number;
  limits: Limits;
  /** The output file: stdout (and stderr with ExecFlag.StderrToOutput); a build's log; a connection's stderr. */
  output: string;
  /** Compiled seccomp program (struct sock_filter[]), or empty for none. Programs need one that allows execveat (the `program` profile). */
  filter: Buffer;
  /** Who asked: input and standard-input files are opened with these credentials. */
  tenant: { uid: number; gid: number; groups: number[] };
}

/** A library's function, called with the input file's path (placed read-only at its path). */
export interface LibraryTarget {
  kind?: 'library';
  library: string;
  function: string;
  input: string | undefined;
  /** A directory placed read-only at its own path (the bundle's data files). */
  bundleDir?: string;
}

/** A program's standard input: a file (opened as the tenant), or a connection
 * handed over (its stdin and stdout; the server's copy is closed once handed
 * over). Without one, /dev/null. */
export type ProgramStdin = { file: string } | { socket: net.Socket; /** no data either way this long ends the call (TCP only) */ idleMs?: number };

/** An executable, run from the descriptor the launcher opened (placed read-only at its path). */
export interface ProgramTarget {
  kind: 'program';
  program: string;
  /** argv, argv[0] included (default: [program]). */
  argv?: string[];
  /** Added to (or replacing) PROGRAM_ENVIRONMENT. */
  env?: Record<string, string>;
  /** Working directory (default /tmp). */
  cwd?: string;
  stdin?: ProgramStdin;
  bundleDir?: string;
}

/** A build command run in a writable work directory (its cwd), without network. */
export interface BuildTarget {
  kind: 'build';
  /** argv: ['make'], ['/bin/sh', '-c', 'make all'], ...; argv[0] is looked up in PATH. */
  command: string[];
  /** A private copy of the bundle on a nosuid file system of its own, whose size is the build's disk limit (work-dir.ts makes one). */
  workDir: string;
  env?: Record<string, string>;
  bundleDir?: string;
}

export type RunSpec = ExecCommon & (LibraryTarget | ProgramTarget | BuildTarget);

/** The environment of programs and builds, before the caller's additions. */
export const PROGRAM_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
};

const entries = (env: Record<string, string>) => Object.entries(env).map(([name, value]) => `${name}=${value}`);
/** PROGRAM_ENVIRONMENT's entries, made once: most programs get them unchanged. */
const DEFAULT_ENTRIES: readonly string[] = entries(PROGRAM_ENVIRONMENT);

function environment(extra: Record<string, string> | undefined): string[] {
  return extra === undefined ? [...DEFAULT_ENTRIES] : entries({ ...PROGRAM_ENVIRONMENT, ...extra });
}

/** The connection a spec hands over, if any. */
export function connectionOf(spec: RunSpec): { socket: net.Socket; idleMs?: number } | undefined {
  return spec.kind === 'program' && spec.stdin && 'socket' in spec.stdin ? spec.stdin : undefined;
}

// Made on every call, so written out in full, never `{ ...common, more }`:
// slow in V8 (executor/launch-spec.ts; 18 us for this one, measured).
export function toWire(spec: RunSpec, id: number): ExecSpec {
  const { limits, output, filter, tenant } = spec;
  switch (spec.kind) {
    case 'program': {
      const connection = connectionOf(spec);
      return {
        id,
        limits,
        output,
        filter,
        tenant,
        flags: spec.flags | (connection ? ExecFlag.StdinSocket : 0),
        kind: Kind.Program,
        library: spec.program,
        function: '',
        input: spec.stdin && 'file' in spec.stdin ? spec.stdin.file : undefined,
        cwd: spec.cwd,
        bundle: spec.bundleDir,
        argv: spec.argv ?? [spec.program],
        env: environment(spec.env),
        idleMs: connection?.idleMs ?? 0,
      };
    }
    case 'build':
      return {
        id,
        limits,
        output,
        filter,
        tenant,
        flags: spec.flags,
        kind: Kind.Build,
        library: '',
        function: '',
        input: undefined,
        work: spec.workDir,
        bundle: spec.bundleDir,
        argv: spec.command,
        env: environment(spec.env),
      };
    default:
      return { id, limits, output, filter, tenant, flags: spec.flags, kind: Kind.Library, library: spec.library, function: spec.function, input: spec.input, bundle: spec.bundleDir };
  }
}
