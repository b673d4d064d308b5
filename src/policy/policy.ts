// The policy in force, built from the files as written (policy-files.ts):
// tenants with their ids resolved, each with a complete grant (what it sets,
// else the defaults', else the server's), rules compiled (rules.ts), seccomp
// profiles compiled. Everything that would depend on the order of the files,
// or is ambiguous, is reported as a conflict instead of being resolved.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidJsonFile, sortProblems, type Problem } from '../config/json-file.js';
import { parseSize } from '../config/size.js';
import type { Limits } from '../launcher/protocol.js';
import { launcherFilter, NO_FILTER, profileErrorDetail, type LauncherFilter } from '../seccomp/launcher-filter.js';
import { account, groupId, userId } from './names.js';
import { readPolicyFiles, type GrantFile, type LimitsFile, type PolicySource } from './policy-files.js';
import { dirRule, functionRule, type DirRule, type FunctionRule } from './rules.js';

export const DEFAULT_LIMITS: Limits = {
  timeoutMs: 5000,
  cpuMs: 2000,
  memoryBytes: 256 * 1024 * 1024,
  maxProcs: 64,
  maxFiles: 256,
  outputBytes: 16 * 1024 * 1024,
  tmpBytes: 16 * 1024 * 1024,
};

export const DEFAULT_SECCOMP_PROFILE = 'default';
/** Programs and builds execute a file: the profile that lets them (docs/programs.md). */
export const DEFAULT_PROGRAM_SECCOMP_PROFILE = 'program';

export interface Grant {
  libraryDirs: DirRule[];
  inputDirs: DirRule[];
  /** Undefined: any function of an allowed library. */
  functions: FunctionRule[] | undefined;
  limits: Limits;
  seccomp: LauncherFilter;
  /** The profile of program functions and builds (they exec: the `program` profile by default). */
  programSeccomp: LauncherFilter;
  /** Calls of the tenant at once; undefined: only the server's limit. */
  maxConcurrent: number | undefined;
  /** The largest request body (a call's input over HTTP); undefined: the server's --max-input. */
  maxInputBytes: number | undefined;
  /** Whether it may deploy functions, and its quota; undefined: it may not. */
  deploy: DeployGrant | undefined;
  /** Owners (tenant names, or '*') whose functions it may call and see, besides its own. */
  callFunctionsOf: string[];
  /** Owners (tenant names, or '*') whose functions it may redeploy and remove (and see), besides its own. */
  manageFunctionsOf: string[];
  /** Where each list is written ("defaults.inputDirs" in a.json when a tenant
   * inherits it), for the denials that name the list as a whole. */
  origin: Record<'libraryDirs' | 'inputDirs' | 'functions' | 'deploy' | 'callFunctionsOf' | 'manageFunctionsOf', { rule: string; source: string }>;
}

export interface DeployGrant {
  /** Functions it may own at most. */
  maxFunctions: number | undefined;
  /** Bytes (unpacked) of all its kept versions together, at most. */
  maxBytes: number | undefined;
  /** Where it is written, for denials ("tenants[1].deploy"). */
  rule: string;
}

/** Who a policy names by uid, gid, TLS client or token id (monitors, admins). */
export interface Who {
  uids: Set<number>;
  gids: Set<number>;
  tlsClients: Set<string>;
  tokens: Set<string>;
}

/** A bearer token of a tenant's HTTP clients: its id and the SHA-256 of the token (the token itself is kept nowhere). */
export interface TokenEntry {
  id: string;
  sha256: Buffer;
}

export interface TenantPolicy {
  /** The tenant's name, or "default". */
  name: string;
  /** "tenant 'alice'" or "the default tenant", for messages. */
  label: string;
  /** Where it is written: file and rule ("tenants[0]", "defaults"). */
  source: string;
  rule: string;
  uids: number[];
  gids: number[];
  /** Certificate common names of its TLS clients. */
  tlsClients: string[];
  /** Who its TLS clients (and token holders) act as on this host (files opened, output owned). */
  account: { uid: number; gid: number; groups: number[] } | undefined;
  /** Bearer tokens that identify the tenant over HTTP. */
  tokens: TokenEntry[];
  grant: Grant;
}

export interface Policy {
  /** The file or directory given. */
  path: string;
  files: string[];
  /** sha256 of the files, in order. */
  hash: string;
  /** Uids that may own library files and their directories (root always). */
  trustedOwners: Set<number>;
  /** Who may see the live statistics besides root: by uid, or by gid (primary or supplementary). */
  monitors: Who;
  /** Who may deploy and manage any function besides root. */
  admins: Who;
  tenants: TenantPolicy[];
  defaults: TenantPolicy | undefined;
  /** Problems worth a log line that do not make the policy invalid. */
  warnings: string[];
}

export interface LoadOptions {
  /** Directories every tenant may use for libraries and inputs (fnjail serve --allow-dir). */
  allowDirs?: string[];
  /** A seccomp profile replacing every tenant's (fnjail serve --seccomp). */
  seccomp?: string | undefined;
}

/** The limits a "limits" object sets (in a policy or a manifest), and only those. */
export function limitsSet(file: LimitsFile | undefined): Partial<Limits> {
  const set: Partial<Limits> = {};
  if (file?.timeoutMs !== undefined) set.timeoutMs = file.timeoutMs;
  if (file?.cpuMs !== undefined) set.cpuMs = file.cpuMs;
  if (file?.memory !== undefined) set.memoryBytes = parseSize(file.memory);
  if (file?.processes !== undefined) set.maxProcs = file.processes;
  if (file?.openFiles !== undefined) set.maxFiles = file.openFiles;
  if (file?.output !== undefined) set.outputBytes = parseSize(file.output);
  if (file?.tmp !== undefined) set.tmpBytes = parseSize(file.tmp);
  return set;
}

/** The limits a policy gives, over base. */
export function limitsFrom(file: LimitsFile | undefined, base: Limits = DEFAULT_LIMITS): Limits {
  return { ...base, ...limitsSet(file) };
}

/** What a "deploy" field grants: false, nothing; true, deploying without a quota; an object, with its quota. */
function deployGrant(file: GrantFile['deploy'], rule: string): DeployGrant | undefined {
  if (file === false || file === undefined) return undefined;
  if (file === true) return { maxFunctions: undefined, maxBytes: undefined, rule };
  return { maxFunctions: file.maxFunctions, maxBytes: file.maxBytes === undefined ? undefined : parseSize(file.maxBytes), rule };
}

/** Whether path is dir itself or inside it (so /opt/lib does not allow /opt/library). */
export function isInside(dir: string, file: string): boolean {
  return dir === '/' || file === dir || file.startsWith(`${dir}/`);
}

/** Builds the policy; throws InvalidJsonFile listing every problem, located. */
export function loadPolicy(policyPath: string, options: LoadOptions = {}): Policy {
  const files = readPolicyFiles(policyPath);
  const problems: Problem[] = [...files.problems];
  const warnings: string[] = [];

  // Set once only: in two files, which one wins would depend on their order.
  const once = <K extends 'defaults' | 'trustedOwners' | 'monitors' | 'admins'>(key: K) => {
    const setters = files.sources.filter((s) => s.document[key] !== undefined);
    for (const later of setters.slice(1)) {
      problems.push(later.problemAt(`/${key}`, `${key} are set again here; they are set in ${setters[0]!.file} already (set them in one file)`));
    }
    return setters[0];
  };
  const defaultsSource = once('defaults');
  const ownersSource = once('trustedOwners');
  const monitorsSource = once('monitors');
  const adminsSource = once('admins');

  const trustedOwners = new Set<number>([0]);
  ownersSource?.document.trustedOwners?.forEach((owner, i) => {
    const uid = typeof owner === 'number' ? owner : userId(owner);
    if (uid === undefined) problems.push(ownersSource.problemAt(`/trustedOwners/${i}`, `unknown user '${owner}'`));
    else trustedOwners.add(uid);
  });

  /** A list of users, groups and TLS clients, its names resolved. */
  const who = (source: PolicySource | undefined, key: 'monitors' | 'admins'): Who => {
    const written = source?.document[key];
    const found: Who = { uids: new Set<number>(), gids: new Set<number>(), tlsClients: new Set(written?.tlsClients ?? []), tokens: new Set(written?.tokens ?? []) };
    const resolve = (list: Array<string | number> | undefined, into: Set<number>, field: string, what: 'user' | 'group') =>
      list?.forEach((entry, i) => {
        const id = typeof entry === 'number' ? entry : what === 'user' ? userId(entry) : groupId(entry);
        if (id === undefined) problems.push(source!.problemAt(`/${key}/${field}/${i}`, `unknown ${what} '${entry}'`));
        else into.add(id);
      });
    resolve(written?.uids, found.uids, 'uids', 'user');
    resolve(written?.users, found.uids, 'users', 'user');
    resolve(written?.gids, found.gids, 'gids', 'group');
    resolve(written?.groups, found.gids, 'groups', 'group');
    return found;
  };
  const monitors = who(monitorsSource, 'monitors');
  const admins = who(adminsSource, 'admins');

  const canonical = (dir: string, where: string) => {
    try {
      return fs.realpathSync(dir);
    } catch {
      warnings.push(`${where}: ${dir} does not exist (yet); nothing in it can be used until it does`);
      return path.resolve(dir);
    }
  };
  const extra = (options.allowDirs ?? []).map((dir) => dirRule('--allow-dir', '(command line)', canonical(dir, '--allow-dir')));
  const dirs = (source: PolicySource, rule: string, list: string[] | undefined, field: string): DirRule[] | undefined =>
    list?.map((dir, i) => dirRule(`${rule}.${field}[${i}]`, source.file, canonical(dir, `${source.file}: ${rule}.${field}[${i}]`)));
  const functions = (source: PolicySource, rule: string, pointer: string, list: GrantFile['functions']): FunctionRule[] | undefined => {
    const libraries = list?.map((entry, i) => canonical(entry.library, `${source.file}: ${rule}.functions[${i}]`));
    return list?.map((entry, i) => {
      const library = libraries![i]!;
      const first = libraries!.indexOf(library);
      if (first < i) {
        problems.push(source.problemAt(`${pointer}/functions/${i}/library`, `${library} has an entry already (${rule}.functions[${first}]); put its functions in one entry`));
      }
      const isDirectory = fs.existsSync(library) && fs.statSync(library).isDirectory();
      return functionRule(`${rule}.functions[${i}]`, source.file, library, isDirectory, entry.allow);
    });
  };
  /** The profile named here (or by --seccomp), else base's, else the default one. */
  const profileOf = (source: PolicySource, pointer: string, named: string | undefined, base: Grant | undefined, field: 'seccompProfile' | 'programSeccompProfile' = 'seccompProfile'): LauncherFilter => {
    const fallback = field === 'seccompProfile' ? DEFAULT_SECCOMP_PROFILE : DEFAULT_PROGRAM_SECCOMP_PROFILE;
    const name = options.seccomp ?? named ?? (base ? undefined : fallback);
    if (name === undefined) return field === 'seccompProfile' ? base!.seccomp : base!.programSeccomp;
    try {
      return launcherFilter(name);
    } catch (error) {
      const detail = profileErrorDetail(error);
      const at = options.seccomp !== undefined ? pointer : `${pointer}/${field}`;
      problems.push(source.problemAt(at, `seccomp profile '${name}' cannot be used: ${detail}`));
      return NO_FILTER;
    }
  };

  /** A complete grant: the fields set here, else base's. */
  const grantOf = (source: PolicySource, rule: string, pointer: string, file: GrantFile, base: Grant | undefined): Grant => {
    const origin = (field: keyof Grant['origin']) =>
      file[field] === undefined && base ? base.origin[field] : { rule: `${rule}.${field}`, source: source.file };
    return {
      libraryDirs: [...(dirs(source, rule, file.libraryDirs, 'libraryDirs') ?? base?.libraryDirs.filter((d) => d.rule !== '--allow-dir') ?? []), ...extra],
      inputDirs: [...(dirs(source, rule, file.inputDirs, 'inputDirs') ?? base?.inputDirs.filter((d) => d.rule !== '--allow-dir') ?? []), ...extra],
      functions: functions(source, rule, pointer, file.functions) ?? base?.functions,
      limits: limitsFrom(file.limits, base?.limits),
      seccomp: profileOf(source, pointer, file.seccompProfile, base),
      programSeccomp: profileOf(source, pointer, file.programSeccompProfile, base, 'programSeccompProfile'),
      maxConcurrent: file.maxConcurrent ?? base?.maxConcurrent,
      maxInputBytes: file.maxInput === undefined ? base?.maxInputBytes : parseSize(file.maxInput),
      deploy: file.deploy === undefined ? base?.deploy : deployGrant(file.deploy, `${rule}.deploy`),
      callFunctionsOf: file.callFunctionsOf ?? base?.callFunctionsOf ?? [],
      manageFunctionsOf: file.manageFunctionsOf ?? base?.manageFunctionsOf ?? [],
      origin: {
        libraryDirs: origin('libraryDirs'),
        inputDirs: origin('inputDirs'),
        functions: origin('functions'),
        deploy: origin('deploy'),
        callFunctionsOf: origin('callFunctionsOf'),
        manageFunctionsOf: origin('manageFunctionsOf'),
      },
    };
  };

  const defaults: TenantPolicy | undefined = defaultsSource && {
    name: 'default',
    label: 'the default tenant',
    source: defaultsSource.file,
    rule: 'defaults',
    uids: [],
    gids: [],
    tlsClients: [],
    account: undefined,
    tokens: [],
    grant: grantOf(defaultsSource, 'defaults', '/defaults', defaultsSource.document.defaults!, undefined),
  };

  // Tenants: names and the ids they match must be unique across all files.
  const tenants: TenantPolicy[] = [];
  const names = new Map<string, TenantPolicy>();
  const byUid = new Map<number, TenantPolicy>();
  const byGid = new Map<number, TenantPolicy>();
  const byCommonName = new Map<string, TenantPolicy>();
  const tokenIds = new Map<string, TenantPolicy>();
  const tokenHashes = new Map<string, TenantPolicy>();
  for (const source of files.sources) {
    source.document.tenants?.forEach((t, i) => {
      if (t === null) return; // left out: its schema problems are reported (policy-files.ts)
      const pointer = `/tenants/${i}`;
      const rule = `tenants[${i}]`;
      const earlier = names.get(t.name);
      if (earlier) problems.push(source.problemAt(`${pointer}/name`, `tenant '${t.name}' is defined already in ${earlier.source}`));
      const tenant: TenantPolicy = {
        name: t.name,
        label: `tenant '${t.name}'`,
        source: source.file,
        rule,
        uids: [],
        gids: [],
        tlsClients: [],
        account: undefined,
        tokens: [],
        grant: grantOf(source, rule, pointer, t, defaults?.grant),
      };
      t.tokens?.forEach((token, j) => {
        const other = tokenIds.get(token.id) ?? tokenHashes.get(token.sha256);
        if (other) {
          const same = tokenIds.has(token.id) ? `token id '${token.id}'` : 'this token (the same sha256)';
          problems.push(source.problemAt(`${pointer}/tokens/${j}`, `${same} is given to ${other.label} already (${other.source}); one token, one tenant`));
          return;
        }
        tokenIds.set(token.id, tenant);
        tokenHashes.set(token.sha256, tenant);
        tenant.tokens.push({ id: token.id, sha256: Buffer.from(token.sha256, 'hex') });
      });
      if (t.account !== undefined) {
        const found = account(t.account);
        if (found) tenant.account = { uid: found.uid, gid: found.gid, groups: found.groups };
        else problems.push(source.problemAt(`${pointer}/account`, `unknown user '${t.account}'`));
      }
      t.match.tlsClients?.forEach((name, j) => {
        const other = byCommonName.get(name);
        if (other) {
          problems.push(source.problemAt(`${pointer}/match/tlsClients/${j}`, `TLS client '${name}' matches ${other.label} already (${other.source}); one certificate, one tenant`));
          return;
        }
        byCommonName.set(name, tenant);
        tenant.tlsClients.push(name);
      });
      const claim = (map: Map<number, TenantPolicy>, id: number | undefined, what: string, at: string, list: number[]) => {
        if (id === undefined) {
          problems.push(source.problemAt(at, `unknown ${what}`));
          return;
        }
        const other = map.get(id);
        if (other && other !== tenant) {
          const named = what.startsWith('uid') || what.startsWith('gid') ? what : `${what} (${byUid === map ? 'uid' : 'gid'} ${id})`;
          problems.push(source.problemAt(at, `${named} matches ${other.label} already (${other.source}); one id, one tenant`));
          return;
        }
        map.set(id, tenant);
        if (!list.includes(id)) list.push(id);
      };
      t.match.uids?.forEach((uid, j) => claim(byUid, uid, `uid ${uid}`, `${pointer}/match/uids/${j}`, tenant.uids));
      t.match.users?.forEach((user, j) => claim(byUid, userId(user), `user '${user}'`, `${pointer}/match/users/${j}`, tenant.uids));
      t.match.gids?.forEach((gid, j) => claim(byGid, gid, `gid ${gid}`, `${pointer}/match/gids/${j}`, tenant.gids));
      t.match.groups?.forEach((group, j) => claim(byGid, groupId(group), `group '${group}'`, `${pointer}/match/groups/${j}`, tenant.gids));
      names.set(t.name, tenant);
      tenants.push(tenant);
    });
  }

  // monitors and admins name tokens that some tenant holds: another id is a typo that would silently grant nothing.
  for (const [key, source] of [['monitors', monitorsSource], ['admins', adminsSource]] as const) {
    source?.document[key]?.tokens?.forEach((id, i) => {
      if (!tokenIds.has(id)) problems.push(source.problemAt(`/${key}/tokens/${i}`, `no tenant has a token with id '${id}'`));
    });
  }

  // As an admin reads them: file by file in policy order, top to bottom.
  if (problems.length) throw new InvalidJsonFile(files.path, sortProblems(problems, files.names));
  return {
    path: files.path,
    files: files.sources.map((s) => s.file),
    hash: files.hash,
    trustedOwners,
    monitors,
    admins,
    tenants,
    defaults,
    warnings,
  };
}
