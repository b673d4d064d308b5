// What holds for every library whatever the policy says: an ELF shared object
// for this machine, and nobody but root or a trusted owner able to change it or
// any directory above it (file-trust.ts, which also says which writable
// directories are harmless). The policy cannot allow a library that fails these.
import fs from 'node:fs';
import { trustProblem } from './file-trust.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_DYN = 3;
const EM_X86_64 = 62;

function elfProblem(file: string): string | undefined {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  let read: number;
  try {
    read = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read < header.length || !header.subarray(0, 4).equals(ELF_MAGIC)) return 'is not an ELF file';
  if (header[4] !== ELFCLASS64 || header[5] !== ELFDATA2LSB || header.readUInt16LE(18) !== EM_X86_64) {
    return 'is an ELF file for another machine (not 64-bit x86)';
  }
  if (header.readUInt16LE(16) !== ET_DYN) return 'is an ELF file but not a shared object';
  return undefined;
}

/** Returns why the library may not be loaded, or undefined. */
export function libraryProblem(file: string, trustedOwners: Set<number>): string | undefined {
  const elf = elfProblem(file);
  if (elf) return `library ${file} ${elf}: only ELF shared objects for 64-bit x86 are loaded`;
  return trustProblem(file, {
    owners: trustedOwners,
    noun: `library ${file}`,
    above: `library ${file}`,
    rationale: 'only libraries that nobody but root or a trusted owner can change are loaded',
  });
}
