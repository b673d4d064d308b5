// The policy decision for one command. In order: who asks (the tenant), paths
// made canonical (realpath) and checked against the tenant's directories, the
// checks that hold whatever the policy says, the function allowed. The
// decision names the rule that allowed or denied it. The file system calls are
// synchronous: a few microseconds each on local metadata, where the thread
// pool costs ten times that (see executor/output-file.ts).
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import type { Command } from '../executor/command.js';
import type { LimitSource } from '../functions/effective-limits.js';
import type { Limits } from '../launcher/protocol.js';
import type { LauncherFilter } from '../seccomp/launcher-filter.js';
import { libraryProblem } from './library-checks.js';
import type { Policy, TenantPolicy } from './policy.js';
import { functionRuleFor, type DirRule } from './rules.js';
import { matchTenant } from './tenants.js';

/** Who asks: a local peer's credentials (SO_PEERCRED, SO_PEERGROUPS), or a
 * TLS client's certificate and the account its tenant gives it. */
export interface Tenant {
  uid: number;
  gid: number;
  /** 0 for a peer over TCP. */
  pid: number;
  groups: number[];
  /** A client over TCP: its certificate (TLS), or nothing known (--insecure), or a client of an exposed function; over HTTP, the id of the bearer token it presented. */
  remote?: { address: string; commonName: string | undefined; fingerprint: string | undefined; token?: string; service?: ServiceClient };
}

/** A client of a function exposed on a TCP port (fnjail serve --expose): anonymous,
 * it acts as the tenant the admin named there, else as the function's owner. */
export interface ServiceClient {
  function: string;
  /** The address it connected to. */
  listen: string;
  /** The tenant it acts as; undefined: unknown (the function's owner could not be read). */
  tenant: string | undefined;
}

/** A call of a registered function: which, and where each limit came from. */
export interface RegisteredFunction {
  name: string;
  version: string;
  owner: string;
  kind: 'library' | 'program';
  /** Per limit: the tenant's policy, or the function's manifest (the stricter wins). */
  limitSources: Record<keyof Limits, LimitSource>;
}

/** A program function: the executable is the decision's `library`, run with these arguments (executor/launch-spec.ts). */
export interface ProgramTarget {
  argv: string[];
  mode: 'per-request' | 'per-connection';
  /** A per-connection call: the accepted connection, its stdin and stdout (no data either way for idleMs ends it; 0: never). */
  connection?: { socket: net.Socket; idleMs: number };
}

export type Decision =
  | {
      allowed: true;
      tenant: TenantPolicy;
      /** The library loaded; for a program, its executable. */
      library: string;
      function: string;
      input: string | undefined;
      rule: string;
      limits: Limits;
      seccomp: LauncherFilter;
      /** A call by name: the function called. */
      registered?: RegisteredFunction;
      /** A call by name: its unpacked bundle, placed read-only in the sandbox (its data files). */
      bundleDir?: string;
      /** A program function: what the launcher runs instead of a library's function. */
      program?: ProgramTarget;
    }
  | {
      allowed: false;
      kind: 'denied' | 'bad-request' | 'load-error' | 'missing-function';
      reason: string;
      rule: string | undefined;
      tenant: TenantPolicy | undefined;
    };

type Refusal = Extract<Decision, { allowed: false }>;

export class Refused extends Error {
  constructor(readonly refusal: Omit<Refusal, 'tenant'>) {
    super(refusal.reason);
  }
}

export const refuse = (kind: Refusal['kind'], reason: string, rule?: string): never => {
  throw new Refused({ allowed: false, kind, reason, rule });
};

/** The reason of a denial names the file and the rule in it. */
export const deniedBy = (file: string, rule: string, detail: string) => `denied by policy '${file}', rule ${rule}: ${detail}`;
const deny = (file: string, rule: string, detail: string): never => refuse('denied', deniedBy(file, rule, detail), rule);

const listed = (dirs: DirRule[]) => (dirs.length ? dirs.map((d) => d.dir).join(', ') : 'none');

/** Resolves `lexical` to a canonical regular file inside one of `dirs`. */
export function canonicalFile(
  tenant: TenantPolicy,
  dirs: DirRule[],
  lexical: string,
  what: 'library' | 'input file',
  missingKind: Refusal['kind'],
): { file: string; rule: DirRule } {
  const field = what === 'library' ? 'libraryDirs' : 'inputDirs';
  const origin = tenant.grant.origin[field];
  const denied = (detail: string) => deny(origin.source, origin.rule, detail);
  if (!dirs.some((d) => d.contains(lexical))) {
    denied(`${what} ${lexical} is not in ${what === 'library' ? 'a library' : 'an input'} directory of ${tenant.label} (${field}: ${listed(dirs)})`);
  }
  let file = '';
  try {
    file = fs.realpathSync.native(lexical);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    refuse(missingKind, code === 'ENOENT' || code === 'ENOTDIR' ? `${what} ${lexical} does not exist` : `${what} ${lexical} cannot be accessed: ${code}`);
  }
  const allowedBy = dirs.find((d) => d.contains(file));
  if (!allowedBy) denied(`${what} ${lexical} resolves to ${file}, outside the ${field} of ${tenant.label} (${listed(dirs)})`);
  const stat = fs.statSync(file);
  if (stat.isDirectory()) refuse(missingKind, `${what} ${lexical} is a directory, not a file`);
  if (!stat.isFile()) refuse(missingKind, `${what} ${lexical} is not a regular file`);
  return { file, rule: allowedBy! };
}

function libraryPath(tenant: TenantPolicy, name: string): string {
  if (path.isAbsolute(name)) return path.resolve(name);
  if (name.includes('/')) {
    refuse('bad-request', `library path '${name}' must be absolute, or a bare file name looked up in the allowed library directories`);
  }
  for (const { dir } of tenant.grant.libraryDirs) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return refuse('load-error', `library '${name}' was not found in the library directories of ${tenant.label} (${listed(tenant.grant.libraryDirs)})`);
}

function checkFunction(tenant: TenantPolicy, library: string, fn: string): string | undefined {
  const rules = tenant.grant.functions;
  if (!rules) return undefined;
  const rule = functionRuleFor(rules, library);
  if (!rule) {
    deny(tenant.grant.origin.functions.source, tenant.grant.origin.functions.rule, `${tenant.label} may call no function of ${library} (no entry covers it)`);
  }
  if (!rule!.allows(fn)) {
    deny(rule!.source, rule!.rule, `function '${fn}' of ${library} is not allowed for ${tenant.label} (allowed: ${rule!.patterns.join(', ')})`);
  }
  return rule!.rule;
}

export function decide(policy: Policy, command: Command, peer: Tenant): Decision {
  const match = matchTenant(policy, peer);
  if (!match.tenant) return { allowed: false, kind: 'denied', reason: deniedBy(policy.path, match.rule, match.reason), rule: match.rule, tenant: undefined };
  const tenant = match.tenant;
  try {
    const library = canonicalFile(tenant, tenant.grant.libraryDirs, libraryPath(tenant, command.library), 'library', 'load-error');
    const problem = libraryProblem(library.file, policy.trustedOwners);
    if (problem) refuse('denied', `refused whatever the policy says: ${problem}`);
    const functionRule = checkFunction(tenant, library.file, command.function);
    let input: { file: string; rule: DirRule } | undefined;
    if (command.input !== undefined) {
      if (!path.isAbsolute(command.input)) refuse('bad-request', `input file path '${command.input}' must be absolute`);
      input = canonicalFile(tenant, tenant.grant.inputDirs, path.resolve(command.input), 'input file', 'bad-request');
    }
    const rule = [
      `${tenant.label} (${match.by})`,
      `library: ${library.rule.rule} (${library.rule.dir})`,
      functionRule ? `function: ${functionRule}` : undefined,
      input ? `input: ${input.rule.rule} (${input.rule.dir})` : undefined,
    ]
      .filter(Boolean)
      .join('; ');
    return {
      allowed: true,
      tenant,
      library: library.file,
      function: command.function,
      input: input?.file,
      rule,
      limits: tenant.grant.limits,
      seccomp: tenant.grant.seccomp,
    };
  } catch (error) {
    // Object.assign, not `{ ...refusal, tenant }`: a literal that starts with a spread is slow in V8 (executor/launch-spec.ts).
    if (error instanceof Refused) return Object.assign({}, error.refusal, { tenant });
    throw error;
  }
}

