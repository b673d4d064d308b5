// A seccomp profile: the JSON a person writes (policies/seccomp/*.json,
// validated against policies/seccomp-profile.schema.json), checked further for
// what a schema cannot know (system call and errno names, 64-bit values), and
// resolved into numbers for the compiler.
//
// Meaning: a call that no rule names, or whose rules' conditions do not all
// hold, gets the default action. When several rules match one call, the most
// restrictive action wins (see compareRestrictiveness), so rule order never
// changes what a profile means.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidJsonFile, parseValidated, type Problem } from '../config/json-file.js';
import { jsonPositions } from '../config/json-position.js';
import { policiesDir } from '../paths.js';
import type { Action, ActionKind } from './actions.js';
import type { ArchName } from './arch.js';
import { errnoNumber } from './errno.js';
import { syscallNumber } from './syscalls.js';

export type ArgOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked-eq';

export interface Condition {
  /** Argument number, 0 to 5. */
  index: number;
  op: ArgOp;
  /** Unsigned 64-bit. For masked-eq, the mask. */
  value: bigint;
  /** For masked-eq, what (argument & value) must equal; else 0. */
  valueTwo: bigint;
}

export interface Rule {
  syscalls: number[];
  action: Action;
  /** All must hold (AND). None: the rule always matches its calls. */
  conditions: Condition[];
  /** Where the rule is in the file, e.g. "/syscalls/3". */
  pointer: string;
}

export interface Profile {
  /** "default" for policies/seccomp/default.json: what a blocked-call line names. */
  name: string;
  file: string;
  arch: ArchName;
  defaultAction: Action;
  rules: Rule[];
}

// The file as written, once the schema has accepted it.
type ValueFile = number | string;
interface ConditionFile {
  index: number;
  op: ArgOp;
  value: ValueFile;
  valueTwo?: ValueFile;
}
interface RuleFile {
  names: string[];
  action: ActionKind;
  errno?: string;
  args?: ConditionFile[];
  comment?: string;
}
interface ProfileFile {
  description?: string;
  defaultAction: ActionKind;
  defaultErrno?: string;
  syscalls?: RuleFile[];
}

export const SCHEMA = 'seccomp-profile';
export const SHIPPED_PROFILES_DIR = path.join(policiesDir, 'seccomp');
const U64_MAX = (1n << 64n) - 1n;

/** The shipped profiles' names (policies/seccomp/<name>.json), sorted: for help and messages. */
export function shippedProfiles(): string[] {
  return fs
    .readdirSync(SHIPPED_PROFILES_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** A bare name ("default") means a shipped profile; anything else is a path. */
export function profilePath(nameOrPath: string): string {
  return /^[A-Za-z0-9_-]+$/.test(nameOrPath) ? path.join(SHIPPED_PROFILES_DIR, `${nameOrPath}.json`) : nameOrPath;
}

/** Reads and validates a profile; throws InvalidJsonFile listing every problem. */
export function loadProfile(nameOrPath: string): Profile {
  const file = profilePath(nameOrPath);
  return parseProfile(fs.readFileSync(file, 'utf8'), file);
}

export function parseProfile(text: string, file: string, archName: ArchName = 'x86_64'): Profile {
  const raw = parseValidated<ProfileFile>(text, file, SCHEMA);
  const problems: Problem[] = [];
  let positions: ReturnType<typeof jsonPositions> | undefined;
  const problem = (pointer: string, message: string) => {
    positions ??= jsonPositions(text);
    const at = positions.get(pointer);
    problems.push({ file, pointer, line: at?.line, column: at?.column, message });
  };

  // The schema cannot tie errno/valueTwo to the action/op (ajv's strict mode
  // refuses if/then on required properties): checked here, as clearly.
  // `at` is the object holding the fields: '' (top level) or '/syscalls/3'.
  const action = (at: string, kind: ActionKind, errno: string | undefined, fields: { action: string; errno: string }): Action => {
    if (kind !== 'errno') {
      if (errno !== undefined) problem(`${at}/${fields.errno}`, `${fields.errno} is only meaningful with action 'errno', not '${kind}'`);
      return { kind };
    }
    if (errno === undefined) {
      problem(`${at}/${fields.action}`, `action 'errno' needs the errno to answer: add "${fields.errno}": "EPERM" (or another name)`);
      return { kind, errno: 0 };
    }
    const number = errnoNumber(errno);
    if (number === undefined) problem(`${at}/${fields.errno}`, `unknown errno '${errno}'`);
    return { kind, errno: number ?? 0 };
  };

  const value = (v: ValueFile, pointer: string): bigint => {
    const n = BigInt(v); // the schema admits only digits, 0x-hex or safe integers
    if (n > U64_MAX) problem(pointer, `${v} does not fit in 64 bits`);
    return n;
  };

  const defaultAction = action('', raw.defaultAction, raw.defaultErrno, { action: 'defaultAction', errno: 'defaultErrno' });
  const rules = (raw.syscalls ?? []).map((rule, r): Rule => {
    const at = `/syscalls/${r}`;
    const syscalls: number[] = [];
    rule.names.forEach((name, i) => {
      const nr = syscallNumber(name, archName);
      if (nr === undefined) problem(`${at}/names/${i}`, `unknown system call '${name}'`);
      else syscalls.push(nr);
    });
    const conditions = (rule.args ?? []).map((c, i): Condition => {
      const cAt = `${at}/args/${i}`;
      const v = value(c.value, `${cAt}/value`);
      const v2 = c.valueTwo === undefined ? 0n : value(c.valueTwo, `${cAt}/valueTwo`);
      if (c.op === 'masked-eq' && c.valueTwo === undefined) {
        problem(cAt, "op 'masked-eq' needs valueTwo: the condition is (argument & value) == valueTwo");
      }
      if (c.op !== 'masked-eq' && c.valueTwo !== undefined) {
        problem(`${cAt}/valueTwo`, `valueTwo is only meaningful with op 'masked-eq', not '${c.op}'`);
      }
      if (c.op === 'masked-eq' && (v2 & ~v) !== 0n) {
        problem(`${cAt}/valueTwo`, 'valueTwo has bits outside the mask (value): the condition can never hold');
      }
      return { index: c.index, op: c.op, value: v, valueTwo: v2 };
    });
    return { syscalls, action: action(at, rule.action, rule.errno, { action: 'action', errno: 'errno' }), conditions, pointer: at };
  });

  if (problems.length) throw new InvalidJsonFile(file, problems);
  return { name: path.basename(file).replace(/\.json$/, ''), file, arch: archName, defaultAction, rules };
}
