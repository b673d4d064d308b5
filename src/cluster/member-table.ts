// The member table's rules, as pure functions of what was heard and when, so
// they are tested with a clock of the test's own. The coordinator applies
// them (coordinator.ts); every node shows their result (membership.ts).
//
//   first heartbeat of an incarnation      → joining, then up once it is ready
//   no heartbeat for suspectAfterMs        → suspect
//   no heartbeat for downAfterMs           → down
//   a heartbeat again (suspect or down)    → up (through joining from down)
//   a leave message                        → left
//   a heartbeat of a new incarnation       → the old one down ("restarted"), the new one joining
// Silence is measured on the coordinator's monotonic clock from the arrival
// of the last heartbeat; a coordinator that just took over counts a member it
// has not heard yet as heard at its takeover, so a takeover alone marks no one.
import { FnjailError } from '../errors.js';
import type { HeartbeatMessage, MemberChange, MemberState } from './wire.js';

export interface MembershipTimings {
  /** Between two heartbeats of a node. */
  heartbeatMs: number;
  /** Silence after which a node is suspect. */
  suspectAfterMs: number;
  /** Silence after which a node is down. */
  downAfterMs: number;
  /** A coordinator's lease: unrenewed for this long, another node takes over. */
  leaseMs: number;
}

export const DEFAULT_TIMINGS: MembershipTimings = { heartbeatMs: 1000, suspectAfterMs: 3000, downAfterMs: 5000, leaseMs: 3000 };

/** Refuses timings that would mark nodes suspect between two of their heartbeats (FNJ_USAGE). */
export function checkTimings(timings: MembershipTimings): MembershipTimings {
  const { heartbeatMs, suspectAfterMs, downAfterMs, leaseMs } = timings;
  const problems = [
    heartbeatMs >= 50 ? '' : 'the heartbeat interval must be at least 50 ms',
    suspectAfterMs >= 2 * heartbeatMs ? '' : 'suspect-after must be at least two heartbeat intervals',
    downAfterMs > suspectAfterMs ? '' : 'down-after must be longer than suspect-after',
    leaseMs >= 2 * heartbeatMs ? '' : 'the lease must be at least two heartbeat intervals (it is renewed at each)',
  ].filter(Boolean);
  if (problems.length) throw new FnjailError('FNJ_USAGE', `cluster timings: ${problems.join('; ')}`);
  return timings;
}

export interface MemberEntry {
  node: string;
  incarnation: string;
  startedAt: number;
  state: MemberState;
  /** When it entered this state (epoch ms, the coordinator's clock). */
  since: number;
  version: string;
  /** Who wrote it, in which term. */
  coordinator: string;
  term: number;
}

/** What this node heard of another: its latest heartbeat, when (monotonic ms), and a leave. */
export interface HeardNode {
  incarnation: string;
  startedAt: number;
  lastMono: number;
  heartbeat: HeartbeatMessage;
  /** The incarnation a leave message was heard for. */
  leftIncarnation?: string;
}

export interface EvaluateInput {
  table: ReadonlyMap<string, MemberEntry>;
  heard: ReadonlyMap<string, HeardNode>;
  nowMono: number;
  nowWall: number;
  /** When this coordinator took over (monotonic ms). */
  sinceMono: number;
  timings: MembershipTimings;
}

type AddChange = (incarnation: string, from: MemberState | null, to: MemberState, reason: string, silentMs?: number) => MemberState;

/** The changes the table needs now, in order (node by node, each node's in sequence). */
export function evaluate(input: EvaluateInput): MemberChange[] {
  const { table, heard, nowMono, nowWall, timings } = input;
  const changes: MemberChange[] = [];
  const names = [...new Set([...table.keys(), ...heard.keys()])].sort();
  for (const node of names) {
    const entry = table.get(node);
    let h = heard.get(node);
    // An older incarnation than the table's, still heard (a process that should be gone): not believed.
    if (h && entry && h.incarnation !== entry.incarnation && h.startedAt < entry.startedAt) h = undefined;
    const add: AddChange = (incarnation, from, to, reason, silentMs) => {
      changes.push({ node, incarnation, from, to, at: nowWall, reason, ...(silentMs !== undefined ? { silentMs: Math.round(silentMs) } : {}) });
      return to;
    };
    if (!h || (entry && h.incarnation === entry.incarnation)) {
      if (entry) judge(entry, h, input, add);
      continue;
    }
    // A new incarnation.
    const silent = nowMono - h.lastMono;
    if (h.leftIncarnation !== h.incarnation && silent >= timings.downAfterMs) {
      // Heard once, long ago, and never since: nothing to add; an old entry is judged as unheard.
      if (entry) judge(entry, undefined, input, add);
      continue;
    }
    if (entry && entry.state !== 'down' && entry.state !== 'left') add(entry.incarnation, entry.state, 'down', 'restarted: a new incarnation is running');
    if (h.leftIncarnation === h.incarnation) {
      add(h.incarnation, null, 'left', 'left cleanly');
      continue;
    }
    const state = add(h.incarnation, null, 'joining', entry ? 'rejoined with a new incarnation' : 'first heartbeat');
    if (h.heartbeat.ready) add(h.incarnation, state, 'up', 'ready');
  }
  return changes;
}

/** The changes of a known incarnation, from its silence (h: what was heard of it, if anything). */
function judge(entry: MemberEntry, h: HeardNode | undefined, input: EvaluateInput, add: AddChange): void {
  const { nowMono, sinceMono, timings } = input;
  let state = entry.state;
  if (state === 'left') return;
  if (h?.leftIncarnation === entry.incarnation) {
    add(entry.incarnation, state, 'left', 'left cleanly');
    return;
  }
  const silent = nowMono - (h ? h.lastMono : sinceMono);
  const ready = h?.heartbeat.ready ?? false;
  if (state === 'down') {
    if (!h || silent >= timings.suspectAfterMs) return;
    state = add(entry.incarnation, state, 'joining', 'heard again');
  }
  if (state === 'joining' || state === 'up') {
    if (silent >= timings.suspectAfterMs) state = add(entry.incarnation, state, 'suspect', 'no heartbeat', silent);
    else if (state === 'joining' && ready) state = add(entry.incarnation, state, 'up', 'ready');
  }
  if (state === 'suspect') {
    if (silent >= timings.downAfterMs) add(entry.incarnation, state, 'down', 'no heartbeat', silent);
    else if (silent < timings.suspectAfterMs) add(entry.incarnation, state, ready ? 'up' : 'joining', 'heard again');
  }
}

/** The table's entries after these changes (the last change of a node wins). */
export function applyChanges(
  table: ReadonlyMap<string, MemberEntry>,
  heard: ReadonlyMap<string, HeardNode>,
  changes: MemberChange[],
  by: { coordinator: string; term: number },
): Map<string, MemberEntry> {
  const updated = new Map<string, MemberEntry>();
  for (const change of changes) {
    const before = updated.get(change.node) ?? table.get(change.node);
    const h = heard.get(change.node);
    const same = before?.incarnation === change.incarnation ? before : undefined;
    const fromHeard = h?.incarnation === change.incarnation ? h : undefined;
    updated.set(change.node, {
      node: change.node,
      incarnation: change.incarnation,
      startedAt: fromHeard?.startedAt ?? same?.startedAt ?? 0,
      state: change.to,
      since: change.at,
      version: fromHeard?.heartbeat.version ?? same?.version ?? '',
      coordinator: by.coordinator,
      term: by.term,
    });
  }
  return updated;
}

/** A line of the operator's view: the table's entry and the latest heartbeat this node heard. */
export interface MemberRow {
  node: string;
  state: MemberState;
  incarnation: string;
  /** When it entered its state (ISO 8601). */
  since: string;
  version: string;
  /** It holds the coordinator's lease. */
  coordinator: boolean;
  /** Since its last heartbeat arrived here; null: none heard from this incarnation. */
  heartbeatAgeMs: number | null;
  cpu: HeartbeatMessage['cpu'] | null;
  memory: HeartbeatMessage['memory'] | null;
  load: HeartbeatMessage['load'] | null;
  calls: HeartbeatMessage['calls'] | null;
}

export function memberRows(table: ReadonlyMap<string, MemberEntry>, heard: ReadonlyMap<string, HeardNode>, coordinator: string | undefined, nowMono: number): MemberRow[] {
  return [...table.values()]
    .sort((a, b) => a.node.localeCompare(b.node))
    .map((entry) => {
      const h = heard.get(entry.node);
      const beat = h?.incarnation === entry.incarnation ? h : undefined;
      return {
        node: entry.node,
        state: entry.state,
        incarnation: entry.incarnation,
        since: new Date(entry.since).toISOString(),
        version: entry.version,
        coordinator: entry.node === coordinator,
        heartbeatAgeMs: beat ? Math.max(0, Math.round(nowMono - beat.lastMono)) : null,
        cpu: beat?.heartbeat.cpu ?? null,
        memory: beat?.heartbeat.memory ?? null,
        load: beat?.heartbeat.load ?? null,
        calls: beat?.heartbeat.calls ?? null,
      };
    });
}

/**
 * Why work tied to one incarnation of a node is over, from its entry in the
 * member table (a verb phrase: "restarted", "went down"): it restarted (another incarnation), or went down or left;
 * undefined while it lives. `known` undefined: any incarnation is its own.
 */
export function goneReason(known: string | undefined, incarnation: string, state: string): string | undefined {
  if (known !== undefined && known !== incarnation) return 'restarted';
  if (state === 'down' || state === 'left') return `went ${state}`;
  return undefined;
}
