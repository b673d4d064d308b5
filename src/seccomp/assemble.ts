// Turns a program written with symbolic jump targets into BPF instructions.
// Classic BPF jumps only forward, and a conditional jump reaches at most 255
// instructions: a branch that would go farther is sent to a trampoline, an
// unconditional `ja` (32-bit offset) placed right after the jump. Adding
// trampolines moves code, so layout repeats until no branch is out of reach.
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_MAXINSNS,
  BPF_RET,
  BPF_W,
  MAX_SHORT_JUMP,
  type Instruction,
} from './bpf.js';

export type Label = { readonly id: number };
export type JumpCondition = 'jeq' | 'jgt' | 'jge' | 'jset';

export type Step =
  | { op: 'ld'; offset: number }
  | { op: 'and'; k: number }
  | { op: 'jump'; cond: JumpCondition; k: number; jt: Label; jf: Label }
  | { op: 'ja'; target: Label }
  | { op: 'ret'; k: number }
  | { op: 'label'; label: Label };

export class ProgramTooLarge extends Error {
  constructor(readonly instructions: number) {
    super(`the seccomp program needs ${instructions} instructions; the kernel accepts at most ${BPF_MAXINSNS}`);
    this.name = 'ProgramTooLarge';
  }
}

const JUMP_CODES: Record<JumpCondition, number> = { jeq: BPF_JEQ, jgt: BPF_JGT, jge: BPF_JGE, jset: BPF_JSET };

type Real = Exclude<Step, { op: 'label' }>;

export function assemble(steps: readonly Step[]): Instruction[] {
  // Where each label points, counted in real (non-label) steps.
  const real: Real[] = [];
  const at = new Map<Label, number>();
  for (const step of steps) {
    if (step.op === 'label') at.set(step.label, real.length);
    else real.push(step);
  }
  const targetOf = (from: number, label: Label): number => {
    const i = at.get(label);
    if (i === undefined || i >= real.length) throw new Error('jump to a label placed after the last instruction');
    if (i <= from) throw new Error('BPF jumps only forward');
    return i;
  };

  // far[i][b]: branch b (0: jt, 1: jf) of step i goes through a trampoline.
  // Marks are only ever added, so the loop ends.
  const far = real.map(() => [false, false]);
  for (;;) {
    const position = layout(real, far);
    let changed = false;
    real.forEach((step, i) => {
      if (step.op !== 'jump') return;
      [step.jt, step.jf].forEach((label, b) => {
        if (!far[i]![b] && position[targetOf(i, label)]! - position[i]! - 1 > MAX_SHORT_JUMP) {
          far[i]![b] = true;
          changed = true;
        }
      });
    });
    if (!changed) return emit(real, far, position, targetOf);
  }
}

/** The position of each step once trampolines are in; checks the size limit. */
function layout(real: readonly Real[], far: readonly boolean[][]): number[] {
  const position: number[] = [];
  let p = 0;
  real.forEach((step, i) => {
    position.push(p);
    p += 1 + (step.op === 'jump' ? far[i]!.filter(Boolean).length : 0);
  });
  if (p > BPF_MAXINSNS) throw new ProgramTooLarge(p);
  return position;
}

function emit(
  real: readonly Real[],
  far: readonly boolean[][],
  position: readonly number[],
  targetOf: (from: number, label: Label) => number,
): Instruction[] {
  const out: Instruction[] = [];
  const insn = (code: number, k: number, jt = 0, jf = 0) => out.push({ code, jt, jf, k: k >>> 0 });
  // Offsets count from the instruction after the jump.
  const offset = (from: number, label: Label) => position[targetOf(from, label)]! - out.length - 1;
  real.forEach((step, i) => {
    switch (step.op) {
      case 'ld':
        return insn(BPF_LD | BPF_W | BPF_ABS, step.offset);
      case 'and':
        return insn(BPF_ALU | BPF_AND | BPF_K, step.k);
      case 'ret':
        return insn(BPF_RET | BPF_K, step.k);
      case 'ja':
        return insn(BPF_JMP | BPF_JA, offset(i, step.target));
      case 'jump': {
        const [farT, farF] = far[i]!;
        // [jump][ja to jt's target, if far][ja to jf's target, if far]
        const jt = farT ? 0 : offset(i, step.jt);
        const jf = farF ? Number(farT) : offset(i, step.jf);
        insn(BPF_JMP | JUMP_CODES[step.cond] | BPF_K, step.k, jt, jf);
        if (farT) insn(BPF_JMP | BPF_JA, offset(i, step.jt));
        if (farF) insn(BPF_JMP | BPF_JA, offset(i, step.jf));
        return;
      }
    }
  });
  return out;
}
