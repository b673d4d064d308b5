// The rules of a tenant, compiled from what the policy says: each allowed
// directory becomes a JSON Schema (ajv), each function pattern a glob matcher
// (glob.ts: linear time, no regular expression), and a request is allowed by
// the first rule it satisfies. What is enforced is thus the policy's own text,
// turned into validators; the decision names the rule (e.g.
// "tenants[1].libraryDirs[0]").
import { Ajv, type ValidateFunction } from 'ajv';
import { globMatcher } from './glob.js';

const ajv = new Ajv({ strict: true });

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A directory and everything below it: /opt/lib allows /opt/lib/x.so, never /opt/library. */
export function insideSchema(dir: string): object {
  return { type: 'string', pattern: dir === '/' ? '^/' : `^${escapeRegExp(dir)}(/|$)` };
}

const compiled = new Map<string, ValidateFunction>();
function compile(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate;
}

/** An allowed directory of a tenant. */
export interface DirRule {
  /** Where the rule is written: "tenants[0].libraryDirs[1]", "defaults.inputDirs[0]", "--allow-dir". */
  rule: string;
  /** The file it is written in. */
  source: string;
  /** Canonical (symlinks resolved when the policy was loaded). */
  dir: string;
  contains: (path: string) => boolean;
}

export function dirRule(rule: string, source: string, dir: string): DirRule {
  const validate = compile(insideSchema(dir));
  return { rule, source, dir, contains: (p) => validate(p) };
}

/** Which functions may be called from a library, or from libraries in a directory. */
export interface FunctionRule {
  rule: string;
  source: string;
  /** Canonical path of a library file or of a directory. */
  library: string;
  isDirectory: boolean;
  patterns: string[];
  applies: (library: string) => boolean;
  allows: (fn: string) => boolean;
}

export function functionRule(rule: string, source: string, library: string, isDirectory: boolean, patterns: string[]): FunctionRule {
  const scope = compile(isDirectory ? insideSchema(library) : { type: 'string', const: library });
  // Globs are matched by glob.ts, never as regular expressions (they would backtrack on a tenant's names).
  const names = patterns.map(globMatcher);
  return {
    rule,
    source,
    library,
    isDirectory,
    patterns,
    applies: (l) => scope(l),
    allows: (fn) => names.some((v) => v(fn)),
  };
}

/** The function rule for a library: a rule naming the file wins, then the deepest directory. */
export function functionRuleFor(rules: FunctionRule[], library: string): FunctionRule | undefined {
  let best: FunctionRule | undefined;
  for (const rule of rules) {
    if (!rule.applies(library)) continue;
    if (!best || (!rule.isDirectory && best.isDirectory) || (rule.isDirectory === best.isDirectory && rule.library.length > best.library.length)) {
      best = rule;
    }
  }
  return best;
}
