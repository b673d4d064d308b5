// System call names <-> numbers, from the tables generated at build time from
// the kernel headers (scripts/gen-syscall-table.mjs); nothing typed by hand.
import { arch, type ArchName } from './arch.js';

const reverse = new Map<string, Map<number, string>>();

/** The number of a system call, or undefined if this architecture has none by that name. */
export function syscallNumber(name: string, archName?: ArchName): number | undefined {
  const table = arch(archName).syscalls;
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** The name of a system call number, or undefined if the table has none. */
export function syscallName(nr: number, archName?: ArchName): string | undefined {
  const a = arch(archName);
  let names = reverse.get(a.name);
  if (!names) {
    names = new Map(Object.entries(a.syscalls).map(([name, n]) => [n, name]));
    reverse.set(a.name, names);
  }
  return names.get(nr);
}

/** Every system call name of the architecture. */
export function syscallNames(archName?: ArchName): string[] {
  return Object.keys(arch(archName).syscalls);
}
