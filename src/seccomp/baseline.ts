// Rules every sandbox gets whatever its profile, and with none: they keep one
// call from holding what other tenants or the host share, which no profile
// author should have to think of. They are merged into the profile the
// launcher installs (launcher-filter.ts) and, like any rule, the most
// restrictive action wins: a profile that kills one of these calls still kills
// it; one that allows it gets the errno.
//
// - Disk reserved past a file's end is not bounded by RLIMIT_FSIZE (the output
//   limit): fallocate with any mode but 0 (FALLOC_FL_KEEP_SIZE, and the modes
//   that need it or move extents) and the preallocation ioctls (FS_IOC_RESVSP,
//   which is fallocate(KEEP_SIZE)) answer EOPNOTSUPP, as on a file system that
//   lacks them. Plain fallocate (posix_fallocate) grows the file and meets the
//   limit like a write.
// - File locks are taken on inodes, and the sandbox shares inodes with the host
//   and other tenants (system files, libraries, input files, bind-mounted
//   read-only): a lock there would block them. So every lock call answers
//   ENOLCK ("no locks available", as on a file system without locking): flock,
//   and fcntl's POSIX and open-file-description locks and leases. The files a
//   call could lock without harm (its private /tmp) are its alone anyway.
//
// The commands of fcntl and ioctl, and fallocate's mode, are 32-bit in the
// kernel: compared on the low 32 bits, so that garbage in the high bits cannot
// slip a command past (fallocate's "not 0" test is on all 64 bits, which can
// only refuse more).
import type { Action } from './actions.js';
import { errnoNumber } from './errno.js';
import type { Condition, Profile, Rule } from './profile.js';
import { syscallNumber } from './syscalls.js';
import type { ArchName } from './arch.js';

const POINTER = '(fnjail baseline)';

/** fcntl commands that take, test or lease locks (linux/fcntl.h). */
export const LOCK_COMMANDS = {
  F_GETLK: 5,
  F_SETLK: 6,
  F_SETLKW: 7,
  F_OFD_GETLK: 36,
  F_OFD_SETLK: 37,
  F_OFD_SETLKW: 38,
  F_SETLEASE: 1024,
} as const;

/** ioctl requests that reserve disk space past a file's end (_IOW('X', 40 / 42, struct space_resv)). */
export const RESERVE_IOCTLS = { FS_IOC_RESVSP: 0x40305828, FS_IOC_RESVSP64: 0x4030582a } as const;

const errno = (name: string): Action => ({ kind: 'errno', errno: errnoNumber(name)! });
const low32is = (index: number, value: number): Condition => ({ index, op: 'masked-eq', value: 0xffffffffn, valueTwo: BigInt(value) });

export function baselineRules(arch: ArchName): Rule[] {
  const nr = (name: string) => {
    const number = syscallNumber(name, arch);
    if (number === undefined) throw new Error(`system call ${name} has no number on ${arch}`);
    return number;
  };
  const rule = (name: string, action: Action, conditions: Condition[] = []): Rule => ({
    syscalls: [nr(name)],
    action,
    conditions,
    pointer: POINTER,
  });
  return [
    rule('fallocate', errno('EOPNOTSUPP'), [{ index: 1, op: 'ne', value: 0n, valueTwo: 0n }]),
    ...Object.values(RESERVE_IOCTLS).map((request) => rule('ioctl', errno('EOPNOTSUPP'), [low32is(1, request)])),
    rule('flock', errno('ENOLCK')),
    ...Object.values(LOCK_COMMANDS).map((command) => rule('fcntl', errno('ENOLCK'), [low32is(1, command)])),
  ];
}

/** The profile with the baseline rules added. */
export function withBaseline(profile: Profile): Profile {
  return { ...profile, rules: [...profile.rules, ...baselineRules(profile.arch)] };
}

/** What `--seccomp none` installs: everything allowed but the baseline. */
export function baselineOnly(arch: ArchName = 'x86_64'): Profile {
  return { name: 'none', file: POINTER, arch, defaultAction: { kind: 'allow' }, rules: baselineRules(arch) };
}
