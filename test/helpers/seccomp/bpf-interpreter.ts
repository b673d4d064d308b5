// A classic BPF interpreter for seccomp programs, written from the kernel's
// rules (net/core/filter.c bpf_check_classic, kernel/seccomp.c
// seccomp_check_filter) and independent of fnjail's compiler: it runs any
// program, fnjail's or libseccomp's, against a struct seccomp_data.

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Six unsigned 64-bit arguments (missing ones are 0). */
  args: readonly bigint[];
}

const SECCOMP_DATA_SIZE = 64;
const MAX_INSNS = 4096;
const MEM_WORDS = 16;

// Opcodes seccomp accepts (seccomp_check_filter), by value.
const LD_W_ABS = 0x20;
const LD_W_LEN = 0x80;
const LDX_W_LEN = 0x81;
const LD_IMM = 0x00;
const LDX_IMM = 0x01;
const LD_MEM = 0x60;
const LDX_MEM = 0x61;
const ST = 0x02;
const STX = 0x03;
const RET_K = 0x06;
const RET_A = 0x16;
const TAX = 0x07;
const TXA = 0x87;
const JA = 0x05;
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0]; // add sub mul div or and lsh rsh xor
const NEG = 0x84;
const JUMPS = [0x10, 0x20, 0x30, 0x40]; // jeq jgt jge jset

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function decode(program: Buffer): Insn[] {
  const out: Insn[] = [];
  for (let at = 0; at + 8 <= program.length; at += 8) {
    out.push({ code: program.readUInt16LE(at), jt: program[at + 2]!, jf: program[at + 3]!, k: program.readUInt32LE(at + 4) });
  }
  return out;
}

function allowed(code: number): boolean {
  if ([LD_W_ABS, LD_W_LEN, LDX_W_LEN, LD_IMM, LDX_IMM, LD_MEM, LDX_MEM, ST, STX, RET_K, RET_A, TAX, TXA, JA, NEG].includes(code)) {
    return true;
  }
  if ((code & 0x07) === 0x04) return ALU_OPS.includes(code & 0xf0) && (code & ~0xf8) === 0x04;
  if ((code & 0x07) === 0x05) return JUMPS.includes(code & 0xf0) && (code & ~0xf8) === 0x05;
  return false;
}

/** Throws, saying why, if the kernel would refuse the program. */
export function checkLikeKernel(program: Buffer): void {
  if (program.length % 8 !== 0) throw new Error(`program of ${program.length} bytes is not whole instructions`);
  const code = decode(program);
  if (code.length === 0 || code.length > MAX_INSNS) throw new Error(`program of ${code.length} instructions`);
  code.forEach((insn, i) => {
    if (!allowed(insn.code)) throw new Error(`instruction ${i}: opcode 0x${insn.code.toString(16)} not allowed in seccomp`);
    if (insn.code === LD_W_ABS && (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA_SIZE)) {
      throw new Error(`instruction ${i}: load at offset ${insn.k} outside seccomp_data or unaligned`);
    }
    if ([LD_MEM, LDX_MEM, ST, STX].includes(insn.code) && insn.k >= MEM_WORDS) throw new Error(`instruction ${i}: M[${insn.k}]`);
    if (insn.code === 0x34 /* div k */ && insn.k === 0) throw new Error(`instruction ${i}: division by 0`);
    if (insn.code === JA) {
      if (i + 1 + insn.k >= code.length) throw new Error(`instruction ${i}: ja beyond the end`);
    } else if ((insn.code & 0x07) === 0x05) {
      if (i + 1 + insn.jt >= code.length || i + 1 + insn.jf >= code.length) throw new Error(`instruction ${i}: jump beyond the end`);
    }
  });
  const last = code.at(-1)!;
  if (last.code !== RET_K && last.code !== RET_A) throw new Error('the last instruction is not a return');
}

function dataBuffer(data: SeccompData): Buffer {
  const b = Buffer.alloc(SECCOMP_DATA_SIZE);
  b.writeUInt32LE(data.nr >>> 0, 0);
  b.writeUInt32LE(data.arch >>> 0, 4);
  b.writeBigUInt64LE(data.instructionPointer ?? 0n, 8);
  for (let i = 0; i < 6; i++) b.writeBigUInt64LE(BigInt.asUintN(64, data.args[i] ?? 0n), 16 + 8 * i);
  return b;
}

/** Runs the program on one input; returns the 32-bit return value. */
export function runFilter(program: Buffer, data: SeccompData): number {
  const code = decode(program);
  const input = dataBuffer(data);
  const mem = new Uint32Array(MEM_WORDS);
  let A = 0;
  let X = 0;
  let pc = 0;
  for (let steps = 0; steps <= code.length; steps++) {
    const insn = code[pc];
    if (!insn) throw new Error(`fell off the program at ${pc}`);
    pc++;
    const { code: op, k } = insn;
    if (op === LD_W_ABS) A = input.readUInt32LE(k);
    else if (op === LD_W_LEN) A = SECCOMP_DATA_SIZE;
    else if (op === LDX_W_LEN) X = SECCOMP_DATA_SIZE;
    else if (op === LD_IMM) A = k;
    else if (op === LDX_IMM) X = k;
    else if (op === LD_MEM) A = mem[k]!;
    else if (op === LDX_MEM) X = mem[k]!;
    else if (op === ST) mem[k] = A;
    else if (op === STX) mem[k] = X;
    else if (op === RET_K) return k >>> 0;
    else if (op === RET_A) return A >>> 0;
    else if (op === TAX) X = A;
    else if (op === TXA) A = X;
    else if (op === JA) pc += k;
    else if (op === NEG) A = -A >>> 0;
    else if ((op & 0x07) === 0x04) A = alu(op & 0xf0, A, op & 0x08 ? X : k);
    else if ((op & 0x07) === 0x05) {
      const operand = (op & 0x08 ? X : k) >>> 0;
      const a = A >>> 0;
      const taken =
        (op & 0xf0) === 0x10 ? a === operand : (op & 0xf0) === 0x20 ? a > operand : (op & 0xf0) === 0x30 ? a >= operand : (a & operand) !== 0;
      pc += taken ? insn.jt : insn.jf;
    } else throw new Error(`opcode 0x${op.toString(16)} not supported`);
  }
  throw new Error('program did not return');
}

function alu(op: number, a: number, b: number): number {
  switch (op) {
    case 0x00: return (a + b) >>> 0;
    case 0x10: return (a - b) >>> 0;
    case 0x20: return Math.imul(a, b) >>> 0;
    case 0x30: return b === 0 ? 0 : Math.floor((a >>> 0) / (b >>> 0)) >>> 0;
    case 0x40: return (a | b) >>> 0;
    case 0x50: return (a & b) >>> 0;
    case 0x60: return b >= 32 ? 0 : (a << b) >>> 0;
    case 0x70: return b >= 32 ? 0 : a >>> b;
    case 0xa0: return (a ^ b) >>> 0;
    default: throw new Error(`ALU op 0x${op.toString(16)}`);
  }
}
