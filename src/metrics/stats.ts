// What the server is doing now and has done since it started: fed by the
// executor and the server as things happen (a few map updates per call), read
// by the `stats` command, `fnjail top` and the Prometheus endpoint.
import fs from 'node:fs';
import type { ClusterFigures } from '../cluster/cluster-counters.js';
import { OUTCOMES, type OutcomeKind } from '../executor/classify.js';
import type { ExecutionResult } from '../executor/executor.js';
import { JobStats, type JobStatsSnapshot } from '../jobs/job-stats.js';
import { Histogram } from './histogram.js';

export { OUTCOMES };

/** Requests no tenant was found for (malformed, or no tenant matched). */
export const NO_TENANT = '';

export interface RunningExecution {
  request: string;
  tenant: string;
  uid: number;
  library: string;
  function: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

interface TenantCounts {
  running: number;
  queued: number;
  byOutcome: Map<OutcomeKind, number>;
}

/** Whether a log destination can be written, as log-sink.ts reports it. */
export interface LogHealth {
  ok: boolean;
  failures: number;
  error: string | null;
  since: number | null;
}

/** What the statistics need from the parts that keep it. */
export interface StatsContext {
  policyHash: string;
  launcherPid: number | undefined;
  launcherRestarts: number;
  /** The audit log (with the calls refused because it could not be written) and the operational log. */
  logs?: { audit: LogHealth & { refusedCalls: number }; operational: LogHealth };
  /** The cluster's figures (for /metrics), when this node is in one. */
  cluster?: () => ClusterFigures | undefined;
}

/** The `stats` reply (docs/monitoring.md). */
export interface StatsSnapshot {
  time: string;
  startedAt: string;
  uptimeSeconds: number;
  clients: { connected: number; total: number; refused: number; throttledRequests?: number };
  executions: {
    total: number;
    running: number;
    queued: number;
    byOutcome: Record<OutcomeKind, number>;
  };
  tenants: Array<{ tenant: string | null; running: number; queued: number; total: number; byOutcome: Partial<Record<OutcomeKind, number>> }>;
  /** Over the last `window` requests, from receipt to reply, in milliseconds. */
  latencyMs: { window: number; p50: number; p90: number; p99: number; max: number } | null;
  libraries: Array<{ library: string; running: number; calls: number }>;
  running: Array<RunningExecution & { elapsedMs: number }>;
  memory: { serverRssBytes: number; launcherRssBytes: number | null };
  policy: { hash: string; reloads: number; rejected: number };
  launcher: { pid: number | null; restarts: number };
  /** Jobs on this node, and the queue as it last saw it (docs/jobs.md). */
  jobs?: JobStatsSnapshot;
  /** Whether the audit and operational logs can be written (a call does not run while its record cannot be). */
  logs?: {
    audit: { writable: boolean; failures: number; error: string | null; failingSince: string | null; refusedCalls: number };
    operational: { writable: boolean; failures: number; error: string | null; failingSince: string | null };
  };
}

export class Stats {
  readonly startedAt = Date.now();
  connected = 0;
  connectionsTotal = 0;
  connectionsRefused = 0;
  /** Requests refused without being handled: a peer's or a connection's budget of refused requests spent. */
  requestsThrottled = 0;
  policyReloads = 0;
  policyRejected = 0;
  /** From receipt of the command to the reply. */
  readonly requestSeconds = new Histogram();
  /** Waiting for a sandbox slot (the tenant's, then the server's). */
  readonly queueSeconds = new Histogram();
  /** In the sandbox, as the supervisor measured it. */
  readonly runSeconds = new Histogram();
  private readonly tenants = new Map<string, TenantCounts>();
  private readonly runningNow = new Map<string, RunningExecution>();
  private readonly libraries = new Map<string, { running: number; calls: number }>();
  /** Jobs: slots, the queue, replicas' wait and run times, outcomes. */
  readonly jobs = new JobStats();
  /** Requests answered since the start, whatever their outcome (a cluster node's heartbeat says it). */
  answered = 0;

  private tenant(name: string): TenantCounts {
    let counts = this.tenants.get(name);
    if (!counts) {
      counts = { running: 0, queued: 0, byOutcome: new Map() };
      this.tenants.set(name, counts);
    }
    return counts;
  }

  connectionOpened(): void {
    this.connected++;
    this.connectionsTotal++;
  }

  connectionClosed(): void {
    this.connected--;
  }

  enqueued(tenant: string): void {
    this.tenant(tenant).queued++;
  }

  dequeued(tenant: string): void {
    this.tenant(tenant).queued--;
  }

  started(execution: RunningExecution): void {
    this.runningNow.set(execution.request, execution);
    this.tenant(execution.tenant).running++;
    const library = this.libraries.get(execution.library) ?? { running: 0, calls: 0 };
    library.running++;
    library.calls++;
    this.libraries.set(execution.library, library);
  }

  ended(request: string): void {
    const execution = this.runningNow.get(request);
    if (!execution) return;
    this.runningNow.delete(request);
    this.tenant(execution.tenant).running--;
    this.libraries.get(execution.library)!.running--;
  }

  /** Every request, once, when it is answered. */
  finished(result: ExecutionResult): void {
    this.answered++;
    const counts = this.tenant(result.tenant ?? NO_TENANT).byOutcome;
    counts.set(result.kind, (counts.get(result.kind) ?? 0) + 1);
    this.requestSeconds.observe(result.totalMs / 1000);
    if (result.launch) {
      this.queueSeconds.observe(result.queueMs / 1000);
      this.runSeconds.observe(result.launch.runUs / 1e6);
    }
  }

  /** Executions by tenant and outcome (tenant NO_TENANT: none was found). */
  outcomes(): Array<{ tenant: string; outcome: OutcomeKind; count: number }> {
    const rows: Array<{ tenant: string; outcome: OutcomeKind; count: number }> = [];
    for (const [tenant, counts] of this.tenants) for (const [outcome, count] of counts.byOutcome) rows.push({ tenant, outcome, count });
    return rows;
  }

  tenantLoad(): Array<{ tenant: string; running: number; queued: number }> {
    return [...this.tenants].map(([tenant, c]) => ({ tenant, running: c.running, queued: c.queued }));
  }

  libraryCalls(): Array<{ library: string; running: number; calls: number }> {
    return [...this.libraries].map(([library, c]) => ({ library, ...c })).sort((a, b) => b.calls - a.calls || a.library.localeCompare(b.library));
  }

  snapshot(context: StatsContext): StatsSnapshot {
    const now = Date.now();
    const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<OutcomeKind, number>;
    let total = 0;
    let running = 0;
    let queued = 0;
    const tenants: StatsSnapshot['tenants'] = [];
    for (const [name, c] of [...this.tenants].sort(([a], [b]) => a.localeCompare(b))) {
      let tenantTotal = 0;
      for (const [outcome, count] of c.byOutcome) {
        byOutcome[outcome] += count;
        tenantTotal += count;
      }
      total += tenantTotal;
      running += c.running;
      queued += c.queued;
      tenants.push({ tenant: name === NO_TENANT ? null : name, running: c.running, queued: c.queued, total: tenantTotal, byOutcome: Object.fromEntries(c.byOutcome) });
    }
    const ms = (s: number) => Math.round(s * 1e6) / 1000;
    const p = this.requestSeconds.percentiles([50, 90, 99, 100]);
    return {
      time: new Date(now).toISOString(),
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      clients: { connected: this.connected, total: this.connectionsTotal, refused: this.connectionsRefused, throttledRequests: this.requestsThrottled },
      executions: { total, running, queued, byOutcome },
      tenants,
      latencyMs: p ? { window: this.requestSeconds.window, p50: ms(p[0]!), p90: ms(p[1]!), p99: ms(p[2]!), max: ms(p[3]!) } : null,
      libraries: this.libraryCalls(),
      running: [...this.runningNow.values()].sort((a, b) => a.startedAt - b.startedAt).map((e) => ({ ...e, elapsedMs: now - e.startedAt })),
      memory: { serverRssBytes: process.memoryUsage.rss(), launcherRssBytes: context.launcherPid ? residentBytes(context.launcherPid) : null },
      policy: { hash: context.policyHash, reloads: this.policyReloads, rejected: this.policyRejected },
      launcher: { pid: context.launcherPid ?? null, restarts: context.launcherRestarts },
      jobs: this.jobs.snapshot(),
      ...(context.logs
        ? {
            logs: {
              audit: { ...logState(context.logs.audit), refusedCalls: context.logs.audit.refusedCalls },
              operational: logState(context.logs.operational),
            },
          }
        : {}),
    };
  }
}

function logState(health: LogHealth) {
  return { writable: health.ok, failures: health.failures, error: health.error, failingSince: health.since === null ? null : new Date(health.since).toISOString() };
}

/** A process's resident memory (VmRSS), or null if it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
