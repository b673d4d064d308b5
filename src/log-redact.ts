// Redaction that covers every place a hidden value appears, not only its field.
// pino's redact replaces the fields at the given paths; but the same values are
// also in messages and in other fields built from them ("uid 4001" in a rule
// or a reason, a TLS client's name, "ip:port" in a refusal). Before a record is
// written, this hook collects the values at the redacted paths and replaces
// every other occurrence of them, as a whole word, in every string of the
// record and in its message; then pino's redact hides the fields themselves.
//
// A value is matched as a whole word (not inside a longer word or number), so
// hiding uid 4001 leaves 14001 alone; a value that also appears as another
// field's value in a string (gid 0 next to a hidden uid 0) is hidden there too:
// too much hidden is the safe side.
import type { LoggerOptions } from 'pino';

const CENSOR = '[redacted]';

type Segment = string | '*';

/** pino redact paths: a.b, a["b-c"], a[*].b, *.b. */
export function parseRedactPath(text: string): Segment[] {
  const segments: Segment[] = [];
  const pattern = /\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\*)|(\d+))\]|([^.[\]]+)/g;
  for (const match of text.matchAll(pattern)) {
    segments.push(match[1] ?? match[2] ?? match[3] ?? match[4] ?? match[5]!);
  }
  return segments;
}

/** The primitive values at a path (all leaves below it when it names an object). */
function valuesAt(value: unknown, path: Segment[], into: Set<string>): void {
  if (value === null || value === undefined) return;
  if (path.length === 0) {
    leaves(value, into);
    return;
  }
  if (typeof value !== 'object') return;
  const [head, ...rest] = path;
  const children = head === '*' ? Object.values(value as object) : [(value as Record<string, unknown>)[head!]];
  for (const child of children) valuesAt(child, rest, into);
}

function leaves(value: unknown, into: Set<string>): void {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    if (text !== '' && text !== CENSOR) into.add(text);
  } else if (value && typeof value === 'object') {
    for (const child of Object.values(value as object)) leaves(child, into);
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces whole-word occurrences of the values in every string (a copy: the caller's objects stay as they are). */
function scrub(value: unknown, pattern: RegExp, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(pattern, CENSOR);
  if (!value || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return scrub({ type: value.name, message: value.message, stack: value.stack, code: (value as NodeJS.ErrnoException).code }, pattern, depth + 1);
  if (Array.isArray(value)) return value.map((item) => scrub(item, pattern, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) copy[key] = scrub(child, pattern, depth + 1);
  return copy;
}

/** The pattern matching any of the values as a whole word, or undefined if there are none. */
export function redactionPattern(values: Iterable<string>): RegExp | undefined {
  // Longest first: "127.0.0.1:5555" before "127.0.0.1".
  const sorted = [...values].sort((a, b) => b.length - a.length).map(escapeRegExp);
  if (!sorted.length) return undefined;
  return new RegExp(`(?<![A-Za-z0-9_])(?:${sorted.join('|')})(?![A-Za-z0-9_])`, 'g');
}

/** pino hooks applying the redaction to messages and to the other fields of each record. */
export function redactionHooks(paths: string[]): NonNullable<LoggerOptions['hooks']> {
  const parsed = paths.map(parseRedactPath);
  return {
    logMethod(args, method) {
      const [first, ...rest] = args as unknown[];
      if (!first || typeof first !== 'object') return method.apply(this, args);
      const values = new Set<string>();
      for (const path of parsed) valuesAt(first, path, values);
      const pattern = redactionPattern(values);
      if (!pattern) return method.apply(this, args);
      const message = rest.map((part) => (typeof part === 'string' ? part.replace(pattern, CENSOR) : part));
      return method.apply(this, [scrub(first, pattern), ...message] as Parameters<typeof method>);
    },
  };
}
