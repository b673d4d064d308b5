// The runs of each measured point (a server at a concurrency), gathered over
// the interleaved rounds: a failed run is recorded and the bench goes on; a
// server that died under a run is started again and the run repeated; the CPU
// that other processes used meanwhile is noted with each run.
import type { LoadgenRun } from './loadgen.js';
import { foreignCpuSnapshot, foreignTicksBetween, waitForIdle, type RssPeak } from './procfs.js';
import { log } from './progress.js';
import { ms } from './report.js';
import type { BurstResult, PointResult } from './results.js';
import { warmUp } from './scenarios.js';
import type { BenchServer } from './servers.js';
import { isCleaningUp } from './cleanup.js';
import { summarize } from './stats.js';
import type { Workspace } from './workspace.js';

/** Times a server that died under the bench is started again. */
const MAX_RESTARTS = 3;

function describe(run: LoadgenRun): string {
  return `${Math.round(run.throughput)} calls/s, p50 ${ms(run.latency_ms.p50)} ms, p99 ${ms(run.latency_ms.p99)} ms, ${run.errors} errors`;
}

/** Runs of one point (a server at a concurrency), gathered over the interleaved rounds. */
export class Points {
  private readonly points = new Map<string, PointResult & { rss: RssPeak[] }>();

  constructor(
    private readonly ws: Workspace,
    private readonly problems: string[],
  ) {}

  private point(server: BenchServer, clients: number, requests: number) {
    const key = `${server.label}|${clients}`;
    let p = this.points.get(key);
    if (!p) {
      p = { server: server.label, kind: server.kind, clients, requestsPerClient: requests, summary: summarize([]), runs: [], failures: [], rss: [] };
      this.points.set(key, p);
    }
    return p;
  }

  /** One run; a failed run is recorded, and the bench goes on. A server
   * that died under the run is started again (at most MAX_RESTARTS times)
   * and the run repeated once. */
  async measure(what: string, server: BenchServer, clients: number, requests: number, once: () => Promise<LoadgenRun | { run: LoadgenRun; rss: RssPeak }>) {
    const p = this.point(server, clients, requests);
    for (let attempt = 1; attempt <= 2; attempt++) {
      let result: LoadgenRun | { run: LoadgenRun; rss: RssPeak } | undefined;
      let failure: Error | undefined;
      const before = await foreignCpuSnapshot();
      try {
        result = await once();
      } catch (error) {
        if (isCleaningUp()) throw error;
        failure = error as Error;
      }
      const otherTicks = foreignTicksBetween(before, await foreignCpuSnapshot());
      const gone = server.exited();
      if (gone) {
        const note = `${what}: ${server.label} ${gone}`;
        this.problems.push(note);
        log(`${note}\n${server.logTail()}`);
        if (server.restarts >= MAX_RESTARTS) {
          p.failures.push(`${note}; not restarted (restarted ${server.restarts} times already)`);
          return;
        }
        try {
          await server.restart();
          await warmUp(server, this.ws);
          log(`  restarted ${server.label} (pid ${server.pid})${attempt === 1 ? '; repeating the run' : ''}`);
        } catch (error) {
          if (isCleaningUp()) throw error;
          p.failures.push(`${note}; could not restart it: ${(error as Error).message.split('\n')[0]}`);
          return;
        }
        if (attempt === 1) continue;
        p.failures.push(note);
        return;
      }
      if (failure) {
        const message = `${what}: run failed: ${failure.message}`;
        p.failures.push(message);
        this.problems.push(message.split('\n')[0]!);
        log(`${message}\n${server.logTail()}`);
      } else if (result) {
        const run = 'rss' in result ? result.run : result;
        run.other_cpu_share = otherTicks / 100 / run.elapsed_s;
        const rss = 'rss' in result ? `, server+helpers ${(result.rss.controlBytes / 1e6).toFixed(1)} MB` : '';
        const other = run.other_cpu_share > 0.1 ? `, other processes used ${Math.round(run.other_cpu_share * 100)}% of a core` : '';
        if (run.errors && run.errors === run.requests) {
          p.failures.push(`${what}: every call failed, e.g. ${run.error_samples[0] ?? '?'}`);
          this.problems.push(`${what}: every call failed, e.g. ${run.error_samples[0] ?? '?'}`);
          log(`${what}: every call failed: ${run.error_samples.join('; ')}\n${server.logTail()}`);
        } else {
          if ('rss' in result) p.rss.push(result.rss);
          p.runs.push(run);
          log(`${what}: ${describe(run)}${rss}${other}`);
          if (run.errors) {
            this.problems.push(`${what}: ${run.errors} errors, e.g. ${run.error_samples[0] ?? '?'}`);
            log(`  errors: ${run.error_samples.join('; ')}`);
          }
          if (run.other_cpu_share > 0.25) this.problems.push(`${what}: other processes used ${Math.round(run.other_cpu_share * 100)}% of a core during the run`);
        }
      }
      if (!(await waitForIdle())) log('  (the machine was still busy 2 s after the run)');
      return;
    }
  }

  results(): PointResult[] {
    return [...this.points.values()].map(({ rss: _rss, ...p }) => ({ ...p, summary: summarize(p.runs, p.failures.length) }));
  }

  bursts(): BurstResult[] {
    return [...this.points.values()].map((p) => {
      const max = (pick: (r: RssPeak) => number) => Math.max(0, ...p.rss.map(pick));
      return {
        ...p,
        summary: summarize(p.runs, p.failures.length),
        rssPeak: {
          controlBytes: max((r) => r.controlBytes),
          serverBytes: max((r) => r.serverBytes),
          helperBytes: max((r) => r.helperBytes),
          perCallBytes: max((r) => r.perCallBytes),
          perCallProcesses: max((r) => r.perCallProcesses),
          helpers: p.rss.find((r) => r.helpers.length)?.helpers ?? [],
        },
      };
    });
  }
}

