// A job's record (its ticket), as the KV bucket keeps it, and every change
// of it, as pure functions: what a node or a front end does to a record is
// computed here, then written with optimistic concurrency (job-store.ts), so
// that the rules hold whichever node applies them and however often a change
// must be retried after losing a race.
//
// A replica is WAITING, RUNNING (on a node), COMPLETED or INVALID (with its
// outcome and Reason lines). The ticket is WAITING while no replica started,
// COMPLETED when all completed, INVALID as soon as one is invalid (the others
// are then stopped: marked INVALID "stopped", and their nodes told to cancel
// them), else RUNNING. Every transition is kept with its time.
import type { OutcomeKind } from '../executor/classify.js';
import type { Tenant } from '../policy/decide.js';

export const JOB_STATES = ['WAITING', 'RUNNING', 'COMPLETED', 'INVALID'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** How an INVALID replica ended: a call's outcome, or one of a job's own. */
export type JobOutcome = OutcomeKind | 'build-failed' | 'node-lost' | 'cancelled' | 'stopped';

export interface Transition {
  state: JobState;
  /** ISO 8601. */
  at: string;
  node?: string;
  attempt?: number;
  /** Why, when it is not the obvious: "redelivered: node a was lost", "cancelled by uid 1000". */
  note?: string;
}

export interface ReplicaRecord {
  /** 1 to the job's replica count. */
  replica: number;
  state: JobState;
  /** Runs started (a redelivery after a lost node is one more). */
  attempts: number;
  /** Where it runs, or ran last. */
  node?: string;
  /** The node's life it ran in (new at each start of a server). */
  incarnation?: string;
  /** Its work item's sequence in the queue stream (to withdraw it). */
  queueSeq?: number;
  outcome?: JobOutcome;
  reasons: string[];
  /** A function job: the version that ran; the request id of its audit record. */
  version?: string;
  request?: string;
  /** Its output: in the object store (output/<replica>-<attempt>), or a small one here. */
  output?: ReplicaOutput;
  history: Transition[];
}

/** An output up to this size is kept in the record itself (base64): one write
 * where the object store takes three round trips, and none to read it back.
 * Small enough for a record of the most replicas to stay far below a NATS
 * message's limit. */
export const INLINE_OUTPUT_BYTES = 1024;

export type ReplicaOutput = { object: string; bytes: number } | { inline: string; bytes: number };

export type JobTarget =
  | { kind: 'function'; name: string; function?: string; owner: string }
  | { kind: 'bundle'; hash: string; bytes: number };

export interface JobRecord {
  ticket: string;
  /** Who may see it: the submitter's principal (job-owner.ts). */
  owner: string;
  /** The tenant it was submitted as (its queue, its limits). */
  tenant: string;
  /** The peer that submitted it: the replicas run as it, under the policy in force when they run. */
  peer: Tenant;
  submittedBy: string;
  /** The node that accepted it. */
  node: string;
  target: JobTarget;
  input?: { bytes: number };
  timeoutMs?: number;
  /** False while its work items are being published: a node that takes one waits for it. */
  queued: boolean;
  state: JobState;
  submittedAt: string;
  endedAt?: string;
  replicas: ReplicaRecord[];
  history: Transition[];
}

/** One transition of a replica (replica set) or of the ticket, for the audit log and the statistics. */
export interface Change {
  ticket: string;
  replica: number | undefined;
  from: JobState | undefined;
  to: JobState;
  node: string | undefined;
  attempt: number | undefined;
  outcome: JobOutcome | undefined;
  reasons: string[];
  note: string | undefined;
  /** Milliseconds spent in the state left (a replica's wait or run). */
  afterMs: number | undefined;
}

export const isEnded = (state: JobState): boolean => state === 'COMPLETED' || state === 'INVALID';

/** The ticket's state from its replicas'. */
export function ticketState(replicas: ReplicaRecord[]): JobState {
  if (replicas.some((r) => r.state === 'INVALID')) return 'INVALID';
  if (replicas.every((r) => r.state === 'COMPLETED')) return 'COMPLETED';
  if (replicas.every((r) => r.state === 'WAITING')) return 'WAITING';
  return 'RUNNING';
}

export function newJob(fields: Omit<JobRecord, 'state' | 'replicas' | 'history' | 'submittedAt'>, replicas: number, submittedAt: Date): JobRecord {
  const at = submittedAt.toISOString();
  return {
    ...fields,
    state: 'WAITING',
    submittedAt: at,
    replicas: Array.from({ length: replicas }, (_, i) => ({ replica: i + 1, state: 'WAITING', attempts: 0, reasons: [], history: [{ state: 'WAITING', at }] })),
    history: [{ state: 'WAITING', at }],
  };
}

/** Records changes on a record, then settles the ticket (job-wide consequences). */
class Changes {
  readonly list: Change[] = [];
  constructor(
    readonly record: JobRecord,
    readonly at: Date,
  ) {}

  replica(r: ReplicaRecord, to: JobState, fields: { node?: string; attempt?: number; outcome?: JobOutcome; reasons?: string[]; note?: string } = {}): void {
    const from = r.state;
    const last = r.history.at(-1);
    const at = this.at.toISOString();
    r.state = to;
    if (fields.outcome !== undefined) r.outcome = fields.outcome;
    if (fields.reasons !== undefined) r.reasons = fields.reasons;
    const transition: Transition = { state: to, at };
    if (fields.node !== undefined) transition.node = fields.node;
    if (fields.attempt !== undefined) transition.attempt = fields.attempt;
    if (fields.note !== undefined) transition.note = fields.note;
    r.history.push(transition);
    this.list.push({
      ticket: this.record.ticket,
      replica: r.replica,
      from,
      to,
      node: fields.node ?? r.node,
      attempt: fields.attempt ?? (r.attempts || undefined),
      outcome: fields.outcome,
      reasons: fields.reasons ?? [],
      note: fields.note,
      afterMs: last ? this.at.getTime() - Date.parse(last.at) : undefined,
    });
  }

  /** The ticket follows its replicas; an invalid one stops the others. */
  settle(): Change[] {
    const { record } = this;
    const failed = record.replicas.find((r) => r.state === 'INVALID' && r.outcome !== 'stopped');
    if (failed) {
      for (const r of record.replicas) {
        if (isEnded(r.state)) continue;
        this.replica(r, 'INVALID', { outcome: 'stopped', reasons: [`stopped: replica ${failed.replica} of the job is invalid (${failed.outcome})`] });
      }
    }
    const state = ticketState(record.replicas);
    if (state !== record.state) {
      const from = record.state;
      const at = this.at.toISOString();
      const last = record.history.at(-1);
      record.state = state;
      record.history.push({ state, at });
      if (isEnded(state)) record.endedAt = at;
      const cause = state === 'INVALID' ? failed : undefined;
      this.list.push({
        ticket: record.ticket,
        replica: undefined,
        from,
        to: state,
        node: undefined,
        attempt: undefined,
        outcome: cause?.outcome,
        reasons: cause ? [`replica ${cause.replica}: ${cause.reasons.join('; ')}`] : [],
        note: undefined,
        afterMs: last ? this.at.getTime() - Date.parse(last.at) : undefined,
      });
    }
    return this.list;
  }
}

export type StartVerdict =
  /** Run it: attempt n. */
  | { kind: 'start'; attempt: number; changes: Change[] }
  /** It ended already (a duplicate delivery, a cancelled job): drop the work item. */
  | { kind: 'ended' }
  /** Its runs were lost too often: it is INVALID now; drop the work item. */
  | { kind: 'lost'; changes: Change[] };

/** A node took the replica's work item from the queue. */
export function startReplica(record: JobRecord, replica: number, node: { name: string; incarnation: string }, maxAttempts: number, at: Date): StartVerdict {
  const r = replicaOf(record, replica);
  if (isEnded(r.state) || isEnded(record.state)) return { kind: 'ended' };
  const changes = new Changes(record, at);
  // RUNNING still: the node that took it last stopped answering (its work item came back).
  const lost = r.state === 'RUNNING' ? `node ${r.node ?? '?'} was lost while running attempt ${r.attempts}` : undefined;
  if (r.attempts >= maxAttempts) {
    const reasons = [
      `node lost: ${lost ?? `attempt ${r.attempts} did not end on node ${r.node ?? '?'}`}; not run again: ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'} at most (at-least-once delivery)`,
      ...(r.reasons.length && !lost ? r.reasons : []),
    ];
    changes.replica(r, 'INVALID', { outcome: 'node-lost', reasons });
    return { kind: 'lost', changes: changes.settle() };
  }
  r.attempts += 1;
  r.node = node.name;
  r.incarnation = node.incarnation;
  const note = lost ? `redelivered: ${lost}` : r.attempts > 1 ? `requeued: ${r.reasons.join('; ') || 'its node gave it back'}` : undefined;
  r.reasons = [];
  delete r.outcome;
  changes.replica(r, 'RUNNING', { node: node.name, attempt: r.attempts, ...(note ? { note } : {}) });
  return { kind: 'start', attempt: r.attempts, changes: changes.settle() };
}

export interface ReplicaResult {
  outcome: JobOutcome | 'ok';
  reasons: string[];
  version?: string;
  request?: string;
  output?: ReplicaOutput;
}

export type FinishVerdict =
  /** requeued: given back to the queue, for another run. */
  | { kind: 'recorded'; changes: Change[]; requeued?: boolean }
  /** The replica ended meanwhile (stopped, cancelled): the output is attached if it had none. */
  | { kind: 'ended'; attached: boolean }
  /** Another run of it was started since (a redelivery): this result is not the one kept. */
  | { kind: 'stale' };

/** Whether this run (node, incarnation, attempt) is the replica's current one. */
function current(r: ReplicaRecord, node: { name: string; incarnation: string }, attempt: number): boolean {
  return r.attempts === attempt && r.node === node.name && r.incarnation === node.incarnation;
}

/** A run ended with a result. */
export function finishReplica(record: JobRecord, replica: number, node: { name: string; incarnation: string }, attempt: number, result: ReplicaResult, at: Date): FinishVerdict {
  const r = replicaOf(record, replica);
  if (!current(r, node, attempt)) return { kind: 'stale' };
  if (r.state !== 'RUNNING') {
    // Stopped or cancelled while it ran: what it printed is still worth keeping.
    if (r.state !== 'WAITING' && result.output && !r.output) {
      r.output = result.output;
      return { kind: 'ended', attached: true };
    }
    return { kind: 'ended', attached: false };
  }
  if (result.version !== undefined) r.version = result.version;
  if (result.request !== undefined) r.request = result.request;
  if (result.output) r.output = result.output;
  const changes = new Changes(record, at);
  if (result.outcome === 'ok') changes.replica(r, 'COMPLETED', { node: node.name, attempt, outcome: undefined, reasons: [] });
  else changes.replica(r, 'INVALID', { node: node.name, attempt, outcome: result.outcome, reasons: result.reasons });
  return { kind: 'recorded', changes: changes.settle() };
}

/** A run ended for a reason of the node's (it stops, its launcher died, it
 * was busy): back to WAITING for another run, unless it had its attempts. */
export function requeueReplica(record: JobRecord, replica: number, node: { name: string; incarnation: string }, attempt: number, result: ReplicaResult, maxAttempts: number, at: Date): FinishVerdict {
  const r = replicaOf(record, replica);
  if (!current(r, node, attempt)) return { kind: 'stale' };
  if (r.state !== 'RUNNING') return { kind: 'ended', attached: false };
  const changes = new Changes(record, at);
  if (attempt >= maxAttempts) {
    const reasons = [...result.reasons, `not run again: ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'} at most`];
    if (result.output) r.output = result.output;
    changes.replica(r, 'INVALID', { node: node.name, attempt, outcome: result.outcome === 'ok' ? 'server-error' : result.outcome, reasons });
    return { kind: 'recorded', changes: changes.settle(), requeued: false };
  }
  changes.replica(r, 'WAITING', { node: node.name, attempt, reasons: result.reasons, note: `given back by node ${node.name}: ${result.reasons.join('; ')}` });
  return { kind: 'recorded', changes: changes.settle(), requeued: true };
}

/** A person cancelled the job: every replica not ended is INVALID "cancelled". */
export function cancelJob(record: JobRecord, who: string, at: Date): Change[] {
  const changes = new Changes(record, at);
  for (const r of record.replicas) {
    if (isEnded(r.state)) continue;
    changes.replica(r, 'INVALID', { outcome: 'cancelled', reasons: [`cancelled by ${who}${r.state === 'RUNNING' ? ` while it ran on node ${r.node}` : ' while it waited'}`] });
  }
  return changes.settle();
}

/** The queue sequences of the replicas' work items, once published. */
export function setQueued(record: JobRecord, seqs: number[]): void {
  record.queued = true;
  seqs.forEach((seq, i) => {
    const r = record.replicas[i];
    if (r) r.queueSeq = seq;
  });
}

export function replicaOf(record: JobRecord, replica: number): ReplicaRecord {
  const r = record.replicas[replica - 1];
  if (!r || r.replica !== replica) throw new Error(`job ${record.ticket} has no replica ${replica}`);
  return r;
}
