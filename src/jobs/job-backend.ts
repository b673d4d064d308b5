// What the jobs of a node stand on: the store and the queue, opened on the
// NATS system of the node's link (again whenever the link gives another
// connection), and the one place a change of a job takes effect around its
// record: each transition is an audit record (those of one write together,
// in one write(2)) and counted; a replica stopped
// while it ran elsewhere has its node told (fnjail.jobs.cancel.<ticket>), and
// one stopped while it waited has its work item withdrawn from the queue.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { NatsSystem } from '../cluster/nats-connection.js';
import type { NatsLink } from '../cluster/nats-link.js';
import { FnjailError } from '../errors.js';
import { CANCEL_SUBJECT, JobQueue, type QueueLimits } from './job-queue.js';
import type { Change, JobRecord } from './job-record.js';
import type { JobStats } from './job-stats.js';
import { JobStore } from './job-store.js';

export interface JobEnv {
  nats: NatsSystem;
  store: JobStore;
  queue: JobQueue;
}

export interface BackendOptions {
  link: NatsLink;
  limits: QueueLimits;
  audit: AuditLog;
  stats: JobStats;
  logger: Logger;
  /** This node's name, in the audit records of the changes it applies. */
  node: string;
}

export class JobBackend {
  private opened: { nats: NatsSystem; env: Promise<JobEnv> } | undefined;

  constructor(private readonly options: BackendOptions) {}

  get stats(): JobStats {
    return this.options.stats;
  }

  get node(): string {
    return this.options.node;
  }

  /** The store and the queue, once NATS is reachable (waiting up to waitMs); FNJ_JOBS_UNAVAILABLE otherwise. */
  async env(waitMs: number): Promise<JobEnv> {
    let nats: NatsSystem;
    try {
      nats = await this.options.link.system(waitMs);
    } catch (error) {
      throw this.unavailable(error);
    }
    if (this.opened?.nats !== nats) {
      const env = (async () => ({ nats, store: await JobStore.open(nats), queue: await JobQueue.open(nats, this.options.limits) }))();
      this.opened = { nats, env };
      env.catch(() => {
        if (this.opened?.env === env) this.opened = undefined;
      });
    }
    try {
      return await this.opened.env;
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /** The error of a request that needs the queue when NATS cannot be used (or failed under it). */
  unavailable(error: unknown): FnjailError {
    if (error instanceof FnjailError && error.code === 'FNJ_JOBS_UNAVAILABLE') return error;
    const reason = (error as Error).message.replace(/^the function registry is not available: /, '');
    return new FnjailError('FNJ_JOBS_UNAVAILABLE', `the job queue is not available: ${reason}`, 'try again shortly; the server log says more');
  }

  /** The consequences of changes written to a job's record. */
  applied(env: JobEnv, record: JobRecord, changes: Change[]): void {
    if (!changes.length) return;
    const { audit, stats } = this.options;
    // The changes one write of the record made: their records in one write(2).
    audit.together(() => {
      for (const change of changes) this.audited(record, change);
    });
    stats.changed(changes);
    stats.recent.noteRecord(record);
    const stoppedRunning = changes.some((c) => c.replica !== undefined && c.from === 'RUNNING' && (c.outcome === 'stopped' || c.outcome === 'cancelled'));
    if (stoppedRunning) env.nats.connection.publish(`${CANCEL_SUBJECT}.${record.ticket}`);
    const withdrawn = changes
      .filter((c) => c.replica !== undefined && c.from === 'WAITING' && c.to === 'INVALID')
      .map((c) => record.replicas[c.replica! - 1]?.queueSeq)
      .filter((seq): seq is number => seq !== undefined);
    if (withdrawn.length) void env.queue.withdraw(withdrawn).catch((error: Error) => this.options.logger.warn({ err: error.message, ticket: record.ticket }, 'cannot withdraw work items of a stopped job; the node that takes them drops them'));
  }

  /** The audit record of one change. */
  private audited(record: JobRecord, change: Change): void {
    const what = change.replica === undefined ? 'ticket' : `replica ${change.replica}`;
    const where = change.to === 'RUNNING' && change.node ? ` on node ${change.node}` : '';
    const why = change.to === 'INVALID' && change.reasons.length ? `: ${change.reasons.join('; ')}` : change.note ? ` (${change.note})` : '';
    this.options.audit.job(
      'job-state',
      {
        ticket: record.ticket,
        tenant: record.tenant,
        replica: change.replica ?? null,
        from: change.from ?? null,
        to: change.to,
        node: change.node ?? null,
        attempt: change.attempt ?? null,
        // Its work item's place in the queue: starts in this order are FIFO.
        queueSeq: change.replica === undefined ? null : (record.replicas[change.replica - 1]?.queueSeq ?? null),
        outcome: change.outcome ?? null,
        reasons: change.reasons,
        note: change.note ?? null,
        afterMs: change.afterMs ?? null,
        by: this.options.node,
      },
      `job ${record.ticket} ${what}: ${change.from ?? 'new'} -> ${change.to}${where}${why}`,
      change.to === 'INVALID' ? 'warn' : 'info',
    );
  }
}
