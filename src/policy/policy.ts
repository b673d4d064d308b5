// The policy in force: which library and input directories a tenant may use,
// and with which limits. Loaded from a JSON file validated against
// policies/policy.schema.json. (Tenants matched by uid, gid or name, and
// several composed files, come with the full policy language.)
import fs from 'node:fs';
import path from 'node:path';
import { readValidated } from '../config/json-file.js';
import type { Limits } from '../launcher/protocol.js';

interface LimitsFile {
  timeoutMs?: number;
}

interface GrantFile {
  libraryDirs: string[];
  inputDirs?: string[];
  limits?: LimitsFile;
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
  /** Problems worth a log line that do not make the policy invalid. */
  warnings: string[];
}

export const DEFAULT_LIMITS: Limits = {
  timeoutMs: 5000,
  cpuMs: 0,
  memoryBytes: 0,
  maxProcs: 0,
  maxFiles: 0,
  outputBytes: 0,
  tmpBytes: 16 * 1024 * 1024,
};

function canonical(dir: string, warnings: string[], rule: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    warnings.push(`${rule}: directory ${dir} does not exist (yet); nothing in it can be used until it does`);
    return path.resolve(dir);
  }
}

export function loadPolicy(file: string, extraDirs: string[] = []): Policy {
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
    limits: { ...DEFAULT_LIMITS, ...parsed.defaults.limits },
    warnings,
  };
}

/** Whether path is dir itself or inside it (so /opt/lib does not allow /opt/library). */
export function isInside(dir: string, file: string): boolean {
  return dir === '/' || file === dir || file.startsWith(`${dir}/`);
}
