// The policy as written: one file, or a directory of *.json files read in the
// order of their names (hidden ones left out). Each file is a whole policy
// document, validated against policies/policy.schema.json.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidJsonFile, parseValidated, problemLocator, type Problem } from '../config/json-file.js';

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
  maxConcurrent?: number;
}

export interface MatchFile {
  uids?: number[];
  users?: string[];
  gids?: number[];
  groups?: string[];
  tlsClients?: string[];
}

export interface TenantFile extends GrantFile {
  name: string;
  match: MatchFile;
  account?: string;
}

export interface PolicyDocument {
  description?: string;
  trustedOwners?: Array<string | number>;
  monitors?: MatchFile;
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

/** Reads and validates every file. The valid ones are returned with the
 * problems of the others, so that a check reports everything at once. */
export function readPolicyFiles(policyPath: string): PolicyFiles {
  const resolved = path.resolve(policyPath);
  const files = fs.statSync(resolved).isDirectory()
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
  const hash = createHash('sha256');
  const sources: PolicySource[] = [];
  const problems: Problem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      problems.push({ file, pointer: '', line: undefined, column: undefined, message: `cannot be read: ${(error as Error).message}` });
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
