// The server's statistics (stats.ts) in the Prometheus text exposition format,
// version 0.0.4: what `GET /metrics` answers (metrics-listener.ts).
//
// Written by hand, without prom-client: the format is a few lines of text per
// metric, and prom-client would bring its own registry to keep numbers Stats
// already keeps (twice the bookkeeping on every call, and two sources that can
// disagree). Names and units follow Prometheus's conventions: counters end in
// `_total`, durations are histograms in seconds, sizes are in bytes.
import { OUTCOMES, residentBytes, type Stats, type StatsContext } from './stats.js';
import type { Histogram } from './histogram.js';
import { MEMBER_STATES, type ClusterFigures } from '../cluster/cluster-counters.js';
import type { JobStats } from '../jobs/job-stats.js';

export interface MetricsContext extends StatsContext {
  /** fnjail's version (package.json). */
  version: string;
}

type Labels = Record<string, string>;

/** One metric family: its HELP and TYPE lines, then its samples. */
class Family {
  private readonly lines: string[];

  constructor(
    readonly name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
  ) {
    this.lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
  }

  /** A sample; `suffix` for a histogram's `_bucket`, `_sum` and `_count`. */
  sample(value: number, labels: Labels = {}, suffix = ''): this {
    this.lines.push(`${this.name}${suffix}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  histogram(histogram: Histogram, labels: Labels = {}): this {
    for (const { le, count } of histogram.cumulative()) this.sample(count, { ...labels, le: formatValue(le) }, '_bucket');
    this.sample(histogram.sum, labels, '_sum');
    return this.sample(histogram.count, labels, '_count');
  }

  toString(): string {
    return this.lines.join('\n');
  }
}

/** The page. `detailed`: with the series that name tenants and libraries,
 * which only a scraper holding the metrics token may see (the same
 * information `stats` gives only to monitors); without, their totals. */
export function renderMetrics(stats: Stats, context: MetricsContext, detailed = true): string {
  const families: Family[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): Family => {
    const f = new Family(name, type, help);
    families.push(f);
    return f;
  };

  // Sorted so that successive scrapes list series in the same order (easier to
  // read and to diff; Prometheus itself does not care).
  const outcomes = stats.outcomes().sort((a, b) => compare(a.tenant, b.tenant) || OUTCOMES.indexOf(a.outcome) - OUTCOMES.indexOf(b.outcome));
  const load = stats.tenantLoad().sort((a, b) => compare(a.tenant, b.tenant));
  if (detailed) {
    const executions = family('fnjail_executions_total', 'counter', 'Requests answered, by tenant ("" when none matched) and outcome.');
    for (const row of outcomes) executions.sample(row.count, { tenant: row.tenant, outcome: row.outcome });
    const running = family('fnjail_executions_running', 'gauge', 'Executions in a sandbox now, by tenant.');
    for (const row of load) running.sample(row.running, { tenant: row.tenant });
    const queued = family('fnjail_executions_queued', 'gauge', 'Executions waiting for a sandbox slot now, by tenant.');
    for (const row of load) queued.sample(row.queued, { tenant: row.tenant });
  } else {
    const executions = family('fnjail_executions_total', 'counter', 'Requests answered, by outcome (by tenant with the metrics token).');
    for (const outcome of OUTCOMES) {
      const count = outcomes.filter((row) => row.outcome === outcome).reduce((sum, row) => sum + row.count, 0);
      if (count > 0) executions.sample(count, { outcome });
    }
    const sum = (key: 'running' | 'queued') => load.reduce((total, row) => total + row[key], 0);
    family('fnjail_executions_running', 'gauge', 'Executions in a sandbox now.').sample(sum('running'));
    family('fnjail_executions_queued', 'gauge', 'Executions waiting for a sandbox slot now.').sample(sum('queued'));
  }

  family('fnjail_request_duration_seconds', 'histogram', 'Time from receipt of a request to its reply.').histogram(stats.requestSeconds);
  family('fnjail_queue_duration_seconds', 'histogram', 'Time a launched execution waited for a sandbox slot.').histogram(stats.queueSeconds);
  family('fnjail_run_duration_seconds', 'histogram', 'Time an execution spent in its sandbox, as the supervisor measured it.').histogram(stats.runSeconds);

  if (detailed) {
    const libraries = stats.libraryCalls();
    const calls = family('fnjail_library_calls_total', 'counter', 'Executions started, by library.');
    for (const row of libraries) calls.sample(row.calls, { library: row.library });
    const libraryRunning = family('fnjail_library_executions_running', 'gauge', 'Executions in a sandbox now, by library.');
    for (const row of libraries) libraryRunning.sample(row.running, { library: row.library });
  }

  renderJobs(stats.jobs, family);

  family('fnjail_clients_connected', 'gauge', 'Client connections open now.').sample(stats.connected);
  family('fnjail_connections_total', 'counter', 'Client connections accepted.').sample(stats.connectionsTotal);
  family('fnjail_connections_refused_total', 'counter', 'Client connections refused.').sample(stats.connectionsRefused);
  family('fnjail_requests_throttled_total', 'counter', 'Requests refused unhandled: a peer or a connection made too many refused requests.').sample(stats.requestsThrottled);

  family('fnjail_policy_reloads_total', 'counter', 'Policy reloads, by result (rejected: the new policy was invalid and the old one stayed).')
    .sample(stats.policyReloads, { result: 'ok' })
    .sample(stats.policyRejected, { result: 'rejected' });
  family('fnjail_launcher_restarts_total', 'counter', 'Times the sandbox launcher was restarted.').sample(context.launcherRestarts);

  if (context.logs) {
    const { audit, operational } = context.logs;
    family('fnjail_log_writable', 'gauge', '1 when the log can be written, 0 while writes fail (audit: calls are refused meanwhile).')
      .sample(audit.ok ? 1 : 0, { log: 'audit' })
      .sample(operational.ok ? 1 : 0, { log: 'operational' });
    family('fnjail_log_write_failures_total', 'counter', 'Lines that could not be written.')
      .sample(audit.failures, { log: 'audit' })
      .sample(operational.failures, { log: 'operational' });
    family('fnjail_calls_refused_unaudited_total', 'counter', 'Calls refused because their audit record could not be written.').sample(audit.refusedCalls);
  }

  const cluster = context.cluster?.();
  if (cluster) clusterFamilies(cluster, family, detailed);

  family('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process.').sample(process.memoryUsage.rss());
  // No sample (rather than 0) when the launcher is down: 0 would draw a
  // misleading dip on a graph, a gap says "unknown".
  const launcherMemory = family('fnjail_launcher_resident_memory_bytes', 'gauge', 'Resident memory of the sandbox launcher process.');
  const launcherBytes = context.launcherPid ? residentBytes(context.launcherPid) : null;
  if (launcherBytes !== null) launcherMemory.sample(launcherBytes);
  family('process_start_time_seconds', 'gauge', 'Start time of the server since the Unix epoch.').sample(stats.startedAt / 1000);
  family('fnjail_build_info', 'gauge', 'Always 1; the labels say which version runs which policy.').sample(1, { version: context.version, policy_hash: context.policyHash });

  // The format wants a line feed after the last line too.
  return families.join('\n') + '\n';
}

/** The cluster as this node sees it (src/cluster/cluster-counters.ts). Node
 * names only in the detailed page: the member table is for monitors. */
function clusterFamilies(cluster: ClusterFigures, family: (name: string, type: 'counter' | 'gauge', help: string) => Family, detailed: boolean): void {
  const members = family('fnjail_cluster_members', 'gauge', 'Nodes of the member table, by state.');
  for (const state of MEMBER_STATES) members.sample(cluster.members.filter((m) => m.state === state).length, { state });
  if (detailed) {
    const age = family('fnjail_cluster_heartbeat_age_seconds', 'gauge', 'Since the last heartbeat of each node arrived here (none: not heard from its current incarnation).');
    for (const m of cluster.members) if (m.heartbeatAgeMs !== null) age.sample(m.heartbeatAgeMs / 1000, { node: m.node });
  }
  const ran = family('fnjail_cluster_forwarded_calls_total', 'counter', 'Calls run on another node (sent) or here for another node (received), by outcome (node-lost: started there, its node went away).');
  const notStarted = family('fnjail_cluster_forwarded_not_started_total', 'counter', 'Offers of a call to another node (sent) or from one (received) that did not start it, by why: it has run nowhere (and went to another node, or, cancelled, was refused by the calling node).');
  for (const direction of ['sent', 'received'] as const) {
    for (const [outcome, count] of [...cluster.ran[direction]].sort(([a], [b]) => compare(a, b))) ran.sample(count, { direction, outcome });
    for (const [reason, count] of [...cluster.notStarted[direction]].sort(([a], [b]) => compare(a, b))) notStarted.sample(count, { direction, reason });
  }
  family('fnjail_cluster_coordinator_changes_total', 'counter', 'Times this node saw the coordinator lease pass to another node.').sample(cluster.coordinatorChanges);
  family('fnjail_cluster_rejected_messages_total', 'counter', 'Cluster messages refused: a node speaking for another, unreadable ones.').sample(cluster.rejectedMessages);
}

/** Jobs (docs/jobs.md): this node's slots and runs, the queue as the node last saw it, outcomes, wait and run times. */
function renderJobs(jobs: JobStats, family: (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => Family): void {
  family('fnjail_job_slots', 'gauge', 'Job replicas this node runs at once (--job-slots).').sample(jobs.slots);
  family('fnjail_jobs_running', 'gauge', 'Job replicas running on this node now.').sample(jobs.running);
  // No sample before the queue was reached (unknown, not 0).
  const waiting = family('fnjail_job_queue_waiting', 'gauge', 'Work items (job replicas) waiting in the queue, whole cluster, as last seen.');
  if (jobs.queued !== undefined) waiting.sample(jobs.queued);
  const taken = family('fnjail_job_queue_running', 'gauge', 'Work items taken by a node and not finished, whole cluster, as last seen.');
  if (jobs.queueRunning !== undefined) taken.sample(jobs.queueRunning);
  family('fnjail_jobs_submitted_total', 'counter', 'Jobs submitted to this node, by result (refused: at submit, e.g. a full queue).')
    .sample(jobs.submitted, { result: 'accepted' })
    .sample(jobs.refused, { result: 'refused' });
  const replicas = family('fnjail_job_replicas_total', 'counter', 'Job replicas ended, by outcome (ok: COMPLETED), as this node recorded them.');
  for (const [outcome, count] of [...jobs.replicaOutcomes].sort(([a], [b]) => compare(a, b))) replicas.sample(count, { outcome });
  family('fnjail_job_tickets_total', 'counter', 'Tickets ended, by state.')
    .sample(jobs.ticketEnds.COMPLETED, { state: 'COMPLETED' })
    .sample(jobs.ticketEnds.INVALID, { state: 'INVALID' });
  family('fnjail_job_wait_duration_seconds', 'histogram', 'Time a job replica waited in the queue, from submit (or requeue) to start.').histogram(jobs.waitSeconds);
  const run = family('fnjail_job_run_duration_seconds', 'histogram', 'Time a job replica ran, from start to end, by outcome (ok: COMPLETED).');
  for (const [outcome, histogram] of [...jobs.runSecondsByOutcome].sort(([a], [b]) => compare(a, b))) run.histogram(histogram, { outcome });
}

/** Code-point order: stable whatever the locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** HELP text: backslash and line feed are escaped (a quote is fine there). */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Numbers as Prometheus clients write them: shortest round-trip form ("0.0005", "1", "2.5"), "+Inf", "-Inf", "NaN". */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value); // NaN -> "NaN"; exponents as "1e-7", which Prometheus parses
}
