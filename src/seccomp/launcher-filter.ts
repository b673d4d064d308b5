// A profile as the launcher needs it: with the baseline rules every sandbox
// gets (baseline.ts), compiled once (supervised: refused calls are named by the
// sandbox's supervisor), with the facts the executor acts on.
import fs from 'node:fs';
import { formatProblem, InvalidJsonFile } from '../config/json-file.js';
import { SECCOMP_RET, type Notify } from './actions.js';
import { baselineOnly, withBaseline } from './baseline.js';
import { compileProfile } from './compile.js';
import { outcome } from './outcomes.js';
import { parseProfile, profilePath, shippedProfiles, type Profile } from './profile.js';
import { syscallNumber } from './syscalls.js';

export interface LauncherFilter {
  /** What blocked-call lines name: "default", or the profile file. */
  name: string;
  program: Buffer;
  notify: Notify;
  /** The profile lets socket() through: such calls need a network namespace
   * of their own (sandboxes otherwise share one empty namespace). */
  allowsSockets: boolean;
  /** The profile lets a call create SysV IPC objects or POSIX message queues:
   * such calls need an IPC namespace of their own. */
  allowsIpc: boolean;
}

/** No profile (`none`): only the baseline rules; every call needs its own namespaces. */
export const NO_FILTER: LauncherFilter = {
  name: 'none',
  program: compileProfile(baselineOnly(), { supervised: true }).program,
  notify: 'none',
  allowsSockets: true,
  allowsIpc: true,
};

/** Whether any of these calls can get through the profile, with any arguments. */
function letsThrough(profile: Profile, names: string[]): boolean {
  // An errno answer refuses as surely as a kill: only allow and log let a call through.
  const ret = (action: Profile['defaultAction']) =>
    action.kind === 'allow' ? SECCOMP_RET.ALLOW : action.kind === 'log' ? SECCOMP_RET.LOG : SECCOMP_RET.KILL_PROCESS;
  return names.some((name) => {
    const nr = syscallNumber(name, profile.arch);
    if (nr === undefined) return false;
    const answer = outcome(profile.rules.filter((r) => r.syscalls.includes(nr)), profile.defaultAction, ret);
    const answers = answer.kind === 'ret' ? [answer.k] : [answer.fallthrough, ...answer.rules.map((r) => r.k)];
    return answers.some((k) => k !== SECCOMP_RET.KILL_PROCESS);
  });
}

/** The calls that create what lives in an IPC namespace. */
const IPC_CREATORS = ['shmget', 'semget', 'msgget', 'mq_open'];

/** Compiled filters by file and text: a profile edited since is compiled again. */
const cache = new Map<string, LauncherFilter>();

/** Loads and compiles a profile ("default", a path, or "none"); throws
 * InvalidJsonFile or ProgramTooLarge with what is wrong, or an Error naming
 * the profiles there are. */
export function launcherFilter(nameOrPath: string): LauncherFilter {
  if (nameOrPath === 'none') return NO_FILTER;
  const file = profilePath(nameOrPath);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file !== nameOrPath) {
      throw new Error(`no such profile; shipped: ${shippedProfiles().join(', ')}; or an absolute path to a profile file, or none`);
    }
    throw new Error(`cannot read ${file}: ${code ?? (error as Error).message}`);
  }
  const key = `${file}\0${text}`;
  let filter = cache.get(key);
  if (!filter) {
    const profile = parseProfile(text, file);
    const compiled = compileProfile(withBaseline(profile), { supervised: true });
    filter = {
      name: profile.name,
      program: compiled.program,
      notify: compiled.notify,
      allowsSockets: letsThrough(profile, ['socket']),
      allowsIpc: letsThrough(profile, IPC_CREATORS),
    };
    cache.set(key, filter);
  }
  return filter;
}

/** What launcherFilter threw, in one message (each problem of a profile file on its own line). */
export function profileErrorDetail(error: unknown): string {
  if (error instanceof InvalidJsonFile) return error.problems.map((p) => `\n  ${formatProblem(p)}`).join('');
  return (error as Error).message;
}
