// fnjail policy: check a policy as the server would load it, or explain what
// it decides for one command and one user, naming the rule.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { effectiveLimits, type LimitSource } from '../functions/effective-limits.js';
import { MANIFEST_FILE, readManifest } from '../functions/manifest.js';
import { deployAccess, functionAccess } from '../policy/function-access.js';
import { matchTenant } from '../policy/tenants.js';
import { loadConfig } from '../config/config-file.js';
import { defaultPolicyPath } from '../config/defaults.js';
import type { ServeValues } from '../config/serve-options.js';
import { formatProblem, InvalidJsonFile } from '../config/json-file.js';
import { formatSize } from '../config/size.js';
import { parseCommand } from '../executor/command.js';
import type { Limits } from '../launcher/protocol.js';
import { decide, type Tenant } from '../policy/decide.js';
import { account } from '../policy/names.js';
import { loadPolicy, type Policy, type TenantPolicy } from '../policy/policy.js';
import { describePeer } from '../policy/tenants.js';
import { parse, parseInteger, usageError } from './args.js';
import { seccompOption } from './seccomp-option.js';
import { absolutize } from './run.js';

export const POLICY_HELP = `usage: fnjail policy check [--policy PATH | PATH] [--config FILE | --no-config]
       fnjail policy explain [options] <libname> [<funcname> [<filename>]]
       fnjail policy explain [options] --manifest PATH [--owner TENANT]

A policy is one JSON file, or a directory of *.json files read in the order of
their names (docs/policy.md). Without a path, the policy the server loads: the
config file's "policy" (the config file as fnjail serve reads it: --config
FILE, else $FNJAIL_CONFIG, else /etc/fnjail/config.json), else the first that
exists of /etc/fnjail/policy.d, /etc/fnjail/policy.json and the shipped
policies/default-policy.json. explain also takes the config's allowDirs and
seccomp, as the server would.

commands:
  check     validate the policy as the server would load it; print every
            problem as file:line:column: /json/pointer: what is wrong.
            Exit 0 if valid, 1 if not
  explain   print what the policy decides for the command sent by a user, and
            the rule that decides it. Exit 0 if allowed, 1 if refused.
            With --manifest, for a registered function instead: whether the
            user may deploy it, call it (if it belongs to --owner, default the
            user's own tenant), and the limits a call runs under, each marked
            (policy) or (manifest): the stricter of the two wins

options of explain:
  --policy PATH     the policy (default: as above)
  --uid N           the user asking (default: you); gid and groups from its account
  --user NAME       the same, by name
  --gid N           its primary group (default: from the account, else = uid)
  --groups G,G,...  its supplementary groups, replacing the account's ('' for none)
  --allow-dir DIR   as fnjail serve --allow-dir (repeatable)
  --seccomp PROFILE as fnjail serve --seccomp
  --manifest PATH   a function's fnjail.json, or its bundle directory
  --owner TENANT    with --manifest: the tenant the function belongs to

options of both:
  --config FILE     the server's config file, for its policy (see above)
  --no-config       read no config file
  --help            this text
`;

export async function policyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('policy', args, {
    policy: { type: 'string' },
    uid: { type: 'string' },
    user: { type: 'string' },
    gid: { type: 'string' },
    groups: { type: 'string' },
    'allow-dir': { type: 'string', multiple: true },
    seccomp: { type: 'string' },
    manifest: { type: 'string' },
    owner: { type: 'string' },
    config: { type: 'string' },
    'no-config': { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(POLICY_HELP);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === 'check') {
    const explainOnly = (['uid', 'user', 'gid', 'groups', 'allow-dir', 'seccomp', 'manifest', 'owner'] as const).find((o) => values[o] !== undefined);
    if (explainOnly) throw usageError('policy', `--${explainOnly} is an option of explain`);
    if (rest.length > 1 || (rest.length === 1 && values.policy !== undefined)) throw usageError('policy', 'expected one policy: fnjail policy check <file|dir>');
    return check(rest[0] ?? values.policy ?? serverConfig(values).policy ?? defaultPolicyPath());
  }
  if (command === 'explain') {
    if (values.owner !== undefined && values.manifest === undefined) throw usageError('policy', '--owner goes with --manifest');
    if (values.manifest !== undefined && rest.length) throw usageError('policy', '--manifest explains a registered function: give no command');
    if (values.manifest === undefined && (rest.length < 1 || rest.length > 3)) throw usageError('policy', 'expected the command: fnjail policy explain [options] <libname> [<funcname> [<filename>]]');
    const peer = peerFrom(values);
    const config = serverConfig(values);
    const options = { allowDirs: values['allow-dir'] ?? config.allowDir, seccomp: seccompOption('policy', values.seccomp ?? config.seccomp) };
    const policyPath = values.policy ?? config.policy ?? defaultPolicyPath();
    const policy = loadOrReport(() => loadPolicy(policyPath, options), policyPath);
    if (!policy) return 1;
    if (values.manifest !== undefined) return explainFunction(policy, peer, values.manifest, values.owner);
    return explain(policy, peer, rest.map((word, i) => (i === 1 ? word : absolutize(word, i === 0))).join(' '));
  }
  throw usageError('policy', command === undefined ? 'expected check or explain' : `unknown policy command '${command}'`);
}

/** The settings of the server's config file (what a policy check needs of them). */
function serverConfig(values: { config?: string | undefined; 'no-config'?: boolean | undefined }): ServeValues {
  if (values.config !== undefined && values['no-config']) throw usageError('policy', '--config and --no-config exclude each other');
  if (values.config !== undefined && !values.config.startsWith('/')) throw usageError('policy', `--config must be an absolute path, not '${values.config}'`);
  return loadConfig({ config: values.config, noConfig: values['no-config'] === true }).values;
}

/** Loads the policy; prints its problems and returns undefined if it is not valid. */
function loadOrReport(load: () => Policy, policyPath: string): Policy | undefined {
  try {
    const policy = load();
    for (const warning of policy.warnings) process.stderr.write(`warning: ${warning}\n`);
    return policy;
  } catch (error) {
    if (error instanceof InvalidJsonFile) {
      for (const problem of error.problems) process.stderr.write(`${formatProblem(problem)}\n`);
      const count = error.problems.length;
      process.stderr.write(`${policyPath}: invalid: ${count} problem${count === 1 ? '' : 's'}\n`);
      return undefined;
    }
    if ((error as NodeJS.ErrnoException).code !== undefined) {
      process.stderr.write(`fnjail: cannot read the policy ${policyPath}: ${(error as Error).message}\n`);
      return undefined;
    }
    throw error;
  }
}

function check(policyPath: string): number {
  const policy = loadOrReport(() => loadPolicy(policyPath), policyPath);
  if (!policy) return 1;
  const tenants = policy.tenants.map((t) => `  ${t.label} (${t.source}, ${t.rule}): ${matches(t)}`);
  process.stdout.write(
    [
      `${policy.path}: valid (sha256 ${policy.hash})`,
      `files: ${policy.files.join(', ')}`,
      ...(tenants.length ? ['tenants:', ...tenants] : ['tenants: none']),
      policy.defaults ? `defaults: ${policy.defaults.source}` : 'defaults: none (a user no tenant matches is refused)',
    ].join('\n') + '\n',
  );
  return 0;
}

function matches(t: TenantPolicy): string {
  const ids = [t.uids.length ? `uids ${t.uids.join(',')}` : '', t.gids.length ? `gids ${t.gids.join(',')}` : ''];
  return `matches ${ids.filter(Boolean).join('; ')}`;
}

type PeerOptions = { uid?: string; user?: string; gid?: string; groups?: string };

/** The credentials the server would see from the user: SO_PEERCRED and SO_PEERGROUPS. */
function peerFrom(values: PeerOptions): Tenant {
  if (values.uid !== undefined && values.user !== undefined) throw usageError('policy', 'give --uid or --user, not both');
  const id = (option: string, text: string) => parseInteger('policy', option, text, 0, 4294967294);
  let peer: Tenant;
  if (values.user !== undefined) {
    const found = account(values.user);
    if (!found) throw usageError('policy', `unknown user '${values.user}'`);
    peer = { uid: found.uid, gid: found.gid, groups: found.groups, pid: 0 };
  } else if (values.uid !== undefined) {
    const uid = id('uid', values.uid);
    const found = account(uid);
    peer = found ? { uid, gid: found.gid, groups: found.groups, pid: 0 } : { uid, gid: uid, groups: [], pid: 0 };
  } else {
    peer = { uid: process.getuid!(), gid: process.getgid!(), groups: process.getgroups!().filter((g) => g !== process.getgid!()), pid: process.pid };
  }
  if (values.gid !== undefined) peer.gid = id('gid', values.gid);
  if (values.groups !== undefined) peer.groups = values.groups === '' ? [] : values.groups.split(',').map((g) => id('groups', g));
  return peer;
}

function explain(policy: Policy, peer: Tenant, text: string): number {
  const parsed = parseCommand(text);
  if (!parsed.ok) throw usageError('policy', parsed.reason);
  const decision = decide(policy, parsed.command, peer);
  const lines = [`policy: ${policy.path} (sha256 ${policy.hash.slice(0, 12)})`, `user: ${describePeer(peer)}`, `command: ${parsed.text}`];
  if (!decision.allowed) {
    lines.push(
      `tenant: ${decision.tenant ? `${decision.tenant.label} (${decision.tenant.source}, ${decision.tenant.rule})` : 'none'}`,
      `decision: refused (${decision.kind})`,
      `rule: ${decision.rule ?? '(none: a check that holds whatever the policy says)'}`,
      `Reason: ${decision.reason}`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return 1;
  }
  const input = decision.input === undefined ? undefined : inputAccess(decision.input, peer);
  lines.push(
    `tenant: ${decision.tenant.label} (${decision.tenant.source}, ${decision.tenant.rule})`,
    `decision: ${input?.readable === false ? 'refused when run' : 'allowed'}`,
    `rule: ${decision.rule}`,
    `library: ${decision.library}`,
    `function: ${decision.function}`,
    ...(input ? [`input: ${decision.input} (${input.note})`] : []),
    `limits: ${describeLimits(decision.limits)}`,
    `seccomp profile: ${decision.seccomp.name}`,
    `max concurrent: ${decision.tenant.grant.maxConcurrent ?? "the server's limit"}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return input?.readable === false ? 1 : 0;
}

/** A registered function, from its manifest: may the user deploy it, call it, and under which limits (and from where each comes). */
function explainFunction(policy: Policy, peer: Tenant, manifestPath: string, ownerGiven: string | undefined): number {
  const file = fs.statSync(manifestPath, { throwIfNoEntry: false })?.isDirectory() ? path.join(manifestPath, MANIFEST_FILE) : manifestPath;
  const manifest = readManifest(file);
  const match = matchTenant(policy, peer);
  const lines = [`policy: ${policy.path} (sha256 ${policy.hash.slice(0, 12)})`, `user: ${describePeer(peer)}`];
  const kind = manifest.kind === 'library' ? `library (functions: ${manifest.functions.join(', ')})` : `program (${manifest.mode})`;
  const owner = ownerGiven ?? match.tenant?.name;
  lines.push(`tenant: ${match.tenant ? `${match.tenant.label} (${match.tenant.source}, ${match.tenant.rule})` : 'none'}`, `function: ${manifest.name}, ${kind}${owner ? `, of tenant '${owner}'` : ''}`);
  const deploy = deployAccess(policy, peer);
  lines.push(deploy.allowed ? `deploy: allowed (${deploy.rule})${quota(deploy.quota)}` : `deploy: refused: ${deploy.reason}`);
  const call = owner === undefined ? undefined : functionAccess(policy, peer, 'call', manifest.name, owner);
  lines.push(call === undefined ? 'call: refused: no tenant matches the user' : call.allowed ? `call: allowed (${call.rule})` : `call: refused: ${call.reason}`);
  if (match.tenant) {
    const { limits, source } = effectiveLimits(match.tenant.grant.limits, manifest.limits);
    const profile = manifest.kind === 'program' ? match.tenant.grant.programSeccomp : match.tenant.grant.seccomp;
    lines.push(`limits: ${describeLimits(limits, source)}`, `seccomp profile: ${profile.name}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return call?.allowed ? 0 : 1;
}

function quota(grant: { maxFunctions: number | undefined; maxBytes: number | undefined } | undefined): string {
  if (!grant || (grant.maxFunctions === undefined && grant.maxBytes === undefined)) return ', no quota';
  return `, quota: ${[grant.maxFunctions !== undefined ? `${grant.maxFunctions} functions` : '', grant.maxBytes !== undefined ? formatSize(grant.maxBytes) : ''].filter(Boolean).join(', ')}`;
}

/**
 * The server opens an input file with the tenant's credentials (sandbox/access.c);
 * here a shell with them tries the same open. Only root can take other credentials.
 */
function inputAccess(file: string, peer: Tenant): { readable: boolean | undefined; note: string } {
  if (process.getuid!() !== 0) return { readable: undefined, note: 'whether the user may read it is checked when the call runs; explain as root to check it now' };
  const groups = peer.groups.length ? `--groups=${peer.groups.join(',')}` : '--clear-groups';
  const result = spawnSync('setpriv', [`--reuid=${peer.uid}`, `--regid=${peer.gid}`, groups, 'sh', '-c', ': < "$1"', 'sh', file], { encoding: 'utf8' });
  if (result.status === 0) return { readable: true, note: `uid ${peer.uid} can read it` };
  const why = /: ([^:\n]+)\n?$/.exec(result.stderr)?.[1] ?? result.stderr.trim();
  return { readable: false, note: `uid ${peer.uid} cannot read it: ${why}` };
}

/** The limits; with their sources, each marked (policy) or (manifest). */
function describeLimits(l: Limits, source?: Record<keyof Limits, LimitSource>): string {
  const from = (field: keyof Limits) => (source ? ` (${source[field]})` : '');
  return [
    `timeout ${l.timeoutMs} ms${from('timeoutMs')}`,
    `CPU ${l.cpuMs} ms${from('cpuMs')}`,
    `memory ${formatSize(l.memoryBytes)}${from('memoryBytes')}`,
    `processes ${l.maxProcs}${from('maxProcs')}`,
    `open files ${l.maxFiles}${from('maxFiles')}`,
    `output ${formatSize(l.outputBytes)}${from('outputBytes')}`,
    `/tmp ${formatSize(l.tmpBytes)}${from('tmpBytes')}`,
  ].join(', ');
}
