// Classic BPF as seccomp uses it: the opcode bits of linux/filter.h and the
// 8-byte `struct sock_filter` encoding (u16 code, u8 jt, u8 jf, u32 k, in the
// machine's byte order, little-endian on every architecture fnjail supports).

// Instruction classes.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

// Load size and mode.
export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;

// ALU operations and jump conditions.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

// Operand source, return source, misc operations.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** jt/jf are 8-bit offsets: a conditional jump reaches at most this far. */
export const MAX_SHORT_JUMP = 255;
export const INSTRUCTION_BYTES = 8;

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function encode(program: readonly Instruction[]): Buffer {
  const buffer = Buffer.alloc(program.length * INSTRUCTION_BYTES);
  program.forEach((insn, i) => {
    const at = i * INSTRUCTION_BYTES;
    buffer.writeUInt16LE(insn.code, at);
    buffer.writeUInt8(insn.jt, at + 2);
    buffer.writeUInt8(insn.jf, at + 3);
    buffer.writeUInt32LE(insn.k >>> 0, at + 4);
  });
  return buffer;
}

export function decode(program: Buffer): Instruction[] {
  if (program.length % INSTRUCTION_BYTES !== 0) {
    throw new Error(`a BPF program is a multiple of ${INSTRUCTION_BYTES} bytes, not ${program.length}`);
  }
  const out: Instruction[] = [];
  for (let at = 0; at < program.length; at += INSTRUCTION_BYTES) {
    out.push({
      code: program.readUInt16LE(at),
      jt: program.readUInt8(at + 2),
      jf: program.readUInt8(at + 3),
      k: program.readUInt32LE(at + 4),
    });
  }
  return out;
}
