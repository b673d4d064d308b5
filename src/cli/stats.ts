// fnjail stats: one `stats` request to the server, printed for a person (or
// as JSON for a script). The small formatting helpers here are shared with
// `fnjail top`, so the two commands show numbers the same way.
import { formatSize } from '../config/size.js';
import { OUTCOMES, type StatsSnapshot } from '../metrics/stats.js';
import { targetFrom, TRANSPORT_HELP, TRANSPORT_OPTIONS } from './transport.js';
import { parse, usageError } from './args.js';
import { clean, formatBytes, formatMs, formatUptime, table, tenantTable } from './stats-format.js';
import { fetchStats, StatsRefused, UnexpectedStatsReply } from './stats-client.js';

export const STATS_HELP = `usage: fnjail stats [--socket PATH | --connect HOST:PORT ...] [--json]

Asks the fnjail server for its counters and prints them: uptime, clients,
executions by outcome, request latency, load per tenant, the most called
libraries, memory, policy and launcher. Only root and the users the policy
names as monitors may see them.

options:
${TRANSPORT_HELP}
  --json          print the server's reply as JSON instead (docs/monitoring.md)
  --help          this text
`;

/** How many libraries the summary lists. */
const TOP_LIBRARIES = 10;

export async function statsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('stats', args, {
    ...TRANSPORT_OPTIONS,
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(STATS_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError('stats', `unexpected argument '${positionals[0]}'`);
  let snapshot: StatsSnapshot;
  try {
    snapshot = await fetchStats(targetFrom('stats', values));
  } catch (error) {
    return reportFailure(error);
  }
  process.stdout.write(values.json ? `${JSON.stringify(snapshot, null, 2)}\n` : formatStats(snapshot));
  return 0;
}

/** The server's refusal or a reply we cannot read: one line on stderr, exit 1.
 * FnjailErrors (cannot connect, no reply) are main's to print. */
export function reportFailure(error: unknown): number {
  if (error instanceof StatsRefused || error instanceof UnexpectedStatsReply) {
    process.stderr.write(`fnjail: ${clean(error.message)}\n`);
    return 1;
  }
  throw error;
}

export function formatStats(s: StatsSnapshot): string {
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name.padEnd(12)}${value}`);
  field('uptime', `${formatUptime(s.uptimeSeconds)} (since ${clean(s.startedAt)})`);
  field('clients', `${s.clients.connected} connected, ${s.clients.total} since start, ${s.clients.refused} refused`);
  field('executions', `${s.executions.total} total, ${s.executions.running} running, ${s.executions.queued} queued`);
  const outcomes = OUTCOMES.filter((o) => (s.executions.byOutcome[o] ?? 0) > 0);
  const outcomeWidth = Math.max(0, ...outcomes.map((o) => o.length));
  for (const outcome of outcomes) lines.push(`  ${outcome.padEnd(outcomeWidth)}  ${s.executions.byOutcome[outcome]}`);
  const l = s.latencyMs;
  field(
    'latency',
    `p50 ${formatMs(l?.p50)}  p90 ${formatMs(l?.p90)}  p99 ${formatMs(l?.p99)}  max ${formatMs(l?.max)}` + (l ? `  (last ${l.window} requests)` : ''),
  );
  field('memory', `server ${formatSize(s.memory.serverRssBytes)}, launcher ${formatBytes(s.memory.launcherRssBytes)}`);
  field('policy', `${clean(s.policy.hash.slice(0, 12))}, ${plural(s.policy.reloads, 'reload')}, ${s.policy.rejected} rejected`);
  field('launcher', `pid ${s.launcher.pid ?? '-'}, ${plural(s.launcher.restarts, 'restart')}`);
  if (s.jobs) lines.push(...jobLines(s.jobs, field));

  if (s.tenants.length > 0) {
    lines.push('', 'tenants:');
    lines.push(...indent(tenantTable(s)));
  }
  if (s.libraries.length > 0) {
    const shown = s.libraries.slice(0, TOP_LIBRARIES);
    lines.push('', s.libraries.length > shown.length ? `libraries (top ${shown.length} of ${s.libraries.length} by calls):` : 'libraries (by calls):');
    lines.push(
      ...indent(
        table(
          [{ header: 'CALLS', right: true }, { header: 'RUNNING', right: true }, { header: 'LIBRARY' }],
          shown.map((lib) => [String(lib.calls), String(lib.running), lib.library]),
        ),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Jobs (docs/jobs.md): this node's runs, the queue as last seen, outcomes, wait and run times. */
function jobLines(j: NonNullable<StatsSnapshot['jobs']>, field: (name: string, value: string) => void): string[] {
  const seen = (n: number | null) => (n === null ? '-' : String(n));
  field('jobs', `${j.running} running of ${plural(j.slots, 'slot')}; queue ${seen(j.queued)} waiting, ${seen(j.queueRunning)} running; ${j.submitted} submitted, ${j.refused} refused; tickets ${j.tickets.COMPLETED} completed, ${j.tickets.INVALID} invalid`);
  field('job times', `wait p50 ${formatMs(j.waitMs?.p50)}  p99 ${formatMs(j.waitMs?.p99)}; run p50 ${formatMs(j.runMs?.p50)}  p99 ${formatMs(j.runMs?.p99)}`);
  const outcomes = Object.keys(j.replicas);
  const width = Math.max(0, ...outcomes.map((o) => o.length));
  return outcomes.map((o) => {
    const run = j.runMsByOutcome[o];
    return `  ${clean(o).padEnd(width)}  ${j.replicas[o]}${run ? `  (ran p50 ${formatMs(run.p50)}, p99 ${formatMs(run.p99)})` : ''}`;
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `  ${line}`);
}
