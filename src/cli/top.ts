// fnjail top: the server's running executions, refreshed live over one `stats`
// connection. On a terminal it redraws in place until 'q' or Ctrl-C; piped (or
// with --once) it prints plain frames one after another, for logs and scripts.
import type { StatsSnapshot } from '../metrics/stats.js';
import { targetFrom, TRANSPORT_HELP, TRANSPORT_OPTIONS, type Target } from './transport.js';
import { parse, parseInteger, usageError } from './args.js';
import { StatsConnection } from './stats-client.js';
import { reportFailure } from './stats.js';
import { clean, formatBytes, formatMs, formatUptime, table, tenantName, tenantTable } from './stats-format.js';

export const TOP_HELP = `usage: fnjail top [--socket PATH | --connect HOST:PORT ...] [--interval SECONDS] [--iterations N] [--once]

Shows what the fnjail server is doing, refreshed every interval: uptime, clients,
load, outcomes, latency and memory, then the running executions (longest first)
and the load per tenant. Only root and the users the policy names as monitors
may see it.

On a terminal the view is redrawn in place; q or Ctrl-C quits. When the output
is not a terminal, frames are printed one after another, separated by a blank
line, without escape codes.

options:
${TRANSPORT_HELP}
  --interval SECONDS   time between frames (default: 1, at least 0.1)
  --iterations N       stop after N frames
  --once               print one plain frame and exit (as when piped)
  --help               this text
`;

const DEFAULT_WIDTH = 120;
const MIN_INTERVAL = 0.1;
const MAX_INTERVAL = 86_400;

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

export async function topCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('top', args, {
    ...TRANSPORT_OPTIONS,
    interval: { type: 'string' },
    iterations: { type: 'string' },
    once: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(TOP_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError('top', `unexpected argument '${positionals[0]}'`);
  if (values.once && values.iterations !== undefined) throw usageError('top', '--once and --iterations cannot be used together');
  const intervalMs = values.interval === undefined ? 1000 : parseInterval(values.interval) * 1000;
  const iterations = values.once ? 1 : values.iterations === undefined ? Infinity : parseInteger('top', 'iterations', values.iterations, 1, 1_000_000_000);
  const live = !values.once && process.stdout.isTTY === true;
  try {
    await watch(targetFrom('top', values), { intervalMs, iterations, live });
  } catch (error) {
    return reportFailure(error);
  }
  return 0;
}

function parseInterval(text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(text) || value < MIN_INTERVAL || value > MAX_INTERVAL) {
    throw usageError('top', `--interval must be a number of seconds from ${MIN_INTERVAL} to ${MAX_INTERVAL}, not '${text}'`);
  }
  return value;
}

interface WatchOptions {
  intervalMs: number;
  iterations: number;
  /** Redraw in place, hide the cursor, read keys. */
  live: boolean;
}

async function watch(target: Target, options: WatchOptions): Promise<void> {
  const connection = new StatsConnection(target);
  let stop!: () => void;
  const stopped = new Promise<'stop'>((resolve) => (stop = () => resolve('stop')));
  const restoreTerminal = options.live ? takeTerminal(stop) : () => {};
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let timer: NodeJS.Timeout | undefined;
  try {
    for (let frame = 0; frame < options.iterations; frame++) {
      const snapshot = await Promise.race([connection.next(), stopped]);
      if (snapshot === 'stop') break;
      const width = process.stdout.isTTY ? process.stdout.columns || DEFAULT_WIDTH : DEFAULT_WIDTH;
      const text = formatTop(snapshot, width);
      process.stdout.write(options.live ? `${CLEAR}${text}` : frame === 0 ? text : `\n${text}`);
      if (frame + 1 >= options.iterations) break;
      const waited = await Promise.race([new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), options.intervalMs))), stopped]);
      if (waited === 'stop') break;
    }
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    restoreTerminal();
    await connection.close();
  }
}

/** Raw keys from stdin (if it is a terminal) and no cursor; returns what undoes it. */
function takeTerminal(stop: () => void): () => void {
  const stdin = process.stdin;
  const onKey = (key: Buffer) => {
    if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03)) stop(); // q, Q, Ctrl-C
  };
  const rawKeys = stdin.isTTY === true;
  if (rawKeys) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  }
  process.stdout.write(HIDE_CURSOR);
  // Should anything end the process before the finally blocks run, still give the cursor back.
  const onExit = () => process.stdout.write(SHOW_CURSOR);
  process.once('exit', onExit);
  return () => {
    process.off('exit', onExit);
    process.stdout.write(SHOW_CURSOR);
    if (rawKeys) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  };
}

/** One frame: header lines, running executions (longest first), load per tenant. */
export function formatTop(s: StatsSnapshot, width: number): string {
  const e = s.executions;
  const ok = e.byOutcome.ok ?? 0;
  const l = s.latencyMs;
  const lines = [
    `fnjail top - ${clean(s.time.slice(11, 19))} up ${formatUptime(s.uptimeSeconds)}, ${s.clients.connected} ${s.clients.connected === 1 ? 'client' : 'clients'}`,
    `executions: ${e.running} running, ${e.queued} queued, ${e.total} total (${ok} ok, ${e.total - ok} failed)`,
    `latency: p50 ${formatMs(l?.p50)}, p99 ${formatMs(l?.p99)}`,
    `memory: server ${formatBytes(s.memory.serverRssBytes)}, launcher ${formatBytes(s.memory.launcherRssBytes)}`,
    '',
  ];
  if (s.running.length === 0) {
    lines.push('no executions running');
  } else {
    const running = [...s.running].sort((a, b) => b.elapsedMs - a.elapsedMs);
    lines.push(
      ...table(
        [
          { header: 'REQUEST', max: 24 },
          { header: 'TENANT', max: 16 },
          { header: 'UID', right: true },
          { header: 'ELAPSED', right: true },
          { header: 'FUNCTION', max: 24 },
          { header: 'LIBRARY' },
        ],
        running.map((r) => [r.request, tenantName(r.tenant), String(r.uid), formatElapsed(r.elapsedMs), r.function, r.library]),
        width,
      ),
    );
  }
  if (s.tenants.length > 0) lines.push('', ...tenantTable(s, width));
  return `${lines.join('\n')}\n`;
}

/** 1500 -> "1.5s"; 125000 -> "2m05s"; 3725000 -> "1h02m". */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 59.95) return `${s.toFixed(1)}s`; // not "60.0s"
  const whole = Math.round(s);
  const two = (n: number) => String(n).padStart(2, '0');
  if (whole < 3600) return `${Math.floor(whole / 60)}m${two(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h${two(Math.floor((whole % 3600) / 60))}m`;
}
