// The architectures a profile can be compiled for, and the layout of the
// `struct seccomp_data` a filter reads. Only x86_64 for now; a second
// architecture is one more entry here with its own generated syscall table.
import { SYSCALLS_X86_64 } from './generated/syscalls-x86_64.js';

export interface Arch {
  name: string;
  /** AUDIT_ARCH_* of linux/audit.h, as seccomp_data.arch holds it. */
  auditArch: number;
  /** Syscall numbers with any of these bits belong to another ABI sharing the
   * arch value (x32 on x86_64): refused, or a filter keyed on x86_64 numbers
   * would be bypassed. 0 when the architecture has no such ABI. */
  foreignAbiBits: number;
  syscalls: Readonly<Record<string, number>>;
}

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
export const X32_SYSCALL_BIT = 0x40000000;

export const ARCHES: Readonly<Record<string, Arch>> = {
  x86_64: { name: 'x86_64', auditArch: AUDIT_ARCH_X86_64, foreignAbiBits: X32_SYSCALL_BIT, syscalls: SYSCALLS_X86_64 },
};

export type ArchName = 'x86_64';
export const DEFAULT_ARCH: ArchName = 'x86_64';

export function arch(name: ArchName = DEFAULT_ARCH): Arch {
  const found = ARCHES[name];
  if (!found) throw new Error(`unknown architecture '${name}'`);
  return found;
}

/** Offsets in struct seccomp_data (linux/seccomp.h). */
export const SECCOMP_DATA = {
  nr: 0,
  arch: 4,
  instructionPointer: 8,
  /** args[i] is a u64; on a little-endian machine its low half comes first. */
  argLow: (index: number) => 16 + 8 * index,
  argHigh: (index: number) => 16 + 8 * index + 4,
  size: 64,
} as const;
