// Seeded random profiles and inputs for the seccomp tests: the same seed gives
// the same cases, so a failure can be replayed.
import type { Profile } from '../../../src/seccomp/profile.js';
import { syscallNames } from '../../../src/seccomp/syscalls.js';
import type { SeccompData } from './bpf-interpreter.js';
import { AUDIT_ARCH_X86_64 } from './reference.js';

export type Random = () => number; // [0, 1)

/** mulberry32: small, fast, good enough to pick test cases. */
export function seeded(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(rng: Random, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
export const int = (rng: Random, n: number): number => Math.floor(rng() * n);
export function shuffle<T>(rng: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(rng, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const u32 = (rng: Random) => BigInt(Math.floor(rng() * 4294967296));
const HALVES = [0n, 1n, 2n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn];
/** A 64-bit value whose halves are often at the edges that matter. */
export function value64(rng: Random): bigint {
  const half = () => (rng() < 0.6 ? pick(rng, HALVES) : u32(rng));
  return (half() << 32n) | half();
}
const hex = (v: bigint) => `0x${v.toString(16)}`;

export const ERRNOS = ['EPERM', 'ENOSYS', 'EACCES', 'ENOTTY', 'EINVAL'];
const OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked-eq'] as const;
type Op = (typeof OPS)[number];
type Kind = 'allow' | 'errno' | 'kill-process' | 'log';
const KINDS: Kind[] = ['allow', 'errno', 'kill-process', 'log'];

export interface ConditionJson {
  index: number;
  op: Op;
  value: string;
  valueTwo?: string;
}
export interface RuleJson {
  names: string[];
  action: Kind;
  errno?: string;
  args?: ConditionJson[];
}
export interface ProfileJson {
  defaultAction: Kind;
  defaultErrno?: string;
  syscalls: RuleJson[];
}

type ActionJson = Pick<RuleJson, 'action' | 'errno'>;
const randomAction = (rng: Random): ActionJson => {
  const action = pick(rng, KINDS);
  return action === 'errno' ? { action, errno: pick(rng, ERRNOS) } : { action };
};
const sameAction = (a: ActionJson, b: ActionJson) => a.action === b.action && a.errno === b.errno;

function condition(rng: Random, index: number, op: Op = pick(rng, OPS)): ConditionJson {
  const value = value64(rng);
  if (op !== 'masked-eq') return { index, op, value: hex(value) };
  return { index, op, value: hex(value), valueTwo: hex(value64(rng) & value) };
}

/** Any profile: overlapping rules, repeated arguments, every action. */
export function randomProfile(rng: Random, names: string[], ruleCount: number): ProfileJson {
  const rules: RuleJson[] = [];
  for (let i = 0; i < ruleCount; i++) {
    const args = Array.from({ length: int(rng, 4) }, () => condition(rng, int(rng, 6)));
    const chosen = Array.from({ length: 1 + int(rng, 3) }, () => pick(rng, names));
    rules.push({ names: [...new Set(chosen)], ...randomAction(rng), ...(args.length ? { args } : {}) });
  }
  const def = randomAction(rng);
  return { defaultAction: def.action, ...(def.errno ? { defaultErrno: def.errno } : {}), syscalls: rules };
}

/** A profile whose meaning libseccomp expresses the same way: per call, rules
 * with different actions can never match together (they split on one
 * argument), no rule has the default action, no rule compares an argument
 * twice. (libseccomp resolves overlapping rules differently by design.) */
export function disjointProfile(rng: Random, names: string[]): ProfileJson {
  const def = randomAction(rng);
  const others = (): ActionJson => {
    for (;;) {
      const a = randomAction(rng);
      if (!sameAction(a, def)) return a;
    }
  };
  const rules: RuleJson[] = [];
  for (const name of names) {
    const pattern = int(rng, 3);
    if (pattern === 0) {
      rules.push({ names: [name], ...others() });
      continue;
    }
    if (pattern === 1) {
      // The same action under alternative conditions (an OR). No 'ne': with
      // an 'eq' of the same value in another rule it meets a libseccomp
      // defect (see libseccomp.test.ts).
      const action = others();
      for (let r = 1 + int(rng, 3); r > 0; r--) {
        const indexes = shuffle(rng, [0, 1, 2, 3, 4, 5]).slice(0, 1 + int(rng, 2));
        rules.push({ names: [name], ...action, args: indexes.map((i) => condition(rng, i, pick(rng, OPS.filter((o) => o !== 'ne')))) });
      }
      continue;
    }
    // Mutually exclusive conditions on argument d, each with its own action.
    const d = int(rng, 6);
    const v = value64(rng);
    const split = int(rng, 4);
    let family: ConditionJson[];
    if (split === 0) {
      const values = [...new Set([v, value64(rng), value64(rng)])];
      family = values.map((x) => ({ index: d, op: 'eq', value: hex(x) }));
    } else if (split === 1) {
      family = pick(rng, [
        [{ index: d, op: 'lt', value: hex(v) }, { index: d, op: 'ge', value: hex(v) }],
        [{ index: d, op: 'le', value: hex(v) }, { index: d, op: 'gt', value: hex(v) }],
      ] as ConditionJson[][]);
    } else if (split === 2) {
      family = [{ index: d, op: 'eq', value: hex(v) }, { index: d, op: 'ne', value: hex(v) }];
    } else {
      const mask = v | 0xf0n;
      const wanted = [...new Set([0n, mask & 0x10n, mask & 0x30n, mask & value64(rng)])];
      family = wanted.map((w) => ({ index: d, op: 'masked-eq', value: hex(mask), valueTwo: hex(w) }));
    }
    // Each its own action: libseccomp drops `ne v && more` next to `eq v`
    // when both have the same action (see libseccomp.test.ts).
    const used: ActionJson[] = [];
    for (const c of family) {
      let action = others();
      while (used.some((u) => sameAction(u, action))) action = others();
      used.push(action);
      const extra = rng() < 0.4 ? [condition(rng, (d + 1 + int(rng, 5)) % 6)] : [];
      rules.push({ names: [name], ...action, args: [c, ...extra] });
    }
  }
  return { defaultAction: def.action, ...(def.errno ? { defaultErrno: def.errno } : {}), syscalls: rules };
}

export function randomNames(rng: Random, count: number): string[] {
  return shuffle(rng, syscallNames()).slice(0, count);
}

const ARCHES = [AUDIT_ARCH_X86_64, 0x40000003 /* i386 */, 0xc00000b7 /* aarch64 */, 0, 0xffffffff, AUDIT_ARCH_X86_64 ^ 1];
const EDGE_NRS = [0, 1, 0x1ff, 0x3fffffff, 0x40000000, 0x40000001, 0x40000000 | 101, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const EDGE_VALUES = [0n, 1n, 0xffffffffn, 1n << 32n, (1n << 32n) + 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 63n) - 1n];

/** Values near each constant the profile compares with: equal, one off, the
 * other half changed, outside or inside a mask. */
function interestingValues(profile: Profile): bigint[] {
  const out = new Set(EDGE_VALUES);
  const wrap = (v: bigint) => BigInt.asUintN(64, v);
  for (const rule of profile.rules) {
    for (const c of rule.conditions) {
      for (const v of [c.value, c.valueTwo]) {
        for (const x of [v, v + 1n, v - 1n, v ^ (1n << 32n), v ^ 1n, v & 0xffffffffn, v & ~0xffffffffn, v | 0xffffffffn]) out.add(wrap(x));
      }
      if (c.op === 'masked-eq') out.add(c.valueTwo | (~c.value & 0xffff0000ffff0000n));
    }
  }
  return [...out];
}

/** Inputs that reach every rule: each named call with many argument vectors,
 * other numbers, foreign architectures, x32 and out-of-range numbers. */
export function inputsFor(profile: Profile, rng: Random, perCall = 40): SeccompData[] {
  const values = interestingValues(profile);
  const arg = () => (rng() < 0.85 ? pick(rng, values) : value64(rng));
  const args = () => Array.from({ length: 6 }, arg);
  const named = [...new Set(profile.rules.flatMap((r) => r.syscalls))];
  const inputs: SeccompData[] = [];
  for (const nr of named) {
    for (let i = 0; i < perCall; i++) inputs.push({ nr, arch: AUDIT_ARCH_X86_64, args: args() });
    inputs.push({ nr, arch: pick(rng, ARCHES.slice(1)), args: args() });
    inputs.push({ nr: nr | 0x40000000, arch: AUDIT_ARCH_X86_64, args: args() });
  }
  for (const nr of [...EDGE_NRS, ...Array.from({ length: 30 }, () => int(rng, 500))]) {
    for (const arch of ARCHES) inputs.push({ nr, arch, args: args() });
  }
  return inputs;
}
