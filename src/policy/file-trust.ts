// Whom a file can be trusted from: nobody but root or a trusted owner may be
// able to change it, nor any directory above it (as sudo and sshd's
// StrictModes require of their files). Libraries must pass this whatever the
// policy says (library-checks.ts), and so must the policy's own files
// (policy-files.ts): whoever can change either decides what runs.
import fs from 'node:fs';
import path from 'node:path';

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
  for (let p = file; ; p = path.dirname(p)) {
    const st = fs.lstatSync(p);
    const what = p === file ? rule.noun : `directory ${p} above ${rule.above}`;
    const problem = statProblem(st, rule);
    if (problem) return `${what} ${problem}: ${rule.rationale}`;
    if (p === '/') return undefined;
  }
}

/** The owner and mode part of the rule, for one file's status (an open file's fstat, say). */
export function statProblem(st: fs.Stats, rule: Pick<TrustRule, 'owners'>): string | undefined {
  if (!rule.owners.has(st.uid)) return `is owned by uid ${st.uid}, not by root or a trusted owner`;
  const who = writableBy(st.mode);
  if (who) return `is writable by ${who} (mode 0${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}
