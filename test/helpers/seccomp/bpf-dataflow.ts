// Static check of a BPF program: which value the accumulator holds where it
// is used. A comparison reached by paths that loaded different fields (one
// with args[0] high, another with args[0] low) decides on a value it does not
// know: fnjail's programs must never contain one. libseccomp 2.5's sometimes
// do (a rule's low-half comparison falls through to the next rule's
// high-half comparison without reloading), which is how the differential test
// tells that bug from a disagreement about meaning.

const LD_W_ABS = 0x20;
const RET = 0x06;
const JA = 0x05;

/** Instruction indexes that use A (jump on A, ALU) while their incoming paths
 * disagree on what A holds. */
export function ambiguousAccumulatorUses(program: Buffer): number[] {
  const n = program.length / 8;
  const incoming: (Set<string> | undefined)[] = [];
  const reach = (to: number, holds: string) => {
    if (to < n) (incoming[to] ??= new Set()).add(holds);
  };
  reach(0, 'nothing');
  const found: number[] = [];
  for (let i = 0; i < n; i++) {
    const code = program.readUInt16LE(i * 8);
    const jt = program[i * 8 + 2]!;
    const jf = program[i * 8 + 3]!;
    const k = program.readUInt32LE(i * 8 + 4);
    const states = incoming[i];
    if (!states) continue; // unreachable
    const cls = code & 0x07;
    const usesA = (cls === 0x05 && code !== JA) || cls === 0x04;
    if (usesA && states.size > 1) found.push(i);
    const holds = [...states].join('|');
    if (cls === RET) continue;
    if (code === JA) {
      reach(i + 1 + k, holds);
      continue;
    }
    if (cls === 0x05) {
      reach(i + 1 + jt, holds);
      reach(i + 1 + jf, holds);
      continue;
    }
    let after = holds;
    if (code === LD_W_ABS) after = `[${k}]`;
    else if (cls === 0x04) after = `${holds} op${code.toString(16)} ${k}`;
    else if (cls === 0x00 || cls === 0x07) after = `other@${i}`;
    reach(i + 1, after);
  }
  return found;
}
