// The policy decision for one command: paths made canonical first (realpath),
// then checked against the allowed directories. The decision names the rule
// that allowed or denied it. The file system calls are synchronous: a few
// microseconds each on local metadata, where the thread pool costs ten times
// that (see executor/output-file.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../executor/command.js';
import type { Limits } from '../launcher/protocol.js';
import type { LauncherFilter } from '../seccomp/launcher-filter.js';
import { isInside, type AllowedDir, type Policy } from './policy.js';

/** Who asks: a peer's credentials (SO_PEERCRED, SO_PEERGROUPS). */
export interface Tenant {
  uid: number;
  gid: number;
  pid: number;
  groups: number[];
}

export type Decision =
  | {
      allowed: true;
      library: string;
      function: string;
      input: string | undefined;
      rule: string;
      limits: Limits;
      seccomp: LauncherFilter;
    }
  | { allowed: false; kind: 'denied' | 'bad-request' | 'load-error'; reason: string; rule: string | undefined };

type Refusal = Extract<Decision, { allowed: false }>;

class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.reason);
  }
}

const refuse = (kind: Refusal['kind'], reason: string, rule?: string): never => {
  throw new Refused({ allowed: false, kind, reason, rule });
};

function covering(dirs: AllowedDir[], file: string): AllowedDir | undefined {
  return dirs.find((d) => isInside(d.dir, file));
}

const listed = (dirs: AllowedDir[]) => (dirs.length ? dirs.map((d) => d.dir).join(', ') : 'none');

function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** Resolves `what` to a canonical regular file inside one of `dirs`. */
function canonicalFile(
  policy: Policy,
  dirs: AllowedDir[],
  lexical: string,
  what: 'library' | 'input file',
  missingKind: Refusal['kind'],
): { file: string; rule: string } {
  const denied = (detail: string) => refuse('denied', `denied by policy '${policy.source}': ${detail}`);
  if (!covering(dirs, lexical)) {
    denied(`${what} ${lexical} is not in an allowed ${what === 'library' ? 'library' : 'input'} directory (allowed: ${listed(dirs)})`);
  }
  let file: string;
  try {
    file = fs.realpathSync.native(lexical);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') refuse(missingKind, `${what} ${lexical} does not exist`);
    refuse(missingKind, `${what} ${lexical} cannot be accessed: ${code}`);
  }
  const allowedBy = covering(dirs, file!);
  if (!allowedBy) denied(`${what} ${lexical} resolves to ${file!}, outside the allowed directories (${listed(dirs)})`);
  const stat = fs.statSync(file!);
  if (stat.isDirectory()) refuse(missingKind, `${what} ${lexical} is a directory, not a file`);
  if (!stat.isFile()) refuse(missingKind, `${what} ${lexical} is not a regular file`);
  return { file: file!, rule: `${allowedBy!.rule} (${allowedBy!.dir})` };
}

function libraryPath(policy: Policy, name: string): string {
  if (path.isAbsolute(name)) return path.resolve(name);
  if (name.includes('/')) {
    refuse('bad-request', `library path '${name}' must be absolute, or a bare file name looked up in the allowed library directories`);
  }
  for (const { dir } of policy.libraryDirs) {
    const candidate = path.join(dir, name);
    if (exists(candidate)) return candidate;
  }
  return refuse('load-error', `library '${name}' was not found in the allowed library directories (${listed(policy.libraryDirs)})`);
}

/** Every tenant gets the policy's defaults until tenants are matched by uid, gid or name. */
export function decide(policy: Policy, command: Command, tenant: Tenant): Decision {
  try {
    const library = canonicalFile(policy, policy.libraryDirs, libraryPath(policy, command.library), 'library', 'load-error');
    let input: { file: string; rule: string } | undefined;
    if (command.input !== undefined) {
      if (!path.isAbsolute(command.input)) refuse('bad-request', `input file path '${command.input}' must be absolute`);
      input = canonicalFile(policy, policy.inputDirs, path.resolve(command.input), 'input file', 'bad-request');
    }
    const rule = [`library: ${library.rule}`, input ? `input: ${input.rule}` : undefined].filter(Boolean).join('; ');
    return {
      allowed: true,
      library: library.file,
      function: command.function,
      input: input?.file,
      rule,
      limits: policy.limits,
      seccomp: policy.seccomp,
    };
  } catch (error) {
    if (error instanceof Refused) return error.refusal;
    throw error;
  }
}
