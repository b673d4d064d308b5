// The policy in force: which library and input directories a tenant may use,
// and with which limits. Loaded from a JSON file validated against
// policies/policy.schema.json. (Tenants matched by uid, gid or name, and
// several composed files, come with the full policy language.)
import fs from 'node:fs';
import path from 'node:path';
import { readValidated } from '../config/json-file.js';
import { parseSize } from '../config/size.js';
import type { Limits } from '../launcher/protocol.js';
import { launcherFilter, type LauncherFilter } from '../seccomp/launcher-filter.js';

interface LimitsFile {
  timeoutMs?: number;
  cpuMs?: number;
  memory?: string | number;
  processes?: number;
  openFiles?: number;
  output?: string | number;
  tmp?: string | number;
}

interface GrantFile {
  libraryDirs: string[];
  inputDirs?: string[];
  limits?: LimitsFile;
  seccompProfile?: string;
}

interface PolicyFile {
  description?: string;
  defaults: GrantFile;
}

/** A directory a grant names, canonical, with where the rule came from. */
export interface AllowedDir {
  dir: string;
  /** "defaults.libraryDirs[0]" or "--allow-dir" */
  rule: string;
}

export interface Policy {
  /** The file it came from (named in denial lines). */
  source: string;
  libraryDirs: AllowedDir[];
  inputDirs: AllowedDir[];
  limits: Limits;
  /** The seccomp profile calls run under, compiled. */
  seccomp: LauncherFilter;
  /** Problems worth a log line that do not make the policy invalid. */
  warnings: string[];
}

export const DEFAULT_LIMITS: Limits = {
  timeoutMs: 5000,
  cpuMs: 2000,
  memoryBytes: 256 * 1024 * 1024,
  maxProcs: 64,
  maxFiles: 256,
  outputBytes: 16 * 1024 * 1024,
  tmpBytes: 16 * 1024 * 1024,
};

/** The limits a policy file gives, over the defaults. */
export function limitsFrom(file: LimitsFile | undefined, base: Limits = DEFAULT_LIMITS): Limits {
  const size = (value: string | number | undefined, fallback: number) => (value === undefined ? fallback : parseSize(value));
  return {
    timeoutMs: file?.timeoutMs ?? base.timeoutMs,
    cpuMs: file?.cpuMs ?? base.cpuMs,
    memoryBytes: size(file?.memory, base.memoryBytes),
    maxProcs: file?.processes ?? base.maxProcs,
    maxFiles: file?.openFiles ?? base.maxFiles,
    outputBytes: size(file?.output, base.outputBytes),
    tmpBytes: size(file?.tmp, base.tmpBytes),
  };
}

function canonical(dir: string, warnings: string[], rule: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    warnings.push(`${rule}: directory ${dir} does not exist (yet); nothing in it can be used until it does`);
    return path.resolve(dir);
  }
}

export const DEFAULT_SECCOMP_PROFILE = 'default';

/** The policy names a seccomp profile that cannot be used. */
export class InvalidSeccompProfile extends Error {
  constructor(
    readonly profile: string,
    cause: Error,
  ) {
    super(cause.message);
    this.name = 'InvalidSeccompProfile';
  }
}

function compiledProfile(nameOrPath: string): LauncherFilter {
  try {
    return launcherFilter(nameOrPath);
  } catch (error) {
    throw new InvalidSeccompProfile(nameOrPath, error as Error);
  }
}

/** seccompOverride: a profile that replaces the policy's (fnjail serve --seccomp). */
export function loadPolicy(file: string, extraDirs: string[] = [], seccompOverride?: string): Policy {
  const parsed = readValidated<PolicyFile>(file, 'policy');
  const warnings: string[] = [];
  const dirs = (list: string[] | undefined, field: string): AllowedDir[] => [
    ...(list ?? []).map((dir, i) => {
      const rule = `defaults.${field}[${i}]`;
      return { dir: canonical(dir, warnings, rule), rule };
    }),
    ...extraDirs.map((dir) => ({ dir: canonical(dir, warnings, '--allow-dir'), rule: '--allow-dir' })),
  ];
  return {
    source: path.resolve(file),
    libraryDirs: dirs(parsed.defaults.libraryDirs, 'libraryDirs'),
    inputDirs: dirs(parsed.defaults.inputDirs, 'inputDirs'),
    limits: limitsFrom(parsed.defaults.limits),
    seccomp: compiledProfile(seccompOverride ?? parsed.defaults.seccompProfile ?? DEFAULT_SECCOMP_PROFILE),
    warnings,
  };
}

/** Whether path is dir itself or inside it (so /opt/lib does not allow /opt/library). */
export function isInside(dir: string, file: string): boolean {
  return dir === '/' || file === dir || file.startsWith(`${dir}/`);
}
