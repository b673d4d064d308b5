// Medians of several runs, percentiles, ratios.
import type { LoadgenRun } from './loadgen.js';

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0..1) of sorted values, nearest rank as the load generator does. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.round(p * (sorted.length - 1));
  return sorted[Math.min(i, sorted.length - 1)]!;
}

/** The largest finite value, NaN if none. */
export function maxOf(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? Math.max(...finite) : NaN;
}

/** a / b, NaN when either is unknown or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/** One measured point summarised over its runs: medians, except errors (all runs added up). */
export interface Summary {
  runs: number;
  failedRuns: number;
  calls: number;
  throughput: number;
  elapsedS: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  /** The generator's CPU time over the run's wall time (1 = one core busy), median. */
  loadgenCpuShare: number;
  /** The generator's CPU time per call, microseconds, median. */
  loadgenCpuPerCallUs: number;
  /** CPU used by processes other than the bench's during the runs (1 = one core): median and highest. */
  otherCpuShare: number;
  otherCpuShareMax: number;
  errorSamples: string[];
}

export function summarize(runs: LoadgenRun[], failedRuns = 0): Summary {
  const of = (pick: (run: LoadgenRun) => number | null) =>
    median(runs.map(pick).filter((v): v is number => v !== null && Number.isFinite(v)));
  return {
    runs: runs.length,
    failedRuns,
    calls: runs.reduce((a, r) => a + r.requests, 0),
    throughput: of((r) => r.throughput),
    elapsedS: of((r) => r.elapsed_s),
    p50: of((r) => r.latency_ms.p50),
    p90: of((r) => r.latency_ms.p90),
    p99: of((r) => r.latency_ms.p99),
    max: of((r) => r.latency_ms.max),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    loadgenCpuShare: of((r) => (r.cpu_s === null ? null : r.cpu_s / r.elapsed_s)),
    loadgenCpuPerCallUs: of((r) => (r.cpu_s === null ? null : (r.cpu_s / r.requests) * 1e6)),
    otherCpuShare: of((r) => r.other_cpu_share ?? null),
    otherCpuShareMax: maxOf(runs.map((r) => r.other_cpu_share ?? NaN)),
    errorSamples: [...new Set(runs.flatMap((r) => r.error_samples))].slice(0, 5),
  };
}
