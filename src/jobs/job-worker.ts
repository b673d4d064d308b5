// A node's side of the job queue: it takes work items from the shared queue
// (job-queue.ts) when it has free job slots (--job-slots: a share of the
// node's capacity, so that jobs never starve interactive calls), as many at
// a time as it has free slots, and runs them.
//
// Starting is done in one line, in queue order: take the next items, record
// each replica RUNNING on this node (the record's revision makes sure that
// two nodes cannot both start the same run), write its audit record, then let
// the run go on its own and start the next item. So the replicas this node
// starts start in the order they were queued, and the queue's consumer
// delivers in that order to every node.
//
// While a replica runs the node tells the queue it is working on it (every
// ackWait/3), and looks at its record: a replica stopped meanwhile (its job
// cancelled, another replica invalid) is cancelled here — at once when the
// node that stopped it says so on fnjail.jobs.cancel.<ticket>. When it ends,
// its slot takes the next item (the sandbox is free) while the output is
// stored (a small one inline in the record, a larger one in the object
// store), the result recorded, then the item acked: a node
// that dies before has its item delivered again (at-least-once). A run the
// node itself is to blame for (it stops, its launcher died) goes back to the
// queue; its attempts are counted in the record.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { NatsSystem } from '../cluster/nats-connection.js';
import { unlinkQuietly } from '../server/spool.js';
import type { JobBackend, JobEnv } from './job-backend.js';
import { jobObjects } from './job-identity.js';
import { CANCEL_SUBJECT, type WorkItem } from './job-queue.js';
import { finishReplica, INLINE_OUTPUT_BYTES, isEnded, requeueReplica, startReplica, type JobRecord, type ReplicaResult, type StartVerdict } from './job-record.js';
import type { ReplicaRunner, RunOutcome } from './replica-runner.js';

export interface WorkerOptions {
  backend: JobBackend;
  runner: ReplicaRunner;
  /** Replicas this node runs at once; 0: it takes none. */
  slots: number;
  node: { name: string; incarnation: string };
  /** Runs a replica may have (1 + the redeliveries allowed). */
  maxAttempts: number;
  ackWaitMs: number;
  logger: Logger;
}

/** How long one pull waits for an item before it is made again (and how long stopping waits for it). */
const PULL_EXPIRES_MS = 1000;
/** How long a request for the queue waits for NATS before trying again. */
const NATS_WAIT_MS = 5000;
/** How long a node waits for the record of an item whose job is still being submitted. */
const QUEUED_WAIT_MS = 10_000;

interface Run {
  key: string;
  ticket: string;
  replica: number;
  attempt: number;
  /** The latest delivery of its item (a redelivery replaces it). */
  msg: JsMsg;
  controller: AbortController;
}

/** Whether a work item whose record is not there yet may still see it come: published (and taken) less than QUEUED_WAIT_MS ago. */
function youngItem(msg: JsMsg, takenAt: number): boolean {
  const now = Date.now();
  return now - takenAt < QUEUED_WAIT_MS && now - msg.info.timestampNanos / 1e6 < QUEUED_WAIT_MS;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class JobWorker {
  private readonly runs = new Map<string, Run>();
  /** Runs in a sandbox now: what the slots count. A run whose result is being
   * recorded has given its sandbox back, and its slot to the next item. */
  private executing = 0;
  private stopping = false;
  /** Past the stop's deadline: results not recorded yet are left for redelivery. */
  private abandoned = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly slotWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private listening: NatsSystem | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: WorkerOptions) {
    this.logger = options.logger.child({ component: 'jobs' });
    options.backend.stats.slots = options.slots;
  }

  start(): void {
    if (this.options.slots > 0) this.loopDone = this.loop();
  }

  /** Replicas running on this node now. */
  get running(): number {
    return this.executing;
  }

  /** Takes no more items (the first step of a server's stop). */
  stopTaking(): void {
    this.stopping = true;
    for (const wake of this.slotWaiters.splice(0)) wake();
  }

  /** Resolves when no replica runs here (each run's result recorded, or left for redelivery). */
  whenIdle(): Promise<void> {
    if (this.runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** After stopTaking() and the runs' grace: waits up to waitMs for the last results to be recorded. */
  async stop(waitMs: number): Promise<void> {
    this.stopTaking();
    const timeout = sleep(waitMs);
    await Promise.race([Promise.all([this.loopDone, this.whenIdle()]), timeout]);
    this.abandoned = true;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      await this.freeSlot();
      if (this.stopping) break;
      let batch: ConsumerMessages;
      let env: JobEnv;
      try {
        env = await this.options.backend.env(NATS_WAIT_MS);
        this.listen(env);
        batch = await env.queue.take(this.options.slots - this.executing, PULL_EXPIRES_MS);
        failures = 0;
      } catch (error) {
        if (failures++ === 0 && !this.stopping) this.logger.warn({ err: (error as Error).message }, 'cannot take jobs from the queue; trying again');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      try {
        // Started one after the other, in the order they come: queue order.
        for await (const msg of batch) {
          if (this.stopping) {
            // Given back (the batch is read to its end: an item left unread would wait for its ack deadline).
            msg.nak();
            continue;
          }
          this.options.backend.stats.queued = msg.info.pending;
          try {
            await this.dispatch(env, msg);
          } catch (error) {
            // Not started (NATS went away while recording it): given back for another try.
            this.logger.warn({ err: (error as Error).message }, 'cannot start a job replica; its work item goes back to the queue');
            msg.nak(1000);
          }
        }
      } catch (error) {
        if (this.stopping) continue;
        if (failures++ === 0) this.logger.warn({ err: (error as Error).message }, 'a pull from the job queue failed; taking again');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private freeSlot(): Promise<void> {
    if (this.executing < this.options.slots || this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /** Hears that a ticket's runs must stop (checked against its record: a message alone stops nothing). */
  private listen(env: JobEnv): void {
    if (this.listening === env.nats) return;
    this.listening = env.nats;
    env.nats.connection.subscribe(`${CANCEL_SUBJECT}.*`, {
      callback: (error, message) => {
        if (error) return;
        const ticket = message.subject.slice(CANCEL_SUBJECT.length + 1);
        for (const run of this.runs.values()) if (run.ticket === ticket) void this.check(env, run);
      },
    });
  }

  private async dispatch(env: JobEnv, msg: JsMsg): Promise<void> {
    let item: WorkItem;
    try {
      item = msg.json<WorkItem>();
      if (typeof item.key !== 'string' || !Number.isInteger(item.replica)) throw new Error('not a work item');
    } catch {
      this.logger.error({ seq: msg.seq }, 'a message of the job queue is not a work item; dropped');
      msg.term();
      return;
    }
    const id = `${item.key}#${item.replica}`;
    const mine = this.runs.get(id);
    if (mine) {
      // Delivered again while it still runs here (its heartbeats did not get through): it stays here.
      mine.msg = msg;
      return;
    }
    const { node, maxAttempts } = this.options;
    const started = Date.now();
    for (;;) {
      const applied = await env.store.update(item.key, (record): { write: boolean; result: StartVerdict | 'publishing' } => {
        if (!record.queued && Date.now() - started < QUEUED_WAIT_MS) return { write: false, result: 'publishing' };
        const verdict = startReplica(record, item.replica, node, maxAttempts, new Date());
        return { write: verdict.kind !== 'ended', result: verdict };
      });
      if (!applied) {
        // Its submit publishes the items, then writes the record: a young item waits for it.
        if (youngItem(msg, started)) {
          await env.store.nextWrite(item.key, 5);
          continue;
        }
        this.logger.info({ key: item.key, replica: item.replica }, 'a work item of a job that no longer exists (closed, or refused at submit); dropped');
        msg.term();
        return;
      }
      const { record, result } = applied;
      if (result === 'publishing') {
        // Its submit, on this node, wakes this at once; on another node's, this looks again soon.
        await env.store.nextWrite(item.key, 5);
        continue;
      }
      if (result.kind === 'ended') {
        msg.ack();
        return;
      }
      this.options.backend.applied(env, record, result.changes);
      if (result.kind === 'lost') {
        msg.ack();
        return;
      }
      const run: Run = { key: item.key, ticket: record.ticket, replica: item.replica, attempt: result.attempt, msg, controller: new AbortController() };
      this.runs.set(id, run);
      this.executing++;
      this.options.backend.stats.running = this.executing;
      void this.execute(env, run, record).finally(() => this.ended(id));
      return;
    }
  }

  /** Its sandbox is free: the slot takes the next item while the result is recorded. */
  private executed(): void {
    this.executing--;
    this.options.backend.stats.running = this.executing;
    this.slotWaiters.shift()?.();
  }

  private ended(id: string): void {
    this.runs.delete(id);
    if (this.runs.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async execute(env: JobEnv, run: Run, record: JobRecord): Promise<void> {
    const heartbeat = setInterval(() => {
      run.msg.working();
      void this.check(env, run);
    }, Math.max(100, Math.floor(this.options.ackWaitMs / 3)));
    let outcome: RunOutcome;
    try {
      outcome = await this.options.runner.run(record, env.store, run.controller.signal);
    } catch (error) {
      this.logger.error({ err: error, ticket: run.ticket, replica: run.replica }, 'a job replica could not be run');
      outcome = { outcome: 'server-error', reasons: [`node ${this.options.node.name} could not run it: ${(error as Error).message}`], outputFile: undefined, nodeFault: true };
    } finally {
      clearInterval(heartbeat);
      this.executed();
    }
    await this.conclude(run, outcome);
  }

  /** Cancels the run if its replica is no longer this run's (stopped, cancelled, closed). */
  private async check(env: JobEnv, run: Run): Promise<void> {
    if (run.controller.signal.aborted) return;
    try {
      const found = await env.store.get(run.key);
      const replica = found?.record.replicas[run.replica - 1];
      if (!replica || replica.state !== 'RUNNING' || replica.attempts !== run.attempt) run.controller.abort();
    } catch {
      // NATS away: the next heartbeat looks again
    }
  }

  /** Stores the output, records the result, acks (or gives the item back); retried while NATS is away. */
  private async conclude(run: Run, outcome: RunOutcome): Promise<void> {
    const { backend, node, maxAttempts } = this.options;
    const objectName = jobObjects.output(run.ticket, run.replica, run.attempt);
    let data: Buffer | undefined;
    try {
      if (outcome.outputFile) data = fs.readFileSync(outcome.outputFile);
    } catch (error) {
      this.logger.error({ err: (error as Error).message, ticket: run.ticket }, 'cannot read the output of a job replica');
    } finally {
      if (outcome.outputFile) unlinkQuietly(outcome.outputFile);
    }
    let stored = false;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const env = await backend.env(NATS_WAIT_MS);
        const inline = data !== undefined && data.length <= INLINE_OUTPUT_BYTES;
        if (data && !inline && !stored) {
          await env.store.putObject(objectName, data);
          stored = true;
        }
        const result: ReplicaResult = {
          outcome: outcome.outcome,
          reasons: outcome.reasons,
          ...(outcome.version ? { version: outcome.version } : {}),
          ...(outcome.request ? { request: outcome.request } : {}),
          ...(data && inline ? { output: { inline: data.toString('base64'), bytes: data.length } } : {}),
          ...(stored && data ? { output: { object: objectName, bytes: data.length } } : {}),
        };
        const now = new Date();
        const applied = await env.store.update(run.key, (record) => {
          const verdict = outcome.nodeFault && !run.controller.signal.aborted ? requeueReplica(record, run.replica, node, run.attempt, result, maxAttempts, now) : finishReplica(record, run.replica, node, run.attempt, result, now);
          return { write: verdict.kind === 'recorded' || (verdict.kind === 'ended' && verdict.attached), result: verdict };
        });
        if (!applied) {
          // Closed while it ran: nothing to keep.
          if (stored) await env.store.deleteObject(objectName);
          run.msg.term();
          return;
        }
        const verdict = applied.result;
        if (verdict.kind === 'recorded') backend.applied(env, applied.record, verdict.changes);
        const kept = verdict.kind === 'recorded' ? !verdict.requeued : verdict.kind === 'ended' && verdict.attached;
        if (stored && !kept) await env.store.deleteObject(objectName);
        const replica = applied.record.replicas[run.replica - 1]!;
        if (verdict.kind === 'stale' && !isEnded(replica.state)) return; // another run holds it now, and acks it
        if (verdict.kind === 'recorded' && verdict.requeued) run.msg.nak();
        else run.msg.ack();
        return;
      } catch (error) {
        if (this.abandoned) {
          this.logger.warn({ ticket: run.ticket, replica: run.replica }, 'the result of a job replica could not be recorded before the server stopped; its work item will be delivered again');
          return;
        }
        if (delay === 200) this.logger.warn({ err: (error as Error).message, ticket: run.ticket, replica: run.replica }, 'cannot record the result of a job replica yet; trying again');
        await sleep(delay);
      }
    }
  }
}
