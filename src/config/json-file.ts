// Reading a JSON file a person edits (policy, config, seccomp profile) and
// validating it against its JSON Schema in policies/, with every problem
// located: "file:line:column: /json/pointer: what is wrong".
import type { ErrorObject, ValidateFunction } from 'ajv';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot, policiesDir } from '../paths.js';
import { sharedAjv } from './ajv.js';
import { familyHash, schemaFamily } from './schema-options.js';
import { jsonPositions, syntaxErrorPosition } from './json-position.js';

export interface Problem {
  file: string;
  pointer: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
}

export function formatProblem(p: Problem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.column}` : p.file;
  return `${where}: ${p.pointer || '(top level)'}: ${p.message}`;
}

export class InvalidJsonFile extends Error {
  constructor(
    readonly file: string,
    readonly problems: Problem[],
    /** The document, when the text was JSON and only its schema failed: a
     * check can then go on and report what else is wrong with it. */
    readonly value?: unknown,
  ) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'InvalidJsonFile';
  }
}

const validators = new Map<string, ValidateFunction>();
const require = createRequire(import.meta.url);

/**
 * The validator of policies/<name>.schema.json: the one precompiled at build
 * time (scripts/gen-validators.mjs: no ajv to load, no schema to compile),
 * unless the schema or a sibling schema it refers to changed since; then
 * compiled here, with the same options.
 */
export function schemaValidator(name: string): ValidateFunction {
  let validate = validators.get(name);
  if (!validate) {
    const family = schemaFamily(name, (member) => fs.readFileSync(path.join(policiesDir, `${member}.schema.json`), 'utf8'));
    // node:crypto when first needed: fnjail serve reads no schema before it listens.
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    validate = precompiled(name, familyHash(family, createHash)) ?? compile(family);
    validators.set(name, validate);
  }
  return validate;
}

function precompiled(name: string, hash: string): ValidateFunction | undefined {
  try {
    const module = require(path.join(packageRoot, 'dist', 'validators', `${name}.cjs`)) as { default: ValidateFunction; schemaHash: string };
    return module.schemaHash === hash ? module.default : undefined;
  } catch {
    return undefined; // not built: compile it
  }
}

/** Compiles the family's last schema, the siblings it refers to added first. */
function compile(family: { name: string; text: string }[]): ValidateFunction {
  const ajv = sharedAjv();
  const schemas = family.map((member) => JSON.parse(member.text) as { $id?: string });
  for (const sibling of schemas.slice(0, -1)) if (!sibling.$id || !ajv.getSchema(sibling.$id)) ajv.addSchema(sibling);
  const schema = schemas.at(-1)!;
  // A sibling added for another schema is this one's own validator.
  return (schema.$id && ajv.getSchema(schema.$id)) || ajv.compile(schema);
}

function describe(error: ErrorObject): { pointer: string; message: string } {
  const pointer = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return {
        pointer: `${pointer}/${String(params.additionalProperty)}`,
        message: `unknown property '${String(params.additionalProperty)}'`,
      };
    case 'required':
      return { pointer, message: `missing required property '${String(params.missingProperty)}'` };
    case 'format':
      return params.format === 'absolute-path'
        ? { pointer, message: 'must be an absolute path' }
        : { pointer, message: error.message ?? 'invalid format' };
    case 'enum':
      return { pointer, message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { pointer, message: error.message ?? error.keyword };
  }
}

/** V8's message without what line:column says better (the offset, a snippet of the text). */
function syntaxMessage(error: Error): string {
  return error.message.replace(/, (\.\.\.)?".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
}

/** Validates already-read JSON text; returns the value or throws InvalidJsonFile. */
export function parseValidated<T>(text: string, file: string, schema: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = syntaxErrorPosition(text, error as Error);
    throw new InvalidJsonFile(file, [
      { file, pointer: '', line: position?.line, column: position?.column, message: `not valid JSON: ${syntaxMessage(error as Error)}` },
    ]);
  }
  const validate = schemaValidator(schema);
  if (validate(value)) return value as T;
  const positions = jsonPositions(text);
  const seen = new Set<string>();
  const problems: Problem[] = [];
  const errors = validate.errors ?? [];
  // An alternative with a description says what is expected in one line; the
  // failures of its branches below it are noise.
  const described = errors.filter((e) => (e.keyword === 'oneOf' || e.keyword === 'anyOf') && typeof e.parentSchema?.description === 'string');
  const underDescribed = (e: ErrorObject) => described.some((d) => d !== e && e.schemaPath.startsWith(`${d.schemaPath}/`) && e.instancePath.startsWith(d.instancePath));
  for (const error of errors) {
    if (underDescribed(error)) continue;
    // Without a description, an alternative's summary line is noise: its branches say more.
    if (!described.includes(error) && (error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'if')) continue;
    const { pointer, message } = described.includes(error)
      ? { pointer: error.instancePath, message: `must be ${String(error.parentSchema!.description).replace(/^./, (c) => c.toLowerCase())}` }
      : describe(error);
    const key = `${pointer}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const position = positions.get(pointer) ?? positions.get(error.instancePath);
    problems.push({ file, pointer, line: position?.line, column: position?.column, message });
  }
  throw new InvalidJsonFile(file, problems, value);
}

export function readValidated<T>(file: string, schema: string): T {
  return parseValidated<T>(fs.readFileSync(file, 'utf8'), file, schema);
}

/** Locates problems found after validation (a conflict, an unknown name) in
 * the text they came from, like the schema's own. */
export function problemLocator(file: string, text: string): (pointer: string, message: string) => Problem {
  let positions: Map<string, { line: number; column: number }> | undefined;
  return (pointer, message) => {
    positions ??= jsonPositions(text);
    const at = positions.get(pointer);
    return { file, pointer, line: at?.line, column: at?.column, message };
  };
}

/** Problems as a person reads them: file by file in the order given (others
 * after), top to bottom; problems without a position first in their file. */
export function sortProblems(problems: Problem[], files: string[] = []): Problem[] {
  const rank = (file: string) => (files.includes(file) ? files.indexOf(file) : files.length);
  const order = (p: Problem) => [rank(p.file), p.line ?? 0, p.column ?? 0];
  return [...problems].sort((a, b) => order(a).reduce((diff, value, i) => diff || value - order(b)[i]!, 0) || a.file.localeCompare(b.file));
}
