// The policy as written: one file, or a directory of *.json files read in the
// order of their names. Each file is a whole policy document, validated against
// policies/policy.schema.json.
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
}

export interface TenantFile extends GrantFile {
  name: string;
  match: MatchFile;
}

export interface PolicyDocument {
  description?: string;
  trustedOwners?: Array<string | number>;
  defaults?: GrantFile;
  tenants?: TenantFile[];
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
  sources: PolicySource[];
  /** sha256 of the files' names and contents, in order: names a policy in logs. */
  hash: string;
}

/** Reads and validates every file; throws InvalidJsonFile with every problem of every file. */
export function readPolicyFiles(policyPath: string): PolicyFiles {
  const resolved = path.resolve(policyPath);
  const files = fs.statSync(resolved).isDirectory()
    ? fs
        .readdirSync(resolved)
        .filter((name) => name.endsWith('.json'))
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
    const text = fs.readFileSync(file, 'utf8');
    hash.update(`${path.basename(file)}\0${text}\0`);
    try {
      sources.push({ file, document: parseValidated<PolicyDocument>(text, file, 'policy'), problemAt: problemLocator(file, text) });
    } catch (error) {
      if (!(error instanceof InvalidJsonFile)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length) throw new InvalidJsonFile(resolved, problems);
  return { path: resolved, sources, hash: hash.digest('hex') };
}
