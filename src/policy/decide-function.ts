// The policy decision for a call of a registered function by name, beside
// decide.ts's for a library path, and in the same terms: who asks (the
// tenant), whether it may call that function (function-access.ts), the
// checks that hold whatever the policy says, here on the unpacked version
// (the entry must stay inside it; a library must be an ELF shared object that
// only root can change, as every library), the function one the manifest
// lists, the input file, and the limits: the calling tenant's, tightened by
// the manifest's (effectiveLimits), field by field, which source applied
// kept. It runs under the calling tenant's seccomp profile (its
// programSeccompProfile for a program, which must be able to exec).
import fs from 'node:fs';
import path from 'node:path';
import type { NamedCall } from '../executor/command.js';
import { DEFAULT_FUNCTION } from '../executor/command.js';
import { effectiveLimits } from '../functions/effective-limits.js';
import type { CheckedOut } from '../functions/registry.js';
import { canonicalFile, Refused, refuse, type Decision, type Tenant } from './decide.js';
import { functionAccess } from './function-access.js';
import { trustProblem } from './file-trust.js';
import { libraryProblem } from './library-checks.js';
import { limitsSet, type Policy } from './policy.js';
import { matchTenant } from './tenants.js';

export function decideFunction(policy: Policy, call: NamedCall, fn: Pick<CheckedOut, 'record' | 'dir' | 'entry'>, peer: Tenant): Decision {
  const { record } = fn;
  const match = matchTenant(policy, peer);
  const tenant = match.tenant;
  const access = functionAccess(policy, peer, 'call', record.name, record.owner);
  if (!access.allowed) return { allowed: false, kind: 'denied', reason: access.reason, rule: access.rule, tenant };
  // An admin no tenant matches has no limits to run under.
  if (!tenant) return { allowed: false, kind: 'denied', reason: `denied by policy '${policy.path}', rule ${match.rule}: ${match.reason}`, rule: match.rule, tenant };
  try {
    // The version's directory is canonical already (unpacked-bundles.ts: its
    // parent is made canonical once, and the version directory is one the
    // server made), so only the entry is resolved, on every call. Were the
    // directory a symlink after all, the entry would resolve outside it and be refused.
    const dir = fn.dir;
    let entry = '';
    try {
      entry = fs.realpathSync.native(fn.entry);
    } catch {
      refuse('load-error', `the entry ${record.manifest.entry} of function '${record.name}' is missing from its version ${record.version.slice(0, 12)}`);
    }
    if (!entry.startsWith(`${dir}/`)) refuse('denied', `refused whatever the policy says: the entry of function '${record.name}' resolves to ${entry}, outside its bundle`);
    // A connection is served by a per-connection program only (the manifest of the version checked out says).
    if (call.input?.kind === 'connection' && record.manifest.mode !== 'per-connection') {
      const what = record.kind === 'library' ? 'a library' : 'a per-request program';
      refuse('bad-request', `'${record.name}' is ${what} (version ${record.version.slice(0, 12)}): only a per-connection program can serve a connection`);
    }
    let fnName = DEFAULT_FUNCTION;
    if (record.kind === 'library') {
      fnName = call.function ?? DEFAULT_FUNCTION;
      const listed = record.manifest.functions ?? [];
      if (!listed.includes(fnName)) refuse('missing-function', `function '${fnName}' is not one that '${record.name}' offers (its manifest lists: ${listed.join(', ')})`);
      const problem = libraryProblem(entry, policy.trustedOwners);
      if (problem) refuse('denied', `refused whatever the policy says: ${problem}`);
    } else {
      if (call.function !== undefined) refuse('bad-request', `'${record.name}' is a program: it has no functions to name ('${call.function}')`);
      // A program is not an ELF check's business (a script is fine), but who can change it is.
      const problem = trustProblem(entry, { owners: policy.trustedOwners, noun: `program ${entry}`, above: `program ${entry}`, rationale: 'only programs that nobody but root or a trusted owner can change are run' });
      if (problem) refuse('denied', `refused whatever the policy says: ${problem}`);
    }
    let input: string | undefined;
    let inputRule: string | undefined;
    if (call.input?.kind === 'connection') {
      // The connection itself, given to the program below.
    } else if (call.input?.kind === 'spool') {
      input = call.input.path; // the request's own body, spooled by the server
    } else if (call.input) {
      if (!path.isAbsolute(call.input.path)) refuse('bad-request', `input file path '${call.input.path}' must be absolute`);
      const found = canonicalFile(tenant, tenant.grant.inputDirs, path.resolve(call.input.path), 'input file', 'bad-request');
      input = found.file;
      inputRule = `input: ${found.rule.rule} (${found.rule.dir})`;
    }
    const { limits, source } = effectiveLimits(tenant.grant.limits, limitsSet(record.manifest.limits));
    const manifestLimits = Object.entries(source).filter(([, from]) => from === 'manifest').map(([field]) => field);
    const rule = [
      access.rule,
      `function: '${record.name}' of tenant '${record.owner}', version ${record.version.slice(0, 12)}`,
      manifestLimits.length ? `limits from its manifest: ${manifestLimits.join(', ')}` : undefined,
      inputRule,
    ]
      .filter(Boolean)
      .join('; ');
    const mode = record.manifest.mode;
    return {
      allowed: true,
      tenant,
      library: entry,
      function: record.kind === 'library' ? fnName : '(program)',
      input,
      rule,
      limits,
      seccomp: record.kind === 'program' ? tenant.grant.programSeccomp : tenant.grant.seccomp,
      registered: { name: record.name, version: record.version, owner: record.owner, kind: record.kind, limitSources: source },
      bundleDir: dir,
      ...(record.kind === 'program' && mode ? { program: { argv: [entry], mode, ...(call.input?.kind === 'connection' ? { connection: { socket: call.input.socket, idleMs: call.input.idleMs } } : {}) } } : {}),
    };
  } catch (error) {
    // Object.assign, not `{ ...refusal, tenant }`: a literal that starts with a spread is slow in V8 (executor/launch-spec.ts).
    if (error instanceof Refused) return Object.assign({}, error.refusal, { tenant });
    throw error;
  }
}
