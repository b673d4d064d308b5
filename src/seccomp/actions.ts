// What a filter can answer (SECCOMP_RET_* of linux/seccomp.h), the actions a
// profile names, and how one maps to the other.

export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

export type ActionKind = 'allow' | 'errno' | 'kill-process' | 'log';

export interface Action {
  kind: ActionKind;
  /** Only for 'errno': the number the call returns (as -1 with errno set). */
  errno?: number;
}

/** How restrictive an action is, most restrictive first: the kernel's own
 * precedence among return values (kill > errno > log > allow). Used to decide,
 * whatever the rule order, which of several matching rules wins. */
const RANK: Record<ActionKind, number> = { 'kill-process': 0, errno: 1, log: 2, allow: 3 };

/** Negative if `a` is more restrictive than `b`. Two errno actions: the lower
 * errno number wins, an arbitrary but order-independent choice. */
export function compareRestrictiveness(a: Action, b: Action): number {
  return RANK[a.kind] - RANK[b.kind] || (a.errno ?? 0) - (b.errno ?? 0);
}

export function sameAction(a: Action, b: Action): boolean {
  return compareRestrictiveness(a, b) === 0;
}

/** What the supervisor learns from SECCOMP_RET_USER_NOTIF in a program:
 * 'refusals': a notification is a refused call (the supervisor kills the sandbox);
 * 'logs': a notification is a call to record (the supervisor lets it continue);
 * 'none': the program never notifies. */
export type Notify = 'none' | 'refusals' | 'logs';

/** The return value a profile action compiles to.
 * Unsupervised, actions map directly. Supervised (the fnjail launcher, whose
 * supervisor names refused calls): in a profile that logs, 'log' becomes
 * USER_NOTIF (record, continue) and kills stay kills; otherwise 'kill-process'
 * becomes USER_NOTIF (the supervisor records the number, then kills). */
export function returnValue(action: Action, notify: Notify): number {
  switch (action.kind) {
    case 'allow':
      return SECCOMP_RET.ALLOW;
    case 'errno':
      return (SECCOMP_RET.ERRNO | ((action.errno ?? 0) & SECCOMP_RET_DATA)) >>> 0;
    case 'log':
      return notify === 'logs' ? SECCOMP_RET.USER_NOTIF : SECCOMP_RET.LOG;
    case 'kill-process':
      return notify === 'refusals' ? SECCOMP_RET.USER_NOTIF : SECCOMP_RET.KILL_PROCESS;
  }
}
