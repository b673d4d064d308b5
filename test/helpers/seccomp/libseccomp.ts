// Differential testing: the same profile built by libseccomp
// (libseccomp-export.c, seccomp_export_bpf), to run through the interpreter
// next to fnjail's program.
import { execFileSync } from 'node:child_process';
import type { Profile, Rule } from '../../../src/seccomp/profile.js';
import { buildHelper } from './native.js';
import { RET, referenceNotifyMode } from './reference.js';

// enum scmp_compare of seccomp.h
const SCMP_CMP = { ne: 1, lt: 2, le: 3, eq: 4, ge: 5, gt: 6, 'masked-eq': 7 } as const;

/** The raw return value of an action, as the compiler must map it. */
function raw(action: Rule['action'], mode: 'logs' | 'refusals' | 'none'): number {
  switch (action.kind) {
    case 'allow': return RET.ALLOW;
    case 'errno': return (RET.ERRNO | action.errno!) >>> 0;
    case 'log': return mode === 'logs' ? RET.USER_NOTIF : RET.LOG;
    case 'kill-process': return mode === 'refusals' ? RET.USER_NOTIF : RET.KILL_PROCESS;
  }
}

/** libseccomp's filter for the profile. libseccomp refuses a rule with the
 * default action (a no-op for it): such rules are left out, which is only
 * equivalent when no overlapping rule of another action exists (see
 * libseccompExpressible). */
export function libseccompProgram(profile: Profile, supervised: boolean, optimize: 1 | 2 = 1): Buffer {
  const mode = supervised ? referenceNotifyMode(profile) : 'none';
  const def = raw(profile.defaultAction, mode);
  const hex = (v: number | bigint) => v.toString(16);
  const words = [`default ${hex(def)}`, `optimize ${optimize}`];
  for (const rule of profile.rules) {
    const action = raw(rule.action, mode);
    if (action === def) continue;
    const conditions = rule.conditions.map((c) => `${c.index} ${SCMP_CMP[c.op]} ${hex(c.value)} ${hex(c.valueTwo)}`);
    for (const nr of rule.syscalls) words.push(`rule ${hex(action)} ${hex(nr)} ${conditions.length} ${conditions.join(' ')}`);
  }
  return execFileSync(buildHelper('libseccomp-export', ['-lseccomp']), { input: words.join('\n') });
}

/** The part of a profile libseccomp means the same way: the calls whose rules
 * all have one action and never compare an argument twice. libseccomp
 * (2.5) refuses two comparisons of one argument in a rule, and resolves rules
 * of different actions that match together by its own tree order, not by
 * restrictiveness. Returns the profile without the other calls' rules. */
export function libseccompExpressible(profile: Profile): { profile: Profile; left: number[] } {
  const byNr = new Map<number, Rule[]>();
  for (const rule of profile.rules) for (const nr of rule.syscalls) byNr.set(nr, [...(byNr.get(nr) ?? []), rule]);
  const left = [...byNr].filter(([, rules]) => {
    const actions = new Set(rules.map((r) => `${r.action.kind}${r.action.errno ?? ''}`));
    const repeats = rules.some((r) => new Set(r.conditions.map((c) => c.index)).size !== r.conditions.length);
    return actions.size > 1 || repeats;
  }).map(([nr]) => nr);
  const rules = profile.rules
    .map((r) => ({ ...r, syscalls: r.syscalls.filter((nr) => !left.includes(nr)) }))
    .filter((r) => r.syscalls.length);
  return { profile: { ...profile, rules }, left };
}
