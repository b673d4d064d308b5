// What holds for every library whatever the policy says: an ELF shared object
// for this machine, and nobody but root or a trusted owner able to change it or
// any directory above it (as sudo and sshd's StrictModes require of their
// files). The policy cannot allow a library that fails these.
//
// Two kinds of writable directory change nothing for who can replace the
// library, and are accepted (as sudo accepts group root):
// - writable through its group only, when that group is root's (gid 0) or a
//   trusted group: one whose members, listed or by their primary group, are
//   all root or trusted owners (a tar extracted by root leaves 0775 root:root);
// - writable by others or its group but sticky (/tmp), when the entry below
//   it on the way to the library is owned by root or a trusted owner: the
//   sticky bit stops anyone else from renaming or removing that entry.
import fs from 'node:fs';
import path from 'node:path';
import { groupMemberUids } from './names.js';

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

const STICKY = 0o1000;
/** Group memberships change rarely: looked up again after this long. */
const GROUP_CACHE_MS = 60_000;
const groupCache = new Map<number, { uids: Array<number | undefined>; at: number }>();

/** Root's group, or one whose every member is root or a trusted owner (and has members). */
function isTrustedGroup(gid: number, trustedOwners: Set<number>): boolean {
  if (gid === 0) return true;
  let entry = groupCache.get(gid);
  if (!entry || Date.now() - entry.at > GROUP_CACHE_MS) {
    entry = { uids: groupMemberUids(gid), at: Date.now() };
    groupCache.set(gid, entry);
  }
  return entry.uids.length > 0 && entry.uids.every((uid) => uid !== undefined && trustedOwners.has(uid));
}

/** Returns why the library may not be loaded, or undefined. */
export function libraryProblem(file: string, trustedOwners: Set<number>): string | undefined {
  const elf = elfProblem(file);
  if (elf) return `library ${file} ${elf}: only ELF shared objects for 64-bit x86 are loaded`;
  const rationale = 'only libraries that nobody but root or a trusted owner can change are loaded';
  let below: fs.Stats | undefined; // the entry of the previous step, inside p
  for (let p = file; ; p = path.dirname(p)) {
    const st = fs.lstatSync(p);
    const what = p === file ? `library ${file}` : `directory ${p} above library ${file}`;
    if (!trustedOwners.has(st.uid)) return `${what} is owned by uid ${st.uid}, not by root or a trusted owner: ${rationale}`;
    const who = writableBy(st.mode);
    const harmless =
      below !== undefined &&
      ((st.mode & STICKY && trustedOwners.has(below.uid)) || (who === 'its group' && isTrustedGroup(st.gid, trustedOwners)));
    if (who && !harmless) return `${what} is writable by ${who} (mode 0${(st.mode & 0o7777).toString(8)}): ${rationale}`;
    if (p === '/') return undefined;
    below = st;
  }
}
