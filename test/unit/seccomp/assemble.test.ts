// The assembler on its own: symbolic steps with far jumps, checked by running
// the steps directly and the assembled program in the interpreter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble, ProgramTooLarge, type Label, type Step } from '../../../src/seccomp/assemble.js';
import { encode } from '../../../src/seccomp/bpf.js';
import { checkLikeKernel, runFilter } from '../../helpers/seccomp/bpf-interpreter.js';
import { int, pick, seeded, type Random } from '../../helpers/seccomp/random.js';

let ids = 0;
const label = (): Label => ({ id: ids++ });
const filler = (n: number): Step[] => Array.from({ length: n }, () => ({ op: 'ld', offset: 0 }) as Step);

/** What the steps answer for syscall number `nr`, read as a straight list. */
function runSteps(steps: readonly Step[], nr: number): number {
  const at = new Map<Label, number>();
  steps.forEach((s, i) => s.op === 'label' && at.set(s.label, i));
  let A = 0;
  for (let pc = 0; pc < steps.length; ) {
    const s = steps[pc]!;
    switch (s.op) {
      case 'label': pc++; break;
      case 'ld': A = nr; pc++; break; // only offset 0 here
      case 'and': A = (A & s.k) >>> 0; pc++; break;
      case 'ret': return s.k;
      case 'ja': pc = at.get(s.target)!; break;
      case 'jump': {
        const taken = s.cond === 'jeq' ? A === s.k : s.cond === 'jgt' ? A > s.k : s.cond === 'jge' ? A >= s.k : (A & s.k) !== 0;
        pc = at.get(taken ? s.jt : s.jf)!;
      }
    }
  }
  throw new Error('fell off');
}

const program = (steps: Step[]) => encode(assemble(steps));

test('a jump whose two targets are both out of reach gets two trampolines', () => {
  const yes = label();
  const no = label();
  const steps: Step[] = [
    { op: 'ld', offset: 0 },
    { op: 'jump', cond: 'jeq', k: 7, jt: yes, jf: no },
    ...filler(400),
    { op: 'label', label: yes },
    { op: 'ret', k: 1 },
    { op: 'label', label: no },
    { op: 'ret', k: 2 },
  ];
  const code = assemble(steps);
  assert.deepEqual(code.slice(1, 4), [
    { code: 0x15, jt: 0, jf: 1, k: 7 },
    { code: 0x05, jt: 0, jf: 0, k: 401 }, // ja yes
    { code: 0x05, jt: 0, jf: 0, k: 401 }, // ja no
  ]);
  assert.equal(runFilter(encode(code), { nr: 7, arch: 0, args: [] }), 1);
  assert.equal(runFilter(encode(code), { nr: 8, arch: 0, args: [] }), 2);
});

test('a jump of exactly 255 stays short; of 256 it needs a trampoline', () => {
  for (const [offset, short] of [[255, true], [256, false]] as const) {
    const far = label();
    const near = label();
    const steps: Step[] = [
      { op: 'ld', offset: 0 },
      { op: 'jump', cond: 'jgt', k: 5, jt: far, jf: near },
      { op: 'label', label: near },
      ...filler(offset - 1),
      { op: 'ret', k: 2 },
      { op: 'label', label: far },
      { op: 'ret', k: 1 },
    ];
    const code = assemble(steps);
    // The far target is `offset` instructions after the one following the jump.
    assert.deepEqual([code[1]!.jt, code[1]!.jf], short ? [offset, 0] : [0, 1], `offset ${offset}`);
    assert.equal(code.some((i) => i.code === 0x05), !short);
    assert.equal(runSteps(steps, 6), runFilter(encode(code), { nr: 6, arch: 0, args: [] }));
  }
});

/** Jumps to random later places, far and near; trampolines push other
 * jumps out of reach, which the layout loop must catch. */
function randomSteps(rng: Random): Step[] {
  const exits = Array.from({ length: 1 + int(rng, 6) }, label);
  const body: Step[] = [{ op: 'ld', offset: 0 }];
  const pending: Label[] = [];
  const jumps = 5 + int(rng, 60);
  for (let j = 0; j < jumps; j++) {
    // Place some pending labels here (targets of earlier jumps).
    while (pending.length && rng() < 0.3) body.push({ op: 'label', label: pending.pop()! });
    const target = () => {
      if (rng() < 0.5) return pick(rng, exits);
      const l = label();
      pending.push(l);
      return l;
    };
    body.push(...filler(int(rng, 3) === 0 ? int(rng, 120) : int(rng, 4)));
    body.push({ op: 'jump', cond: pick(rng, ['jeq', 'jgt', 'jge', 'jset'] as const), k: int(rng, 64), jt: target(), jf: target() });
  }
  for (const l of pending) body.push({ op: 'label', label: l });
  body.push({ op: 'ret', k: 1000 });
  exits.forEach((l, i) => body.push(...filler(int(rng, 50)), { op: 'label', label: l }, { op: 'ret', k: i }));
  return body;
}

test('random programs with far jumps do what their steps say', () => {
  const rng = seeded(31);
  let trampolines = 0;
  for (let round = 0; round < 300; round++) {
    const steps = randomSteps(rng);
    let p: Buffer;
    try {
      p = program(steps);
    } catch (e) {
      assert.ok(e instanceof ProgramTooLarge);
      continue;
    }
    checkLikeKernel(p);
    trampolines += assemble(steps).filter((i) => i.code === 0x05).length;
    for (let nr = 0; nr < 70; nr++) assert.equal(runFilter(p, { nr, arch: 0, args: [] }), runSteps(steps, nr), `round ${round} nr ${nr}`);
  }
  assert.ok(trampolines > 100, `only ${trampolines} trampolines: the test does not reach far`);
});

test('backward jumps and labels after the end are refused', () => {
  const back = label();
  assert.throws(() => assemble([{ op: 'label', label: back }, { op: 'ld', offset: 0 }, { op: 'ja', target: back }]), /only forward/);
  const end = label();
  assert.throws(() => assemble([{ op: 'ja', target: end }, { op: 'label', label: end }]), /after the last instruction/);
  assert.throws(() => assemble(filler(4097)), ProgramTooLarge);
  assert.equal(assemble([...filler(4095), { op: 'ret', k: 0 }]).length, 4096);
});
