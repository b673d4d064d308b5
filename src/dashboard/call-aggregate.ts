// The calls this node answered, aggregated for the dashboard: counts by
// outcome and latency buckets per second for the last minute, the last calls,
// and per function its calls, errors and median. Recording a call is a few
// array and map updates (it runs on every call, 1000 a second and more); the
// frames of the event stream are built from these once a second.
import type { ExecutionResult } from '../executor/executor.js';
import { bucketIndex, DURATION_BUCKETS, Histogram } from '../metrics/histogram.js';
import type { CallView, FunctionView, LatencyView, Outcome, SecondCounts } from '../../web/src/payload.js';

/** Seconds of history the page shows (sparklines, rates, the latency histogram). */
export const HISTORY_SECONDS = 60;
/** Calls a snapshot carries, and the most a tick carries (the others are counted as omitted). */
export const RECENT_CALLS = 100;
/** Targets followed at most (a tenant calling many libraries by path must not grow this without bound). */
const MAX_TARGETS = 500;
/** Durations kept per target for its median. */
const TARGET_WINDOW = 256;

interface Second {
  second: number;
  byOutcome: Map<Outcome, number>;
  /** Per DURATION_BUCKETS bound, then one above them all. */
  latency: number[];
}

interface TargetCounts {
  registered: boolean;
  calls: number;
  errors: number;
  durations: Float64Array;
  filled: number;
}

export class CallAggregate {
  private readonly seconds: Second[] = [];
  private readonly totals = new Map<Outcome, number>();
  private readonly latency = new Histogram();
  /** Oldest first; at most RECENT_CALLS. */
  private readonly recent: CallView[] = [];
  /** Calls recorded since start: a frame asks for those after the count it saw. */
  private recorded = 0;
  private readonly targets = new Map<string, TargetCounts>();

  record(result: ExecutionResult, now = Date.now()): void {
    const outcome = result.kind;
    const second = this.secondOf(Math.floor(now / 1000));
    second.byOutcome.set(outcome, (second.byOutcome.get(outcome) ?? 0) + 1);
    second.latency[bucketIndex(DURATION_BUCKETS, result.totalMs / 1000)]!++;
    this.totals.set(outcome, (this.totals.get(outcome) ?? 0) + 1);
    this.latency.observe(result.totalMs / 1000);
    const target = targetOf(result);
    this.recent.push({
      time: now,
      request: result.request,
      tenant: result.tenant ?? null,
      target,
      outcome,
      durationMs: Math.round(result.totalMs * 1000) / 1000,
      reason: outcome === 'ok' ? null : `Reason: ${result.reasons[0] ?? outcome}`,
    });
    if (this.recent.length > RECENT_CALLS) this.recent.shift();
    this.recorded++;
    // The functions section lists what could run: a request refused before the policy allowed it (a typo, garbage) names no function.
    if (result.registered || result.decision === 'allowed') this.countTarget(target, result.registered !== undefined, outcome, result.totalMs);
  }

  /** How many calls were recorded so far (a frame remembers it, the next one sends the calls after it). */
  get count(): number {
    return this.recorded;
  }

  /** Newest first: the calls recorded after `since` calls (all that are kept when since is undefined), and how many of those are no longer kept. */
  recentSince(since: number | undefined): { recent: CallView[]; omitted: number } {
    const wanted = since === undefined ? this.recent.length : this.recorded - since;
    const kept = Math.min(wanted, this.recent.length);
    return { recent: this.recent.slice(this.recent.length - kept).reverse(), omitted: since === undefined ? 0 : wanted - kept };
  }

  /** The complete seconds after `after` (epoch seconds; all of the last minute when undefined), oldest first, zeros included. */
  secondsAfter(after: number | undefined, now = Date.now()): SecondCounts[] {
    const current = Math.floor(now / 1000);
    const first = Math.max(current - HISTORY_SECONDS, after === undefined ? -Infinity : after + 1);
    const rows: SecondCounts[] = [];
    for (let s = first; s < current; s++) {
      const found = this.seconds.find((x) => x.second === s);
      rows.push({ second: s, byOutcome: found ? Object.fromEntries(found.byOutcome) : {} });
    }
    return rows;
  }

  /** Calls per complete second of the last minute, oldest first. */
  callsPerSecond(now = Date.now()): number[] {
    return this.secondsAfter(undefined, now).map((s) => Object.values(s.byOutcome).reduce((a, b) => a + (b ?? 0), 0));
  }

  totalsByOutcome(): Partial<Record<Outcome, number>> {
    return Object.fromEntries(this.totals);
  }

  /** Percentiles over the last calls (as fnjail stats computes them), and the last minute's durations by bucket. */
  latencyView(now = Date.now()): LatencyView | null {
    const p = this.latency.percentiles([50, 90, 99]);
    if (!p) return null;
    const ms = (s: number) => Math.round(s * 1e6) / 1000;
    const counts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    const oldest = Math.floor(now / 1000) - HISTORY_SECONDS;
    for (const second of this.seconds) if (second.second >= oldest) second.latency.forEach((c, i) => (counts[i]! += c));
    return { window: this.latency.window, p50: ms(p[0]!), p90: ms(p[1]!), p99: ms(p[2]!), histogram: { boundsMs: DURATION_BUCKETS.map((b) => b * 1000), counts } };
  }

  /** Calls, errors and median per target, for the functions section. */
  targetViews(): Map<string, Pick<FunctionView, 'calls' | 'errors' | 'p50Ms'> & { registered: boolean }> {
    const views = new Map<string, Pick<FunctionView, 'calls' | 'errors' | 'p50Ms'> & { registered: boolean }>();
    for (const [name, t] of this.targets) {
      const n = Math.min(t.filled, TARGET_WINDOW);
      const sorted = t.durations.slice(0, n).sort();
      views.set(name, { registered: t.registered, calls: t.calls, errors: t.errors, p50Ms: n ? Math.round(sorted[Math.ceil(n / 2) - 1]! * 1000) / 1000 : null });
    }
    return views;
  }

  private secondOf(epochSecond: number): Second {
    const last = this.seconds[this.seconds.length - 1];
    if (last?.second === epochSecond) return last;
    const found = this.seconds.find((s) => s.second === epochSecond);
    if (found) return found;
    const second: Second = { second: epochSecond, byOutcome: new Map(), latency: new Array<number>(DURATION_BUCKETS.length + 1).fill(0) };
    this.seconds.push(second);
    this.seconds.sort((a, b) => a.second - b.second);
    while (this.seconds.length && this.seconds[0]!.second <= epochSecond - HISTORY_SECONDS - 1) this.seconds.shift();
    return second;
  }

  private countTarget(name: string, registered: boolean, outcome: Outcome, totalMs: number): void {
    let t = this.targets.get(name);
    if (t) {
      // Most recently used last: the first entry is the one to forget.
      this.targets.delete(name);
    } else {
      t = { registered, calls: 0, errors: 0, durations: new Float64Array(TARGET_WINDOW), filled: 0 };
      if (this.targets.size >= MAX_TARGETS) this.targets.delete(this.targets.keys().next().value!);
    }
    this.targets.set(name, t);
    t.calls++;
    if (outcome !== 'ok') t.errors++;
    t.durations[t.filled++ % TARGET_WINDOW] = totalMs;
  }
}

/** What the call was of: the registered function, the library and function, or the request as received. */
export function targetOf(result: ExecutionResult): string {
  if (result.registered) return result.registered.name;
  if (result.library) return `${result.library} ${result.function ?? 'run'}`;
  return result.command.length > 80 ? `${result.command.slice(0, 79)}…` : result.command || '(empty request)';
}
