// What a profile means, evaluated directly on one input: the specification
// the compiled programs are checked against. Deliberately naive and written
// apart from src/seccomp/compile.ts (only the parsed Profile is shared).
import type { Profile, Rule } from '../../../src/seccomp/profile.js';
import type { SeccompData } from './bpf-interpreter.js';

export const RET = {
  KILL_PROCESS: 0x80000000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
};
export const AUDIT_ARCH_X86_64 = 0xc000003e;

const U64 = (1n << 64n) - 1n;

function holds(rule: Rule, args: readonly bigint[]): boolean {
  return rule.conditions.every((c) => {
    const arg = BigInt.asUintN(64, args[c.index] ?? 0n);
    switch (c.op) {
      case 'eq': return arg === c.value;
      case 'ne': return arg !== c.value;
      case 'lt': return arg < c.value;
      case 'le': return arg <= c.value;
      case 'gt': return arg > c.value;
      case 'ge': return arg >= c.value;
      case 'masked-eq': return (arg & c.value & U64) === c.valueTwo;
    }
  });
}

// Most restrictive first: kill-process, errno (lower number first), log, allow.
const RANK = { 'kill-process': 0, errno: 1, log: 2, allow: 3 } as const;

/** The action the profile gives this call, or 'bad-abi' for a foreign
 * architecture or an x32 number (always killed). */
export function referenceAction(profile: Profile, data: SeccompData): Rule['action'] | 'bad-abi' {
  if (data.arch >>> 0 !== AUDIT_ARCH_X86_64 || data.nr >>> 0 >= 0x40000000) return 'bad-abi';
  const matching = profile.rules.filter((r) => r.syscalls.includes(data.nr >>> 0) && holds(r, data.args)).map((r) => r.action);
  if (!matching.length) return profile.defaultAction;
  return matching.reduce((best, a) =>
    RANK[a.kind] < RANK[best.kind] || (RANK[a.kind] === RANK[best.kind] && (a.errno ?? 0) < (best.errno ?? 0)) ? a : best,
  );
}

/** The mode the launcher must run a supervised program in. */
export function referenceNotifyMode(profile: Profile): 'logs' | 'refusals' | 'none' {
  const kinds = [profile.defaultAction, ...profile.rules.map((r) => r.action)].map((a) => a.kind);
  return kinds.includes('log') ? 'logs' : kinds.includes('kill-process') ? 'refusals' : 'none';
}

/** The return value the compiled program must give. */
export function referenceReturn(profile: Profile, data: SeccompData, supervised: boolean): number {
  const action = referenceAction(profile, data);
  if (action === 'bad-abi') return RET.KILL_PROCESS;
  const mode = supervised ? referenceNotifyMode(profile) : 'none';
  switch (action.kind) {
    case 'allow': return RET.ALLOW;
    case 'errno': return (RET.ERRNO | action.errno!) >>> 0;
    case 'log': return mode === 'logs' ? RET.USER_NOTIF : RET.LOG;
    case 'kill-process': return mode === 'refusals' ? RET.USER_NOTIF : RET.KILL_PROCESS;
  }
}
