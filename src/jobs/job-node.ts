// Jobs on one node of fnjail serve: what the server builds from its own parts
// (the NATS link, the executor, the build sandbox, the audit log, the
// statistics) so that it accepts jobs (the service the HTTP API answers
// with) and runs them (the worker taking the shared queue). Each start of a
// server is a new incarnation of its node: a result written by an earlier
// one is never taken for the current run's (job-record.ts).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { NatsLink } from '../cluster/nats-link.js';
import type { ServeSettings } from '../config/serve-settings.js';
import { prepareStateDir } from '../config/state-dir.js';
import type { Executor } from '../executor/executor.js';
import type { BuildRunner } from '../functions/build.js';
import type { Policy } from '../policy/policy.js';
import { JobBackend } from './job-backend.js';
import { JobService } from './job-service.js';
import type { JobStats } from './job-stats.js';
import { JobWorker } from './job-worker.js';
import { ReplicaRunner } from './replica-runner.js';

export interface JobNodeOptions {
  settings: Pick<ServeSettings, 'jobs' | 'nodeName' | 'stateDir' | 'build'>;
  link: NatsLink;
  executor: Executor;
  buildRunner: BuildRunner;
  policy: () => Policy;
  audit: AuditLog;
  stats: JobStats;
  logger: Logger;
  spoolDir: string;
  /** How long a request waits for an unavailable NATS system. */
  waitMs: number;
}

/** How long a stopping server waits for the last results to be recorded (the rest are redelivered). */
const RECORD_WAIT_MS = 5000;
/** How often the node looks at the queue's counts for its statistics (one request to NATS). */
const QUEUE_LOOK_MS = 2000;

export class JobNode {
  readonly service: JobService;
  private readonly worker: JobWorker;
  private readonly workDir: string;
  private readonly backend: JobBackend;
  private looker: NodeJS.Timeout | undefined;

  constructor(options: JobNodeOptions) {
    const { settings, logger } = options;
    const jobs = settings.jobs;
    const node = { name: settings.nodeName, incarnation: randomBytes(6).toString('hex') };
    const backend = (this.backend = new JobBackend({
      link: options.link,
      limits: { total: jobs.queueLength, perTenant: jobs.perTenant, ackWaitMs: jobs.ackWaitMs },
      audit: options.audit,
      stats: options.stats,
      logger,
      node: node.name,
    }));
    this.service = new JobService({ backend, link: options.link, policy: options.policy, audit: options.audit, logger, waitMs: options.waitMs, retentionMs: jobs.retentionMs });
    this.workDir = path.join(settings.stateDir, 'jobs');
    const runner = new ReplicaRunner({ executor: options.executor, policy: options.policy, spoolDir: options.spoolDir, workDir: this.workDir, buildRunner: options.buildRunner, buildDiskBytes: settings.build.diskBytes });
    this.worker = new JobWorker({ backend, runner, slots: jobs.slots, node, maxAttempts: 1 + jobs.redeliveries, ackWaitMs: jobs.ackWaitMs, logger });
  }

  /** Takes jobs from the queue once NATS is there (in the background), and sweeps expired tickets. */
  start(): void {
    prepareStateDir(this.workDir, 0o700, 'the jobs directory');
    this.worker.start();
    this.service.startSweeper();
    let looking = false;
    this.looker = setInterval(() => {
      if (looking) return;
      looking = true;
      void this.lookAtQueue().finally(() => (looking = false));
    }, QUEUE_LOOK_MS);
    this.looker.unref();
  }

  /** The queue's counts in the statistics (left as they were while NATS is away). */
  private async lookAtQueue(): Promise<void> {
    try {
      const env = await this.backend.env(QUEUE_LOOK_MS);
      const { waiting, taken, oldestWaitingAt } = await env.queue.counts();
      this.backend.stats.queued = waiting;
      this.backend.stats.queueRunning = taken;
      this.backend.stats.oldestWaitingAt = oldestWaitingAt;
    } catch {
      // NATS away: the next look tries again
    }
  }

  /** The first step of a stop: no more work items are taken. */
  stopTaking(): void {
    this.worker.stopTaking();
    this.service.stopSweeper();
    clearInterval(this.looker);
  }

  /** Once the running calls are over: their results recorded (or left for redelivery). */
  stop(): Promise<void> {
    return this.worker.stop(RECORD_WAIT_MS);
  }
}
