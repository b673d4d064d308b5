// Compiles a profile into a seccomp BPF program (struct sock_filter[]):
// outcomes.ts decides what each call gets, codegen.ts writes the code,
// assemble.ts resolves jumps (long ones included) and checks the size limit.
import { returnValue, SECCOMP_RET, type Action, type Notify } from './actions.js';
import { arch } from './arch.js';
import { assemble } from './assemble.js';
import { BPF_K, BPF_RET, encode } from './bpf.js';
import { generate } from './codegen.js';
import { ranges } from './outcomes.js';
import type { Profile } from './profile.js';

export { ProgramTooLarge } from './assemble.js';

export interface CompileOptions {
  /** For the fnjail launcher, whose supervisor receives SECCOMP_RET_USER_NOTIF:
   * in a profile that logs, 'log' notifies (record, continue) and kills stay
   * kills; otherwise 'kill-process' notifies (the supervisor names the call
   * and kills the sandbox). Unsupervised, actions map directly. */
  supervised: boolean;
}

export interface Compiled {
  program: Buffer;
  instructions: number;
  /** What SECCOMP_RET_USER_NOTIF from this program means to the launcher:
   * 'none': the program never returns it (no listener needed);
   * 'refusals': a refused call: record its number, kill the sandbox;
   * 'logs': a call to record, then let continue (the learn profile). */
  notify: Notify;
}

/** The end of the syscall number space the search covers: numbers at or
 * above the foreign-ABI bit are killed before it. */
const searchEnd = (foreignAbiBits: number) => foreignAbiBits || 2 ** 32;

export function compileProfile(profile: Profile, options: CompileOptions): Compiled {
  const actions = [profile.defaultAction, ...profile.rules.map((r) => r.action)];
  let notify: Notify = 'none';
  if (options.supervised) {
    if (actions.some((a) => a.kind === 'log')) notify = 'logs';
    else if (actions.some((a) => a.kind === 'kill-process')) notify = 'refusals';
  }
  const ret = (action: Action) => returnValue(action, notify);
  const target = arch(profile.arch);
  const instructions = assemble(generate(ranges(profile.rules, profile.defaultAction, ret, searchEnd(target.foreignAbiBits)), target));
  // Read from the program itself: 'none' exactly when no path notifies.
  const notifies = instructions.some((i) => i.code === (BPF_RET | BPF_K) && i.k === SECCOMP_RET.USER_NOTIF);
  return { program: encode(instructions), instructions: instructions.length, notify: notifies ? notify : 'none' };
}
