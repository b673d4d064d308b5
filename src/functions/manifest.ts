// The manifest of a function, fnjail.json at the top of its bundle: validated
// against policies/manifest.schema.json, then what a schema cannot say (a
// field that belongs to the other kind) checked here, every problem located
// (file:line:column: /pointer: message) like every other file a person edits.
import fs from 'node:fs';
import { formatProblem, InvalidJsonFile, parseValidated, problemLocator, type Problem } from '../config/json-file.js';
import { FnjailError } from '../errors.js';
import type { Limits } from '../launcher/protocol.js';
import { limitsSet } from '../policy/policy.js';
import type { LimitsFile } from '../policy/policy-files.js';

export const MANIFEST_FILE = 'fnjail.json';
/** What `"build": true` runs. */
export const DEFAULT_BUILD_COMMAND = ['make'];

/** fnjail.json as written. */
export interface ManifestDocument {
  $schema?: string;
  name: string;
  description?: string;
  kind: 'library' | 'program';
  functions?: string[];
  mode?: 'per-request' | 'per-connection';
  entry: string;
  build?: boolean | string | string[];
  limits?: LimitsFile;
}

interface ManifestCommon {
  name: string;
  description: string | undefined;
  /** Relative to the bundle's top, canonical (the schema admits no ./, .., // or trailing /). */
  entry: string;
  /** The command a build sandbox runs in a copy of the bundle, or undefined: used as shipped. */
  build: string[] | undefined;
  /** The limits it sets (each only tightens the tenant's: see effectiveLimits). */
  limits: Partial<Limits>;
  /** As written, for the registry and for `fnjail functions show`. */
  document: ManifestDocument;
}

export type Manifest =
  | (ManifestCommon & { kind: 'library'; functions: string[] })
  | (ManifestCommon & { kind: 'program'; mode: 'per-request' | 'per-connection' });

/** The argv of a build: true → make; a string → /bin/sh -c; an array as given. */
function buildCommand(build: ManifestDocument['build']): string[] | undefined {
  if (build === undefined || build === false) return undefined;
  if (build === true) return [...DEFAULT_BUILD_COMMAND];
  if (typeof build === 'string') return ['/bin/sh', '-c', build];
  return build;
}

/** Reads manifest text; throws FnjailError FNJ_MANIFEST_INVALID listing every problem, located. */
export function parseManifest(text: string, file: string): Manifest {
  let document: ManifestDocument;
  try {
    document = parseValidated<ManifestDocument>(text, file, 'manifest');
  } catch (error) {
    if (error instanceof InvalidJsonFile) throw invalidManifest(error);
    throw error;
  }
  const problemAt = problemLocator(file, text);
  const problems: Problem[] = [];
  // The other kind's field is a mistake worth naming, not an unknown property.
  if (document.kind === 'library' && document.mode !== undefined) {
    problems.push(problemAt('/mode', "'mode' is for programs; a library lists its 'functions'"));
  }
  if (document.kind === 'program' && document.functions !== undefined) {
    problems.push(problemAt('/functions', "'functions' is for libraries; a program has a 'mode'"));
  }
  if (problems.length) throw invalidManifest(new InvalidJsonFile(file, problems));
  const common: ManifestCommon = {
    name: document.name,
    description: document.description,
    entry: document.entry,
    build: buildCommand(document.build),
    limits: limitsSet(document.limits),
    document,
  };
  return document.kind === 'library'
    ? { ...common, kind: 'library', functions: document.functions! }
    : { ...common, kind: 'program', mode: document.mode! };
}

export function readManifest(file: string): Manifest {
  return parseManifest(fs.readFileSync(file, 'utf8'), file);
}

/** The located problems, under the code a person looks up. */
export class InvalidManifest extends FnjailError {
  constructor(readonly problems: Problem[], message: string) {
    super('FNJ_MANIFEST_INVALID', message, 'see docs/functions.md for the fields of fnjail.json');
    this.name = 'InvalidManifest';
  }
}

/** The problems in the order a person reads the file: top to bottom. */
function invalidManifest(error: InvalidJsonFile): InvalidManifest {
  const problems = [...error.problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return new InvalidManifest(problems, problems.map(formatProblem).join('\n'));
}
