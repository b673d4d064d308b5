// A call run on another node, over NATS, such that a call is never run twice:
//
//   caller                                   target
//   call  ── fnjail.call.<target>.<caller> ─►  reserves a slot for startWithinMs
//         ◄───────────── accepted | refused ──  (answer to the request)
//   start ── fnjail.call.<target>.<caller> ─►  runs it (the call and its input
//         ◄────────────── started | expired ──  come with start), if still reserved;
//                                              "started" goes with the result when
//                                              the call is quick (startedAfterMs)
//         ◄─ fnjail.node.<target>.reply.<caller>.<id>: the result, its output
//            in the same message (or, larger than one message, in chunks before)
//   cancel ─ fnjail.call.<target>.<caller> ─►  the reservation is given back
//
// The reservation carries nothing but who asks, so that a caller can send it
// as soon as a call arrives, while it checks out the function and decides
// (cluster-node.ts's prepare()): by the time the call is complete, its slot
// elsewhere usually is too, and start is the only trip left before the run.
//
// The caller commits to the target only when it sends start, and the target
// runs only on start: so a call whose "accepted" never came (no answer within
// ackTimeoutMs, no node listening, refused) or whose start came too late
// ("expired") has not run and may be sent to another node. Once start is
// sent, the call is the target's: if its result does not come (the target is
// down or restarted, as the member table says, or the deadline passes), the
// outcome is "node-lost", and it is not run again anywhere.
//
// Who speaks is in the subjects, which the broker enforces: a target learns
// its caller from the call's subject; a result is believed only on the
// target's own reply subject.
import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { goneReason } from './member-table.js';
import { SUBJECTS, subjectToken } from './subjects.js';
import { decodeMessage, encodeMessage, InvalidMessage, type CallSpec, type MessageOf, type ResultMessage } from './wire.js';

export interface CallRequest extends CallSpec {
  input: Buffer;
}

export interface CallResult {
  /** The executor's outcome kind (ok, exit, signal, timeout, ...), or the cluster's own: node-lost, unavailable. */
  outcome: string;
  reasons: string[];
  limitsHit: string[];
  output: Buffer;
  durationMs: number;
  /** The request's id in the audit log of the node that ran it. */
  request?: string;
}

/** A call as its target's handler sees it. */
export interface IncomingCall extends CallRequest {
  id: string;
  /** The node that sent it (from the subject: the broker vouches for it). */
  caller: string;
}

export type CallHandler = (call: IncomingCall) => Promise<CallResult>;
/** A reason to refuse a reservation from caller (it then tries another node), or undefined. */
export type CallAdmission = (caller: string) => string | undefined;

export interface RemoteCallTimings {
  /** For accepted (and for started): past it, the target is given up. */
  ackTimeoutMs: number;
  /** How long a target keeps an accepted call waiting for start. */
  startWithinMs: number;
  /** Added to the call's own timeout before its result counts as lost. */
  resultGraceMs: number;
  /** The deadline of a call that gives no timeout of its own. */
  maxCallMs: number;
}

export const DEFAULT_CALL_TIMINGS: RemoteCallTimings = { ackTimeoutMs: 2000, startWithinMs: 5000, resultGraceMs: 10_000, maxCallMs: 3_600_000 };

/** What happens here to calls from other nodes (for metrics and logs). */
export interface TargetEvent {
  /** cancelled: the caller gave its reservation back (its call will not come). */
  type: 'accepted' | 'refused' | 'started' | 'expired' | 'cancelled' | 'finished';
  id: string;
  caller: string;
  detail?: string;
  /** expired: the reservation ran out here (else a start that came after it did). */
  reservationEnded?: boolean;
}

export interface RemoteCallsOptions {
  connection: NatsConnection;
  node: string;
  incarnation: string;
  handler: CallHandler;
  admit?: CallAdmission;
  timings?: Partial<RemoteCallTimings>;
  onTargetEvent?: (event: TargetEvent) => void;
  logger?: Logger;
}

/** Why an attempt did not start the call on a node. */
/** cancelled: the calling node gave the reservation back (its own policy refused the call, or found no such function). */
export type NotStarted = 'refused' | 'no-answer' | 'no-responders' | 'expired' | 'too-large' | 'cancelled';

/** A slot held on target for a call, until start (or cancel) or startWithinMs. */
export interface Reservation {
  target: string;
  id: string;
  incarnation: string;
}

export type ReserveOutcome = ({ reserved: true } & Reservation) | { reserved: false; why: NotStarted; detail: string };

export type SendOutcome =
  | { started: false; why: NotStarted; detail: string }
  | { started: true; incarnation: string; result: Promise<CallResult> };

interface Pending {
  target: string;
  incarnation: string;
  chunks: Buffer[];
  resolve: (result: CallResult) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Reserved {
  caller: string;
  state: 'reserved' | 'running';
  timer: NodeJS.Timeout | undefined;
}

/** A call still running this long is answered "started" before its result. */
const STARTED_AFTER_MS = 250;

/** Room for the JSON line of an output message, below the broker's max payload. */
const CHUNK_HEADROOM = 1024;

export function nodeLost(target: string, reason: string, durationMs = 0): CallResult {
  return { outcome: 'node-lost', reasons: [`the call started on node ${target}, then ${reason}; it was not run again`], limitsHit: [], output: Buffer.alloc(0), durationMs };
}

export class RemoteCalls {
  private readonly timings: RemoteCallTimings;
  /** When a running call's "started" goes, if its result has not (a quarter of the caller's wait at most). */
  private readonly startedAfterMs: number;
  private readonly pending = new Map<string, Pending>();
  private readonly reserved = new Map<string, Reserved>();
  private readonly subscriptions: Subscription[] = [];
  private stopping = false;
  private running = 0;
  private idle: Array<() => void> = [];

  constructor(private readonly options: RemoteCallsOptions) {
    this.timings = { ...DEFAULT_CALL_TIMINGS, ...options.timings };
    this.startedAfterMs = Math.min(STARTED_AFTER_MS, this.timings.ackTimeoutMs / 4);
  }

  start(): void {
    const { connection, node } = this.options;
    this.subscriptions.push(connection.subscribe(SUBJECTS.callsFor(node), { callback: (error, msg) => void (error || this.onCall(msg)) }));
    this.listenForReplies();
  }

  /** Only the caller's side: the results of the calls this sends (start() does it too). */
  listenForReplies(): void {
    const { connection, node } = this.options;
    this.subscriptions.push(connection.subscribe(SUBJECTS.repliesFor(node), { callback: (error, msg) => void (error || this.onReply(msg)) }));
  }

  /** Calls accepted here for other nodes and not started yet: each holds a slot. */
  get waitingToStart(): number {
    let count = 0;
    for (const r of this.reserved.values()) if (r.state === 'reserved') count++;
    return count;
  }

  /** Calls running here for other nodes. */
  get runningForOthers(): number {
    return this.running;
  }

  /** Refuses new calls; resolves when those running here are over (their results sent). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const [id, r] of this.reserved) {
      if (r.state === 'reserved') {
        clearTimeout(r.timer);
        this.reserved.delete(id);
      }
    }
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
    // The results just published reach the server before the subscriptions go (and the connection with them).
    if (!this.options.connection.isClosed()) await this.options.connection.flush().catch(() => undefined);
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    for (const [id, p] of this.pending) this.settle(id, nodeLost(p.target, 'this node stopped waiting for it'));
  }

  // ---- caller side ----

  /** Tries to start the call on target: started (then its result), or why not (it has not run). */
  async send(target: string, request: CallRequest): Promise<SendOutcome> {
    const id = randomBytes(12).toString('hex');
    const start = this.startMessage(id, request);
    if ('why' in start) return { started: false, ...start };
    const reserved = await this.reserve(target, id);
    if (!reserved.reserved) return { started: false, why: reserved.why, detail: reserved.detail };
    return this.startReserved(reserved, request, start);
  }

  /** Reserves a slot on target for a call to come (nothing of the call is sent yet). */
  async reserve(target: string, id = randomBytes(12).toString('hex')): Promise<ReserveOutcome> {
    const { node } = this.options;
    const accepted = await this.ask(target, encodeMessage({ type: 'call', id, caller: node, target }), id, ['accepted', 'refused']);
    if ('why' in accepted) return { reserved: false, ...accepted };
    if (accepted.message.type === 'refused') return { reserved: false, why: 'refused', detail: `refused: ${accepted.message.reason}` };
    return { reserved: true, target, id, incarnation: accepted.message.incarnation };
  }

  /** Gives a reservation back (its call will not come): the target's slot is free at once. */
  cancel(reservation: Reservation): void {
    const { connection, node } = this.options;
    try {
      connection.publish(SUBJECTS.call(reservation.target, node), encodeMessage({ type: 'cancel', id: reservation.id }));
    } catch (error) {
      // The connection is closing: the reservation runs out on its own (startWithinMs).
      this.options.logger?.debug({ id: reservation.id, target: reservation.target, err: (error as Error).message }, 'reservation not given back');
    }
  }

  /** Starts the call in its reservation: started (then its result), or why not (it has not run; a call too large gives its reservation back). */
  async startReserved(reservation: Reservation, request: CallRequest, message?: Uint8Array): Promise<SendOutcome> {
    const { target, id, incarnation } = reservation;
    const data = message ?? this.startMessage(id, request);
    if ('why' in data) {
      this.cancel(reservation);
      return { started: false, ...data };
    }
    // From here on the call may run: its result is awaited, never sent elsewhere.
    const result = new Promise<CallResult>((resolve) => {
      this.pending.set(id, { target, incarnation, chunks: [], resolve, timer: undefined });
    });
    const started = await this.ask(target, data, id, ['started', 'expired']);
    if (!('why' in started) && started.message.type === 'expired') {
      this.pending.delete(id);
      return { started: false, why: 'expired', detail: `expired: ${started.message.reason}` };
    }
    if ('why' in started && started.why === 'no-responders') {
      // Nobody received start: the target is gone and never ran it.
      this.pending.delete(id);
      return { started: false, why: 'no-responders', detail: 'the node stopped listening before the call could start' };
    }
    const deadline = (request.timeoutMs ?? this.timings.maxCallMs) + this.timings.resultGraceMs;
    const pending = this.pending.get(id);
    if (pending) {
      pending.timer = setTimeout(() => this.settle(id, nodeLost(target, `no result came within ${deadline} ms`, deadline)), deadline);
      pending.timer.unref();
    }
    return { started: true, incarnation, result };
  }

  /** The start message of a call (the call and its input), or why it cannot be sent. */
  private startMessage(id: string, request: CallRequest): Uint8Array | { why: 'too-large'; detail: string } {
    const { input, ...spec } = request;
    const data = encodeMessage({ type: 'start', id, call: spec, inputBytes: input.length }, input);
    const maxPayload = this.options.connection.info?.max_payload ?? 1024 * 1024;
    if (data.length > maxPayload) return { why: 'too-large', detail: `the input (${input.length} bytes) is over what one NATS message carries (${maxPayload} bytes)` };
    return data;
  }

  /** What the member table says of target: its started calls that will not finish end as node-lost. */
  targetChanged(target: string, incarnation: string, state: string): void {
    for (const [id, p] of this.pending) {
      if (p.target !== target) continue;
      const why = goneReason(p.incarnation, incarnation, state);
      if (why !== undefined) this.settle(id, nodeLost(target, `it ${why}`));
    }
  }

  private async ask<T extends 'accepted' | 'refused' | 'started' | 'expired'>(
    target: string,
    data: Uint8Array,
    id: string,
    expected: T[],
  ): Promise<{ message: MessageOf<T> } | { why: NotStarted; detail: string }> {
    let reply: Msg;
    try {
      reply = await this.options.connection.request(SUBJECTS.call(target, this.options.node), data, { timeout: this.timings.ackTimeoutMs });
    } catch (error) {
      const message = (error as Error).message;
      if (/no responders/i.test(message)) return { why: 'no-responders', detail: 'no node listening for calls under that name' };
      return { why: 'no-answer', detail: /timeout/i.test(message) ? `no answer within ${this.timings.ackTimeoutMs} ms` : message };
    }
    try {
      const { message } = decodeMessage(reply.data, ...expected);
      if ((message as { id: string }).id !== id) return { why: 'no-answer', detail: 'an answer about another call' };
      return { message };
    } catch (error) {
      return { why: 'no-answer', detail: `an answer that could not be read: ${(error as Error).message}` };
    }
  }

  private onReply(msg: Msg): void {
    const target = subjectToken(msg.subject, 2)!;
    const id = subjectToken(msg.subject, 5)!;
    const pending = this.pending.get(id);
    // Only the node the call was sent to can publish on its reply subject (the broker's permissions).
    if (!pending || pending.target !== target) return;
    let decoded;
    try {
      decoded = decodeMessage(msg.data, 'output', 'result');
    } catch (error) {
      if (error instanceof InvalidMessage) this.options.logger?.warn({ subject: msg.subject, err: error.message }, 'call reply refused');
      return;
    }
    const { message, body } = decoded;
    if (message.id !== id) return;
    if (message.type === 'output') {
      if (message.seq === pending.chunks.length) pending.chunks.push(Buffer.from(body));
      return;
    }
    this.settle(id, assemble(message, pending, body));
  }

  private settle(id: string, result: CallResult): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  // ---- target side ----

  private onCall(msg: Msg): void {
    const caller = subjectToken(msg.subject, 3)!;
    let decoded;
    try {
      decoded = decodeMessage(msg.data, 'call', 'start', 'cancel');
    } catch (error) {
      this.options.logger?.warn({ subject: msg.subject, err: (error as Error).message }, 'call refused: unreadable');
      return;
    }
    const { message, body } = decoded;
    const answer = (reply: MessageOf<'accepted' | 'refused' | 'started' | 'expired'>) => {
      if (msg.reply) msg.respond(encodeMessage(reply));
      this.options.onTargetEvent?.({ type: reply.type, id: reply.id, caller, ...('reason' in reply ? { detail: reply.reason } : {}) });
    };
    if (message.type === 'cancel') {
      const r = this.reserved.get(message.id);
      if (r?.caller !== caller || r.state !== 'reserved') return;
      clearTimeout(r.timer);
      this.reserved.delete(message.id);
      this.options.onTargetEvent?.({ type: 'cancelled', id: message.id, caller });
      return;
    }
    if (message.type === 'start') {
      const r = this.reserved.get(message.id);
      if (!r || r.caller !== caller) return answer({ type: 'expired', id: message.id, reason: 'no such call is waiting here: it was not accepted, or waited too long' });
      if (r.state === 'running') return answer({ type: 'started', id: message.id });
      if (body.length !== message.inputBytes) {
        clearTimeout(r.timer);
        this.reserved.delete(message.id);
        return answer({ type: 'expired', id: message.id, reason: 'the call does not match its size' });
      }
      this.options.onTargetEvent?.({ type: 'started', id: message.id, caller });
      // "started" goes with the result (the same write) when the call is over within
      // startedAfterMs, else then: the caller only waits for the result, and a message in
      // between would wake it and the nats-server while this call's sandbox starts (measured:
      // docs/cluster.md, Speed). A relayed connection's call is answered at once: its caller
      // opens the relay then. Either way well within the caller's ackTimeoutMs.
      let answered = false;
      let timer: NodeJS.Timeout | undefined;
      const started = () => {
        clearTimeout(timer);
        if (answered) return;
        answered = true;
        if (msg.reply) msg.respond(encodeMessage({ type: 'started', id: message.id }));
      };
      this.run(message.id, r, { ...message.call, input: Buffer.from(body), id: message.id, caller }, started);
      if (message.call.connection) setImmediate(started);
      else {
        timer = setTimeout(started, this.startedAfterMs);
        timer.unref();
      }
      return;
    }
    const { node, incarnation } = this.options;
    if (message.caller !== caller || message.target !== node) {
      return answer({ type: 'refused', id: message.id, reason: 'the call does not match its subject' });
    }
    if (this.reserved.has(message.id)) return answer({ type: 'accepted', id: message.id, incarnation });
    if (this.stopping) return answer({ type: 'refused', id: message.id, reason: `node ${node} is stopping` });
    const refusal = this.options.admit?.(caller);
    if (refusal !== undefined) return answer({ type: 'refused', id: message.id, reason: refusal });
    const timer = setTimeout(() => {
      this.reserved.delete(message.id);
      this.options.onTargetEvent?.({ type: 'expired', id: message.id, caller, detail: `no start within ${this.timings.startWithinMs} ms`, reservationEnded: true });
    }, this.timings.startWithinMs);
    timer.unref();
    this.reserved.set(message.id, { caller, state: 'reserved', timer });
    answer({ type: 'accepted', id: message.id, incarnation });
  }

  private run(id: string, r: Reserved, call: IncomingCall, started: () => void): void {
    clearTimeout(r.timer);
    r.state = 'running';
    this.running++;
    const startedAt = performance.now();
    void this.options
      .handler(call)
      .catch(
        (error: Error): CallResult => ({
          outcome: 'server-error',
          reasons: [`node ${this.options.node} could not run the call: ${error.message}`],
          limitsHit: [],
          output: Buffer.alloc(0),
          durationMs: performance.now() - startedAt,
        }),
      )
      .then((result) => {
        this.options.onTargetEvent?.({ type: 'finished', id, caller: r.caller, detail: result.outcome });
        started();
        return this.sendResult(id, r.caller, result);
      })
      .catch((error: Error) => this.options.logger?.error({ id, caller: r.caller, err: error.message }, 'call result not sent'))
      .finally(() => {
        this.reserved.delete(id);
        if (--this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
  }

  private sendResult(id: string, caller: string, result: CallResult): void {
    const { connection, node } = this.options;
    const subject = SUBJECTS.reply(node, caller, id);
    const chunkBytes = Math.max(1024, (connection.info?.max_payload ?? 1024 * 1024) - CHUNK_HEADROOM);
    // Output that fits goes in the result message itself (one message, no chunk to wait for).
    const inline = result.output.length <= chunkBytes;
    let chunks = 0;
    for (let offset = 0; !inline && offset < result.output.length; offset += chunkBytes) {
      connection.publish(subject, encodeMessage({ type: 'output', id, seq: chunks++ }, result.output.subarray(offset, offset + chunkBytes)));
    }
    const message: ResultMessage = {
      type: 'result',
      id,
      outcome: result.outcome,
      reasons: result.reasons,
      limitsHit: result.limitsHit,
      ...(result.request !== undefined ? { request: result.request } : {}),
      durationMs: result.durationMs,
      outputBytes: result.output.length,
      chunks,
    };
    connection.publish(subject, encodeMessage(message, inline ? result.output : undefined));
    // No flush (a PING's PONG would wake this node while its caller reads the result): stop() flushes once.
  }
}

/** The result, with its output put together; output lost on the way makes the call lost. */
function assemble(message: ResultMessage, pending: Pending, inline: Buffer): CallResult {
  const output = Buffer.concat([...pending.chunks, inline]);
  if (pending.chunks.length !== message.chunks || output.length !== message.outputBytes) {
    return nodeLost(pending.target, `part of its output was lost on the way (${output.length} of ${message.outputBytes} bytes)`, message.durationMs);
  }
  return {
    outcome: message.outcome,
    reasons: message.reasons,
    limitsHit: message.limitsHit,
    output,
    durationMs: message.durationMs,
    ...(message.request !== undefined ? { request: message.request } : {}),
  };
}
