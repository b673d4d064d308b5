// The shape of bench/results/latest.json, and the targets checked on it.
import type { LoadgenRun } from './loadgen.js';
import type { Machine } from './machine.js';
import type { RssPeak } from './procfs.js';
import { ratio, type Summary } from './stats.js';

export interface PointResult {
  /** "baseline", "fnjail", or a fnjail variant such as "fnjail --netns shared". */
  server: string;
  kind: 'baseline' | 'fnjail';
  clients: number;
  requestsPerClient: number;
  summary: Summary;
  runs: LoadgenRun[];
  /** Runs that gave no report (the generator failed or timed out). */
  failures: string[];
}

export interface BurstResult extends PointResult {
  /** Per run, and the peaks over all runs. */
  rss: RssPeak[];
  rssPeak: { controlBytes: number; serverBytes: number; helperBytes: number; perCallBytes: number; perCallProcesses: number; helpers: string[] };
}

export interface VariantSideResult {
  label: string;
  args: string[];
  points: PointResult[];
}

export interface VariantResult {
  name: string;
  option: string;
  /** false: the option is not in this build's `fnjail serve --help`, or its server did not start. */
  available: boolean;
  note?: string;
  sides: VariantSideResult[];
}

export interface LoadgenCheck {
  clients: number;
  /** One generator with all clients vs two with half each, against the baseline. */
  single: Summary;
  split: Summary;
  /** split throughput / single throughput - 1. */
  gain: number;
  /** The highest median CPU share of the generator at any point (1 = one core). */
  maxCpuShare: number;
  maxCpuShareAt: string;
  bottleneck: boolean;
  verdict: string;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  /** null: could not be measured. */
  pass: boolean | null;
}

export interface BenchResults {
  version: 1;
  date: string;
  durationS: number;
  machine: Machine;
  settings: { runs: number; variantRuns: number; callsPerPoint: number; concurrency: number[]; outputs: 'tmpfs' | 'disk'; burst: { clients: number; sleepMaxMs: number; timeoutMs: number } };
  trivial: PointResult[];
  burst: BurstResult[];
  variants: VariantResult[];
  loadgen: LoadgenCheck | null;
  targets: Target[];
  /** Things that went wrong but did not stop the bench. */
  problems: string[];
}

export const TARGETS = { throughput64: 0.6, p50At1: 2, burstTime: 1.2, rssBytes: 150e6 };

export function findPoint(points: PointResult[], server: string, clients: number): PointResult | undefined {
  return points.find((p) => p.server === server && p.clients === clients);
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export function checkTargets(r: Pick<BenchResults, 'trivial' | 'burst'>): Target[] {
  const base64 = findPoint(r.trivial, 'baseline', 64)?.summary;
  const fn64 = findPoint(r.trivial, 'fnjail', 64)?.summary;
  const base1 = findPoint(r.trivial, 'baseline', 1)?.summary;
  const fn1 = findPoint(r.trivial, 'fnjail', 1)?.summary;
  const baseBurst = r.burst.find((b) => b.server === 'baseline');
  const fnBurst = r.burst.find((b) => b.server === 'fnjail');
  const known = (...values: number[]) => values.every(Number.isFinite);

  const tput = ratio(fn64?.throughput ?? NaN, base64?.throughput ?? NaN);
  const p50 = ratio(fn1?.p50 ?? NaN, base1?.p50 ?? NaN);
  const burstRatio = ratio(fnBurst?.summary.elapsedS ?? NaN, baseBurst?.summary.elapsedS ?? NaN);
  const burstErrors = fnBurst ? fnBurst.summary.errors + fnBurst.failures.length : NaN;
  const rss = fnBurst?.rssPeak.controlBytes ?? NaN;
  return [
    {
      name: 'throughput at 64 clients',
      goal: `>= ${TARGETS.throughput64}x baseline`,
      measured: `${fmt(tput)}x (${fmt(fn64?.throughput ?? NaN, 0)} vs ${fmt(base64?.throughput ?? NaN, 0)} calls/s)`,
      pass: known(tput) ? tput >= TARGETS.throughput64 : null,
    },
    {
      name: 'p50 latency at 1 client',
      goal: `<= ${TARGETS.p50At1}x baseline`,
      measured: `${fmt(p50)}x (${fmt(fn1?.p50 ?? NaN, 3)} vs ${fmt(base1?.p50 ?? NaN, 3)} ms)`,
      pass: known(p50) ? p50 <= TARGETS.p50At1 : null,
    },
    {
      name: '1000-client burst',
      goal: `0 errors, time <= ${TARGETS.burstTime}x baseline`,
      measured: `${fmt(burstErrors, 0)} errors in ${fnBurst?.runs.length ?? 0} runs, ${fmt(burstRatio)}x (${fmt(fnBurst?.summary.elapsedS ?? NaN, 3)} vs ${fmt(baseBurst?.summary.elapsedS ?? NaN, 3)} s)`,
      pass: known(burstRatio, burstErrors) ? burstErrors === 0 && burstRatio <= TARGETS.burstTime : null,
    },
    {
      name: 'server + launcher RSS during the burst',
      goal: `<= ${TARGETS.rssBytes / 1e6} MB`,
      measured: `${fmt(rss / 1e6, 1)} MB peak (server ${fmt((fnBurst?.rssPeak.serverBytes ?? NaN) / 1e6, 1)} MB, launcher ${fmt((fnBurst?.rssPeak.helperBytes ?? NaN) / 1e6, 1)} MB)`,
      pass: known(rss) && rss > 0 ? rss <= TARGETS.rssBytes : null,
    },
  ];
}
