// The sandbox uid range (--uid-range), checked against this host before the
// server starts, and claimed for its life.
//
// A sandbox running as a real user's uid could read that user's files and
// signal their processes; two servers drawing from overlapping ranges could
// give two calls the same uid. So a range is refused when any id in it:
// - belongs to an account or group (getent passwd / group: local files and
//   whatever name service enumerates), as a uid or a gid;
// - owns a process (real, effective, saved or file-system uid or gid);
// - owns a file in the server's state directories (the output directory);
// - or overlaps the range of another fnjail server running on this host: each
//   server holds a lock file named after its range under /run/fnjail/uid-ranges
//   (flock, so a crashed server's claim lapses with it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { FnjailError } from '../errors.js';

export interface UidRange {
  first: number;
  last: number;
}

export const UID_RANGE_LOCK_DIR = '/run/fnjail/uid-ranges';
const HINT = 'choose a --uid-range that no account, process, file or other fnjail server on this host uses';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
let flockBinding: ((fd: number, operation: number) => number) | undefined;
function flock(fd: number, operation: number): number {
  flockBinding ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  return flockBinding(fd, operation);
}

const inRange = (range: UidRange, id: number) => id >= range.first && id <= range.last;
const describe = (range: UidRange) => `${range.first}-${range.last}`;

/** Accounts and groups whose uid or gid is in the range, as "user alice (uid 1001)". */
function accountsIn(range: UidRange): string[] {
  const found: string[] = [];
  for (const [database, label] of [['passwd', 'user'], ['group', 'group']] as const) {
    const result = spawnSync('getent', [database], { encoding: 'utf8' });
    const text = result.status === 0 ? result.stdout : fs.readFileSync(`/etc/${database}`, 'utf8');
    for (const line of text.split('\n')) {
      const fields = line.split(':');
      if (fields.length < 4) continue;
      const ids = database === 'passwd' ? [['uid', fields[2]], ['gid', fields[3]]] : [['gid', fields[2]]];
      for (const [kind, value] of ids) {
        if (inRange(range, Number(value))) found.push(`${label} ${fields[0]} (${kind} ${value})`);
      }
    }
  }
  return found;
}

/** Processes running with an id in the range. */
function processesIn(range: UidRange): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
    for (const kind of ['Uid', 'Gid'] as const) {
      const ids = new RegExp(`^${kind}:\\s+(.*)$`, 'm').exec(status)?.[1]?.split(/\s+/).map(Number) ?? [];
      const id = ids.find((value) => inRange(range, value));
      if (id !== undefined) {
        found.push(`process ${entry} (${name}) runs with ${kind.toLowerCase()} ${id}`);
        break;
      }
    }
  }
  return found;
}

/** Files directly in the state directories owned by an id in the range. */
function filesIn(range: UidRange, dirs: string[]): string[] {
  const found: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // not made yet
    }
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        const st = fs.lstatSync(file);
        if (inRange(range, st.uid)) found.push(`${file} is owned by uid ${st.uid}`);
        else if (inRange(range, st.gid)) found.push(`${file} belongs to gid ${st.gid}`);
      } catch {
        // removed meanwhile
      }
    }
  }
  return found;
}

function refuse(range: UidRange, problems: string[]): never {
  const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
  throw new FnjailError('FNJ_UID_RANGE_IN_USE', `--uid-range ${describe(range)} is in use on this host: ${shown}`, HINT);
}

export interface UidRangeClaim {
  /** Gives the range back (at shutdown); the lock lapses with the process anyway. */
  release(): void;
}

/** Holds a lock file for the range while no live server holds an overlapping one. */
function lockRange(range: UidRange, lockDir: string): UidRangeClaim {
  fs.mkdirSync(lockDir, { recursive: true, mode: 0o755 });
  // One server at a time looks and claims, so two starting together cannot both win.
  const guard = fs.openSync(path.join(lockDir, '.claiming'), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    if (flock(guard, LOCK_EX) !== 0) throw new Error(`cannot lock ${lockDir}/.claiming: errno ${koffi.errno()}`);
    for (const name of fs.readdirSync(lockDir)) {
      const match = /^(\d+)-(\d+)$/.exec(name);
      if (!match) continue;
      const other = { first: Number(match[1]), last: Number(match[2]) };
      if (other.last < range.first || other.first > range.last) continue;
      const file = path.join(lockDir, name);
      const fd = fs.openSync(file, fs.constants.O_RDWR);
      try {
        if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
          const pid = fs.readFileSync(file, 'utf8').trim() || '?';
          refuse(range, [`the fnjail server with pid ${pid} uses ${describe(other)} (${file})`]);
        }
        fs.unlinkSync(file); // its server is gone
      } finally {
        fs.closeSync(fd);
      }
    }
    const file = path.join(lockDir, describe(range));
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      fs.closeSync(fd);
      throw new Error(`cannot lock ${file}: errno ${koffi.errno()}`);
    }
    fs.writeSync(fd, `${process.pid}\n`);
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        fs.rmSync(file, { force: true });
        flock(fd, LOCK_UN);
        fs.closeSync(fd);
      },
    };
  } finally {
    flock(guard, LOCK_UN);
    fs.closeSync(guard);
  }
}

/** Refuses a range some account, process, state file or other server uses;
 * claims it for this server otherwise. */
export function claimUidRange(range: UidRange, options: { stateDirs: string[]; lockDir?: string }): UidRangeClaim {
  const problems = [...accountsIn(range), ...processesIn(range), ...filesIn(range, options.stateDirs)];
  if (problems.length) refuse(range, problems);
  return lockRange(range, options.lockDir ?? UID_RANGE_LOCK_DIR);
}
