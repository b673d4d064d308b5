// Durations, two ways: cumulative buckets since the start (what Prometheus
// wants: its quantiles are computed over any window the reader chooses), and
// the last N values exactly (what `fnjail stats` shows as percentiles "now").

/** Upper bounds in seconds: half a millisecond (a warm call) to a minute (a long timeout). */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The bucket a value falls in: the first bound it does not exceed, or bounds.length (above them all). */
export function bucketIndex(bounds: readonly number[], seconds: number): number {
  let i = 0;
  while (i < bounds.length && seconds > bounds[i]!) i++;
  return i;
}

export class Histogram {
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last slot: above every bound. */
  private readonly counts: number[];
  private total = 0;
  private sumSeconds = 0;
  private readonly recent: Float64Array;
  private recentCount = 0;

  constructor(
    readonly bounds: number[] = DURATION_BUCKETS,
    recentSize = 10_000,
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
    this.recent = new Float64Array(recentSize);
  }

  observe(seconds: number): void {
    this.counts[bucketIndex(this.bounds, seconds)]!++;
    this.total++;
    this.sumSeconds += seconds;
    this.recent[this.recentCount++ % this.recent.length] = seconds;
  }

  get count(): number {
    return this.total;
  }

  get sum(): number {
    return this.sumSeconds;
  }

  /** Cumulative counts per bound, then +Inf: Prometheus's `_bucket{le=...}`. */
  cumulative(): Array<{ le: number; count: number }> {
    let running = 0;
    const buckets = this.bounds.map((le, i) => ({ le, count: (running += this.counts[i]!) }));
    return [...buckets, { le: Infinity, count: this.total }];
  }

  /** Percentiles (0-100) of the last values observed (nearest rank), in seconds. */
  percentiles(ps: number[]): number[] | undefined {
    const n = Math.min(this.recentCount, this.recent.length);
    if (n === 0) return undefined;
    const sorted = this.recent.slice(0, n).sort();
    return ps.map((p) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
  }

  /** How many values the percentiles are computed over. */
  get window(): number {
    return Math.min(this.recentCount, this.recent.length);
  }
}
