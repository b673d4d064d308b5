// What a profile answers for each system call number, before any code is
// generated: where the meaning of overlapping rules is decided.
//
// A call's rules are tried most restrictive first (compareRestrictiveness),
// so the first whose conditions all hold is the most restrictive match: the
// order of the rules in the file cannot change the result. A call no rule
// names, or none of whose rules matches, gets the default action.
import { compareRestrictiveness, sameAction, type Action } from './actions.js';
import type { Condition, Rule } from './profile.js';

/** What the program answers for a call: one return value, or conditional
 * rules tried in order with a return value if none matches. */
export type Outcome = { kind: 'ret'; k: number } | { kind: 'block'; rules: BlockRule[]; fallthrough: number };
export interface BlockRule {
  /** The return value when all conditions hold. */
  k: number;
  conditions: Condition[];
}

/** Numbers [start, next range's start) that share an outcome. */
export interface Range {
  start: number;
  outcome: Outcome;
  /** Equal keys, equal outcomes: ranges and blocks are shared by key. */
  key: string;
}

type ReturnValue = (action: Action) => number;

const conditionKey = (c: Condition) => `${c.index}:${c.op}:${c.value}:${c.valueTwo}`;

export const outcomeKey = (o: Outcome) =>
  o.kind === 'ret'
    ? `ret ${o.k}`
    : `block ${o.fallthrough} ${o.rules.map((r) => `${r.k}[${r.conditions.map(conditionKey).join()}]`).join(' ')}`;

/** The outcome of one call from the rules that name it. */
export function outcome(rules: readonly Rule[], defaultAction: Action, ret: ReturnValue): Outcome {
  // Ties (same action) are ordered by their conditions only so that the
  // program's bytes, too, do not depend on the rule order.
  const key = (r: Rule) => r.conditions.map(conditionKey).join();
  const sorted = [...rules].sort((a, b) => compareRestrictiveness(a.action, b.action) || key(a).localeCompare(key(b)));
  // Rules after one without conditions can never be reached.
  const always = sorted.findIndex((r) => r.conditions.length === 0);
  const tried = always === -1 ? sorted : sorted.slice(0, always);
  const fallthrough = always === -1 ? defaultAction : sorted[always]!.action;
  // A last rule that answers what falling through answers changes nothing.
  while (tried.length && sameAction(tried.at(-1)!.action, fallthrough)) tried.pop();
  if (!tried.length) return { kind: 'ret', k: ret(fallthrough) };
  return { kind: 'block', rules: tried.map((r) => ({ k: ret(r.action), conditions: r.conditions })), fallthrough: ret(fallthrough) };
}

/** Splits the numbers 0..end-1 into ranges that share an outcome; numbers no
 * rule names get the default action. */
export function ranges(rules: readonly Rule[], defaultAction: Action, ret: ReturnValue, end: number): Range[] {
  const byNumber = new Map<number, Rule[]>();
  for (const rule of rules) {
    for (const nr of new Set(rule.syscalls)) byNumber.set(nr, [...(byNumber.get(nr) ?? []), rule]);
  }
  const byDefault: Outcome = { kind: 'ret', k: ret(defaultAction) };
  const pieces: [number, Outcome][] = [];
  let next = 0;
  for (const nr of [...byNumber.keys()].sort((a, b) => a - b)) {
    if (nr >= end) continue; // not in a generated table, and killed before the search anyway
    if (nr > next) pieces.push([next, byDefault]);
    pieces.push([nr, outcome(byNumber.get(nr)!, defaultAction, ret)]);
    next = nr + 1;
  }
  if (next < end) pieces.push([next, byDefault]);
  const out: Range[] = [];
  for (const [start, o] of pieces) {
    const key = outcomeKey(o);
    if (out.at(-1)?.key !== key) out.push({ start, outcome: o, key });
  }
  return out;
}
