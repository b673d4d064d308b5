// What holds for every library whatever the policy says: an ELF shared object
// for this machine, and nobody but root or a trusted owner able to change it or
// any directory above it (as sudo and sshd's StrictModes require of their
// files). The policy cannot allow a library that fails these.
import fs from 'node:fs';
import path from 'node:path';

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

function writableBy(mode: number): string | undefined {
  if (mode & 0o002) return 'others';
  if (mode & 0o020) return 'its group';
  return undefined;
}

/** Why someone besides root or a trusted owner could change file (or swap it
 * through a directory above it), or undefined. `label` names it ("library x"). */
export function ownershipProblem(file: string, label: string, trustedOwners: Set<number>, rationale: string): string | undefined {
  for (let p = file; ; p = path.dirname(p)) {
    const st = fs.lstatSync(p);
    const what = p === file ? label : `directory ${p} above ${label}`;
    if (!trustedOwners.has(st.uid)) return `${what} is owned by uid ${st.uid}, not by root or a trusted owner: ${rationale}`;
    const who = writableBy(st.mode);
    if (who) return `${what} is writable by ${who} (mode 0${(st.mode & 0o7777).toString(8)}): ${rationale}`;
    if (p === '/') return undefined;
  }
}

/** Returns why the library may not be loaded, or undefined. */
export function libraryProblem(file: string, trustedOwners: Set<number>): string | undefined {
  const elf = elfProblem(file);
  if (elf) return `library ${file} ${elf}: only ELF shared objects for 64-bit x86 are loaded`;
  return ownershipProblem(file, `library ${file}`, trustedOwners, 'only libraries that nobody but root or a trusted owner can change are loaded');
}
