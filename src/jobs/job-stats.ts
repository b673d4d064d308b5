// Jobs in the statistics (fnjail stats, /metrics): this node's slots and
// running replicas, the queue as the node last saw it (work items waiting,
// and taken by some node and not finished, cluster-wide: looked at every few
// seconds and at each take), what this node accepted and refused, how long
// replicas waited and ran (by outcome), and how they and the tickets ended.
// Fed by the changes the node applies (job-backend.ts), whichever node
// started them.
import { Histogram } from '../metrics/histogram.js';
import type { Change } from './job-record.js';
import { RecentTickets } from './recent-tickets.js';

export interface JobStatsSnapshot {
  slots: number;
  running: number;
  /** Work items waiting in the queue (cluster-wide), as last seen; null before the queue was reached. */
  queued: number | null;
  /** Work items taken by a node and not finished (cluster-wide), as last seen; null before the queue was reached. */
  queueRunning: number | null;
  submitted: number;
  refused: number;
  /** Replicas ended, by outcome ("ok" for COMPLETED). */
  replicas: Record<string, number>;
  /** Tickets ended, by state. */
  tickets: { COMPLETED: number; INVALID: number };
  waitMs: { p50: number; p99: number } | null;
  runMs: { p50: number; p99: number } | null;
  /** Replicas that ran, by outcome: how many, and how long they ran. */
  runMsByOutcome: Record<string, { count: number; p50: number; p99: number }>;
}

/** A job may wait and run for hours: buckets from a millisecond to an hour. */
const JOB_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export class JobStats {
  slots = 0;
  running = 0;
  queued: number | undefined;
  queueRunning: number | undefined;
  /** When the oldest waiting work item was queued (epoch ms), as last seen; undefined: none waits, or not known. */
  oldestWaitingAt: number | undefined;
  /** The tickets this node saw last, for the dashboard. */
  readonly recent = new RecentTickets();
  submitted = 0;
  refused = 0;
  /** From submit (or a requeue) to start. */
  readonly waitSeconds = new Histogram(JOB_BUCKETS);
  /** From start to end, as the ticket saw it. */
  readonly runSeconds = new Histogram(JOB_BUCKETS);
  /** The same, by the replica's outcome ("ok" for COMPLETED). */
  readonly runSecondsByOutcome = new Map<string, Histogram>();
  readonly replicaOutcomes = new Map<string, number>();
  readonly ticketEnds = { COMPLETED: 0, INVALID: 0 };

  /** Counts the changes this node applied. */
  changed(changes: Change[]): void {
    for (const change of changes) {
      const seconds = (change.afterMs ?? 0) / 1000;
      if (change.replica === undefined) {
        if (change.to === 'COMPLETED' || change.to === 'INVALID') this.ticketEnds[change.to]++;
        continue;
      }
      if (change.to === 'RUNNING' && change.from === 'WAITING') this.waitSeconds.observe(seconds);
      if (change.to === 'COMPLETED' || change.to === 'INVALID') {
        const outcome = change.to === 'COMPLETED' ? 'ok' : (change.outcome ?? 'server-error');
        this.replicaOutcomes.set(outcome, (this.replicaOutcomes.get(outcome) ?? 0) + 1);
        if (change.from === 'RUNNING') {
          this.runSeconds.observe(seconds);
          let byOutcome = this.runSecondsByOutcome.get(outcome);
          if (!byOutcome) this.runSecondsByOutcome.set(outcome, (byOutcome = new Histogram(JOB_BUCKETS, 1000)));
          byOutcome.observe(seconds);
        }
      }
    }
  }

  snapshot(): JobStatsSnapshot {
    const ms = (h: Histogram) => {
      const p = h.percentiles([50, 99]);
      return p ? { p50: Math.round(p[0]! * 1e6) / 1000, p99: Math.round(p[1]! * 1e6) / 1000 } : null;
    };
    const byOutcome = [...this.runSecondsByOutcome].sort(([a], [b]) => (a < b ? -1 : 1));
    return {
      slots: this.slots,
      running: this.running,
      queued: this.queued ?? null,
      queueRunning: this.queueRunning ?? null,
      submitted: this.submitted,
      refused: this.refused,
      replicas: Object.fromEntries([...this.replicaOutcomes].sort(([a], [b]) => (a < b ? -1 : 1))),
      tickets: { ...this.ticketEnds },
      waitMs: ms(this.waitSeconds),
      runMs: ms(this.runSeconds),
      runMsByOutcome: Object.fromEntries(byOutcome.map(([outcome, h]) => [outcome, { count: h.count, ...ms(h)! }])),
    };
  }
}
