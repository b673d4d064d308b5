// A readable listing of a seccomp BPF program: absolute jump targets, the
// seccomp_data field each load reads, syscall names next to the numbers the
// syscall number is compared with, return values spelled out. Works on any
// classic BPF program (libseccomp's too), not only on fnjail's.
import { SECCOMP_RET, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_DATA } from './actions.js';
import { ARCHES, SECCOMP_DATA, X32_SYSCALL_BIT, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, type ArchName } from './arch.js';
import * as B from './bpf.js';
import { errnoName } from './errno.js';
import { syscallName } from './syscalls.js';

const ARCH_NAMES = new Map<number, string>([
  ...Object.values(ARCHES).map((a): [number, string] => [a.auditArch, `AUDIT_ARCH_${a.name.toUpperCase()}`]),
  [AUDIT_ARCH_I386, 'AUDIT_ARCH_I386'],
  [AUDIT_ARCH_AARCH64, 'AUDIT_ARCH_AARCH64'],
]);

/** "KILL_PROCESS", "ERRNO(ENOSYS)", "ALLOW", ... */
export function describeReturn(k: number): string {
  const action = (k & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = k & SECCOMP_RET_DATA;
  const name = Object.entries(SECCOMP_RET).find(([, v]) => v === action)?.[0];
  if (!name) return `0x${k.toString(16)}`;
  if (action === SECCOMP_RET.ERRNO) return `ERRNO(${errnoName(data) ?? data})`;
  return data ? `${name}(${data})` : name;
}

/** The seccomp_data field at a byte offset. */
function field(offset: number): string {
  if (offset === SECCOMP_DATA.nr) return 'nr';
  if (offset === SECCOMP_DATA.arch) return 'arch';
  if (offset === SECCOMP_DATA.instructionPointer) return 'instruction_pointer low';
  if (offset === SECCOMP_DATA.instructionPointer + 4) return 'instruction_pointer high';
  const arg = (offset - 16) >> 3;
  if (offset >= 16 && offset < SECCOMP_DATA.size && offset % 4 === 0) {
    return `args[${arg}] ${offset === SECCOMP_DATA.argLow(arg) ? 'low' : 'high'}`;
  }
  return `offset ${offset}`;
}

const hex = (k: number) => (k > 255 ? `0x${k.toString(16)}` : String(k));
const pad = (n: number) => String(n).padStart(4, '0');
const ALU_NAMES: Record<number, string> = {
  [B.BPF_ADD]: 'add', [B.BPF_SUB]: 'sub', [B.BPF_MUL]: 'mul', [B.BPF_DIV]: 'div', [B.BPF_OR]: 'or',
  [B.BPF_AND]: 'and', [B.BPF_LSH]: 'lsh', [B.BPF_RSH]: 'rsh', [B.BPF_MOD]: 'mod', [B.BPF_XOR]: 'xor', [B.BPF_NEG]: 'neg',
};
const JUMP_NAMES: Record<number, string> = { [B.BPF_JEQ]: 'jeq', [B.BPF_JGT]: 'jgt', [B.BPF_JGE]: 'jge', [B.BPF_JSET]: 'jset' };

export function disassemble(program: Buffer, archName?: ArchName): string {
  const code = B.decode(program);
  // What the accumulator holds on entry to each instruction ('' when unknown
  // or when paths disagree), so comparisons can be annotated.
  const incoming: (string | undefined)[] = [];
  const flow = (to: number, holds: string) => {
    if (to >= code.length) return;
    const before = incoming[to];
    incoming[to] = before === undefined || before === holds ? holds : '';
  };
  const lines = code.map((insn, i) => {
    const holds = incoming[i] ?? '';
    const cls = insn.code & 0x07;
    let text: string;
    let after = holds;
    let note = '';
    switch (cls) {
      case B.BPF_LD:
      case B.BPF_LDX: {
        const reg = cls === B.BPF_LD ? 'ld  ' : 'ldx ';
        const mode = insn.code & 0xe0;
        if (mode === B.BPF_ABS) {
          text = `${reg} [${insn.k}]`;
          note = field(insn.k);
        } else if (mode === B.BPF_MEM) text = `${reg} M[${insn.k}]`;
        else if (mode === B.BPF_LEN) text = `${reg} len`;
        else text = `${reg} #${hex(insn.k)}`;
        if (cls === B.BPF_LD) after = mode === B.BPF_ABS ? field(insn.k) : '';
        break;
      }
      case B.BPF_ST:
      case B.BPF_STX:
        text = `${cls === B.BPF_ST ? 'st  ' : 'stx '} M[${insn.k}]`;
        break;
      case B.BPF_ALU: {
        const op = ALU_NAMES[insn.code & 0xf0] ?? '?alu';
        text = op === 'neg' ? 'neg' : `${op.padEnd(4)} ${insn.code & B.BPF_X ? 'x' : `#${hex(insn.k)}`}`;
        after = holds && `${holds} (${text})`;
        break;
      }
      case B.BPF_JMP: {
        if ((insn.code & 0xf0) === B.BPF_JA) {
          text = `ja   ${pad(i + 1 + insn.k)}`;
          flow(i + 1 + insn.k, holds);
          return { i, text, note: '' };
        }
        const op = JUMP_NAMES[insn.code & 0xf0] ?? '?jmp';
        // Syscall numbers read best in decimal, as in the tables.
        const operand = insn.code & B.BPF_X ? 'x' : holds === 'nr' && insn.k < 0x10000 ? `#${insn.k}` : `#${hex(insn.k)}`;
        text = `${op.padEnd(4)} ${operand.padEnd(12)} jt ${pad(i + 1 + insn.jt)}  jf ${pad(i + 1 + insn.jf)}`;
        if (!(insn.code & B.BPF_X)) note = annotate(holds, insn.k, archName);
        flow(i + 1 + insn.jt, holds);
        flow(i + 1 + insn.jf, holds);
        return { i, text, note };
      }
      case B.BPF_RET:
        text = insn.code & B.BPF_A ? 'ret  a' : `ret  ${describeReturn(insn.k)}`;
        return { i, text, note: '' };
      default:
        text = (insn.code & 0xf8) === B.BPF_TXA ? 'txa' : 'tax';
        after = (insn.code & 0xf8) === B.BPF_TXA ? '' : holds;
    }
    flow(i + 1, after);
    return { i, text, note };
  });
  const body = lines.map((l) => `${pad(l.i)}: ${l.note ? `${l.text.padEnd(40)} ; ${l.note}` : l.text}`);
  return `${body.join('\n')}\n${code.length} instructions, ${program.length} bytes\n`;
}

function annotate(holds: string, k: number, archName?: ArchName): string {
  if (holds === 'nr') {
    if (k === X32_SYSCALL_BIT) return 'x32 ABI';
    return syscallName(k, archName) ?? '';
  }
  if (holds === 'arch') return ARCH_NAMES.get(k) ?? '';
  return '';
}
