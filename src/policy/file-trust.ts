// Whom a file can be trusted from: nobody but root or a trusted owner may be
// able to change it, nor any directory above it (as sudo and sshd's
// StrictModes require of their files). Libraries must pass this whatever the
// policy says (library-checks.ts), and so must the policy's own files
// (policy-files.ts) and the state directories (state-dir.ts): whoever can
// change either decides what runs.
//
// Two kinds of writable directory above the file change nothing for who can
// replace it, and are accepted (as sudo accepts group root):
// - writable through its group only, when that group is root's (gid 0) or a
//   trusted group: one whose members, listed or by their primary group, are
//   all trusted owners (a tar extracted by root leaves 0775 root:root);
// - writable by others or its group but sticky (/tmp), when the entry below
//   it on the way to the file is owned by a trusted owner: the sticky bit
//   stops anyone else from renaming or removing that entry.
// The file itself gets no such exception.
import fs from 'node:fs';
import path from 'node:path';
import { groupMemberUids } from './names.js';

/** Who besides the owner may write, from a mode; undefined: nobody. */
export function writableBy(mode: number): string | undefined {
  if (mode & 0o002) return 'others';
  if (mode & 0o020) return 'its group';
  return undefined;
}

export interface TrustRule {
  /** Uids that may own the file and its directories. */
  owners: Set<number>;
  /** How the file is named in a problem: "library /x/lib.so", "policy file /etc/p.json". */
  noun: string;
  /** What the directories are above: "library /x/lib.so". */
  above: string;
  /** Why, appended to a problem. */
  rationale: string;
}

/** Why the file, or a directory above it, could be changed by someone untrusted; undefined if nobody can. lstat: symlinks are not followed (a canonical path has none). */
export function trustProblem(file: string, rule: TrustRule): string | undefined {
  let below: fs.Stats | undefined; // the entry of the previous step, inside p
  for (let p = file; ; p = path.dirname(p)) {
    const st = fs.lstatSync(p);
    const what = p === file ? rule.noun : `directory ${p} above ${rule.above}`;
    const problem = below !== undefined && harmlessDirectory(st, below, rule.owners) ? undefined : statProblem(st, rule);
    if (problem) return `${what} ${problem}: ${rule.rationale}`;
    if (p === '/') return undefined;
    below = st;
  }
}

const STICKY = 0o1000;

/** A directory owned by a trusted owner, writable by others only in one of the two harmless ways above. */
function harmlessDirectory(st: fs.Stats, below: fs.Stats, owners: Set<number>): boolean {
  if (!owners.has(st.uid)) return false;
  if (st.mode & STICKY) return owners.has(below.uid);
  return writableBy(st.mode) === 'its group' && isTrustedGroup(st.gid, owners);
}

/** Group memberships change rarely: looked up again after this long. */
const GROUP_CACHE_MS = 60_000;
const groupCache = new Map<number, { uids: Array<number | undefined>; at: number }>();

/** Root's group, or one whose every member is a trusted owner (and has members). */
function isTrustedGroup(gid: number, owners: Set<number>): boolean {
  if (gid === 0) return true;
  let entry = groupCache.get(gid);
  if (!entry || Date.now() - entry.at > GROUP_CACHE_MS) {
    entry = { uids: groupMemberUids(gid), at: Date.now() };
    groupCache.set(gid, entry);
  }
  return entry.uids.length > 0 && entry.uids.every((uid) => uid !== undefined && owners.has(uid));
}

/** The owner and mode part of the rule, for one file's status (an open file's fstat, say). */
export function statProblem(st: fs.Stats, rule: Pick<TrustRule, 'owners'>): string | undefined {
  if (!rule.owners.has(st.uid)) return `is owned by uid ${st.uid}, not by root or a trusted owner`;
  const who = writableBy(st.mode);
  if (who) return `is writable by ${who} (mode 0${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}
