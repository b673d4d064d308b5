// The policy as written: one file, or a directory of *.json files read in the
// order of their names (hidden ones left out). Each file is a whole policy
// document, validated against policies/policy.schema.json, and read only if
// nobody untrusted can change it (policyTrust): a file that fails is refused,
// as invalid JSON is, never read with a warning.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidJsonFile, parseValidated, problemLocator, type Problem } from '../config/json-file.js';
import { statProblem, trustProblem, type TrustRule } from './file-trust.js';

export interface LimitsFile {
  timeoutMs?: number;
  cpuMs?: number;
  memory?: string | number;
  processes?: number;
  openFiles?: number;
  output?: string | number;
  tmp?: string | number;
}

export interface FunctionsFile {
  library: string;
  allow: string[];
}

export interface GrantFile {
  libraryDirs?: string[];
  inputDirs?: string[];
  functions?: FunctionsFile[];
  limits?: LimitsFile;
  seccompProfile?: string;
  programSeccompProfile?: string;
  maxConcurrent?: number;
  maxInput?: string | number;
  deploy?: boolean | { maxFunctions?: number; maxBytes?: string | number };
  callFunctionsOf?: string[];
  manageFunctionsOf?: string[];
}

export interface MatchFile {
  uids?: number[];
  users?: string[];
  gids?: number[];
  groups?: string[];
  tlsClients?: string[];
}

/** monitors and admins: a match, and tokens by id. */
export interface StaffFile extends MatchFile {
  tokens?: string[];
}

export interface TokenFile {
  id: string;
  sha256: string;
  description?: string;
}

export interface TenantFile extends GrantFile {
  name: string;
  match: MatchFile;
  account?: string;
  tokens?: TokenFile[];
}

export interface PolicyDocument {
  description?: string;
  trustedOwners?: Array<string | number>;
  monitors?: StaffFile;
  admins?: StaffFile;
  defaults?: GrantFile;
  /** null: a tenant left out because its schema problems are reported already. */
  tenants?: Array<TenantFile | null>;
}

/** One file of the policy, parsed, with what locates a problem in it. */
export interface PolicySource {
  file: string;
  document: PolicyDocument;
  problemAt: (pointer: string, message: string) => Problem;
}

export interface PolicyFiles {
  /** What was given: the file or the directory. */
  path: string;
  /** Every file, in policy order (valid or not). */
  names: string[];
  sources: PolicySource[];
  /** sha256 of the files' names and contents, in order: names a policy in logs. */
  hash: string;
  /** What is wrong with the files left out of sources (not JSON, or not valid). */
  problems: Problem[];
}

/** Whoever can change the policy decides who may run what: its files, and
 * every directory above them, must be root's (or, for `fnjail policy check`
 * run by another user on a draft, that user's) and writable by nobody else. */
function policyTrust(file: string): TrustRule {
  return {
    owners: new Set([0, process.geteuid?.() ?? 0]),
    noun: `policy file ${file}`,
    above: `policy file ${file}`,
    rationale: 'whoever can change the policy decides who may run what',
  };
}

/** The text of a policy file, read only if it can be trusted (file-trust.ts):
 * its real path checked up to /, then opened without following a link and
 * checked again on the open file, so that what is read is what was checked. */
function readTrusted(file: string, realDir: string | undefined): string {
  const real = fs.realpathSync(file);
  if (realDir !== undefined && !real.startsWith(`${realDir}/`)) {
    throw new Error(`is a symbolic link to ${real}, outside the policy directory: refused (a link may only name another file of the directory)`);
  }
  const rule = policyTrust(real);
  const chain = trustProblem(real, rule);
  if (chain) throw new Error(`refused: ${chain}`);
  const fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error('is not a regular file');
    const now = statProblem(st, rule);
    if (now) throw new Error(`refused: policy file ${real} ${now}: ${rule.rationale}`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and validates every file. The valid ones are returned with the
 * problems of the others, so that a check reports everything at once. */
export function readPolicyFiles(policyPath: string): PolicyFiles {
  const resolved = path.resolve(policyPath);
  const isDirectory = fs.statSync(resolved).isDirectory();
  const files = isDirectory
    ? fs
        .readdirSync(resolved)
        // Hidden names are editors' (Emacs's .#policy.json lock, swap files): never policy.
        .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
        .sort()
        .map((name) => path.join(resolved, name))
    : [resolved];
  if (files.length === 0) {
    throw new InvalidJsonFile(resolved, [
      { file: resolved, pointer: '', line: undefined, column: undefined, message: 'the policy directory holds no *.json file' },
    ]);
  }
  const realDir = isDirectory ? fs.realpathSync(resolved) : undefined;
  const hash = createHash('sha256');
  const sources: PolicySource[] = [];
  const problems: Problem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readTrusted(file, realDir);
    } catch (error) {
      const message = (error as Error).message;
      problems.push({ file, pointer: '', line: undefined, column: undefined, message: /^(is |refused)/.test(message) ? message : `cannot be read: ${message}` });
      continue;
    }
    hash.update(`${path.basename(file)}\0${text}\0`);
    try {
      sources.push({ file, document: parseValidated<PolicyDocument>(text, file, 'policy'), problemAt: problemLocator(file, text) });
    } catch (error) {
      if (!(error instanceof InvalidJsonFile)) throw error;
      problems.push(...error.problems);
      // The rest of the file is still checked (conflicts, unknown users), so
      // that every problem is reported at once, not one kind per edit.
      const valid = validPart(error.value, error.problems);
      if (valid) sources.push({ file, document: valid, problemAt: problemLocator(file, text) });
    }
  }
  return { path: resolved, names: files, sources, hash: hash.digest('hex'), problems };
}

/**
 * What of a document that failed its schema is valid on its own: the
 * top-level keys and the tenants with no problem inside them. The schema
 * relates nothing across them, so each part that passed is valid as it is.
 * Tenants left out stay as null, so that the others keep their index (and
 * their problems their position).
 */
function validPart(value: unknown, problems: Problem[]): PolicyDocument | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const document: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const badTenants = new Set<number>();
  for (const { pointer } of problems) {
    const [key, index] = pointer.split('/').slice(1);
    if (key === undefined) return undefined; // the document as a whole
    if (key === 'tenants' && index !== undefined && /^\d+$/.test(index) && Array.isArray(document.tenants)) badTenants.add(Number(index));
    else delete document[key];
  }
  if (Array.isArray(document.tenants)) document.tenants = document.tenants.map((t: unknown, i) => (badTenants.has(i) ? null : t));
  return document as PolicyDocument;
}
