// Code for a compiled profile, as symbolic steps for assemble.ts:
//   1. architecture check: any arch but the target's is killed;
//   2. foreign-ABI check: x32 numbers (>= 0x40000000) are killed;
//   3. a binary search on the syscall number over the ranges (jge only; depth
//      log2 of the number of ranges);
//   4. the return instructions the search ends in, one per distinct value;
//   5. one block per distinct list of conditional rules: each rule's
//      conditions, then its return; then the fall-through return.
// The arch and x32 kills are always SECCOMP_RET_KILL_PROCESS, never a
// notification: nothing about them is worth a supervisor's look.
import { SECCOMP_RET } from './actions.js';
import { SECCOMP_DATA, type Arch } from './arch.js';
import type { Label, Step } from './assemble.js';
import type { Outcome, Range } from './outcomes.js';
import type { Condition } from './profile.js';

class Emitter {
  readonly steps: Step[] = [];
  private labels = 0;
  label(): Label {
    return { id: this.labels++ };
  }
  place(label: Label): void {
    this.steps.push({ op: 'label', label });
  }
  push(...steps: Step[]): void {
    this.steps.push(...steps);
  }
}

export function generate(ranges: readonly Range[], target: Arch): Step[] {
  const e = new Emitter();
  header(e, target);

  // Outcomes get their labels as the search reaches them; their code follows it.
  const returns = new Map<number, Label>();
  const blocks = new Map<string, { label: Label; outcome: Outcome & { kind: 'block' } }>();
  const labelOf = (range: Range): Label => {
    const o = range.outcome;
    if (o.kind === 'ret') {
      if (!returns.has(o.k)) returns.set(o.k, e.label());
      return returns.get(o.k)!;
    }
    if (!blocks.has(range.key)) blocks.set(range.key, { label: e.label(), outcome: o });
    return blocks.get(range.key)!.label;
  };

  // 3. Each node splits its ranges in two at a range start.
  const search = (part: readonly Range[]): Label => {
    if (part.length === 1) return labelOf(part[0]!);
    const here = e.label();
    e.place(here);
    const mid = part.length >> 1;
    const jump: Step & { op: 'jump' } = { op: 'jump', cond: 'jge', k: part[mid]!.start, jt: here, jf: here };
    e.push(jump);
    jump.jf = search(part.slice(0, mid));
    jump.jt = search(part.slice(mid));
    return here;
  };
  const root = search(ranges);
  // A single range needs no search: go to its outcome.
  if (ranges.length === 1) e.push({ op: 'ja', target: root });

  // 4.
  for (const [k, label] of returns) {
    e.place(label);
    e.push({ op: 'ret', k });
  }
  // 5.
  for (const { label, outcome } of blocks.values()) {
    e.place(label);
    for (const rule of outcome.rules) {
      const next = e.label();
      for (const c of rule.conditions) {
        const pass = e.label();
        condition(e, c, pass, next);
        e.place(pass);
      }
      e.push({ op: 'ret', k: rule.k });
      e.place(next);
    }
    e.push({ op: 'ret', k: outcome.fallthrough });
  }
  return e.steps;
}

/** 1-2: leaves the syscall number in the accumulator. */
function header(e: Emitter, target: Arch): void {
  const archOk = e.label();
  const killArch = e.label();
  e.push({ op: 'ld', offset: SECCOMP_DATA.arch }, { op: 'jump', cond: 'jeq', k: target.auditArch, jt: archOk, jf: killArch });
  e.place(killArch);
  e.push({ op: 'ret', k: SECCOMP_RET.KILL_PROCESS });
  e.place(archOk);
  e.push({ op: 'ld', offset: SECCOMP_DATA.nr });
  if (target.foreignAbiBits) {
    const nrOk = e.label();
    const killAbi = e.label();
    e.push({ op: 'jump', cond: 'jge', k: target.foreignAbiBits, jt: killAbi, jf: nrOk });
    e.place(killAbi);
    e.push({ op: 'ret', k: SECCOMP_RET.KILL_PROCESS });
    e.place(nrOk);
  }
}

const hi = (v: bigint) => Number(v >> 32n);
const lo = (v: bigint) => Number(v & 0xffffffffn);

/** Code that goes on to `pass` (placed right after it) if the condition holds
 * on the 64-bit argument, else to `fail`. The high halves decide unless they
 * are equal; then the low halves do, compared unsigned like the high ones.
 * Every comparison loads its half first: the accumulator never holds a value
 * that depends on the path taken. */
function condition(e: Emitter, c: Condition, pass: Label, fail: Label): void {
  const ldHi: Step = { op: 'ld', offset: SECCOMP_DATA.argHigh(c.index) };
  const ldLo: Step = { op: 'ld', offset: SECCOMP_DATA.argLow(c.index) };
  const H = hi(c.value);
  const L = lo(c.value);
  const lowHalf = e.label();
  switch (c.op) {
    case 'eq':
    case 'ne': {
      // eq: both halves equal; ne: the opposite answers.
      const [yes, no] = c.op === 'eq' ? [pass, fail] : [fail, pass];
      e.push(ldHi, { op: 'jump', cond: 'jeq', k: H, jt: lowHalf, jf: no });
      e.place(lowHalf);
      e.push(ldLo, { op: 'jump', cond: 'jeq', k: L, jt: yes, jf: no });
      return;
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      // gt/ge hold when the high half is above, lt/le when it is below. On
      // equal high halves: gt <=> lo > L, ge <=> lo >= L, le = !gt, lt = !ge.
      const [above, below] = c.op === 'gt' || c.op === 'ge' ? [pass, fail] : [fail, pass];
      const strict = c.op === 'gt' || c.op === 'le';
      const notAbove = e.label();
      e.push(ldHi, { op: 'jump', cond: 'jgt', k: H, jt: above, jf: notAbove });
      e.place(notAbove);
      e.push({ op: 'jump', cond: 'jeq', k: H, jt: lowHalf, jf: below });
      e.place(lowHalf);
      e.push(ldLo, { op: 'jump', cond: strict ? 'jgt' : 'jge', k: L, jt: above, jf: below });
      return;
    }
    case 'masked-eq': {
      // (arg & value) == valueTwo, half by half. A half whose mask and wanted
      // value are both 0 always matches: no code for it.
      const V = c.valueTwo;
      if (H !== 0 || hi(V) !== 0) e.push(ldHi, { op: 'and', k: H }, { op: 'jump', cond: 'jeq', k: hi(V), jt: lowHalf, jf: fail });
      e.place(lowHalf);
      if (L !== 0 || lo(V) !== 0) e.push(ldLo, { op: 'and', k: L }, { op: 'jump', cond: 'jeq', k: lo(V), jt: pass, jf: fail });
      return;
    }
  }
}
