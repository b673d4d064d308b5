// What is measured: the workloads, one run of each scenario against a server,
// the load generator check, and the fnjail variants.
import { RssSampler, waitForIdle, type RssPeak } from './procfs.js';
import { runLoadgen, type LoadgenRun } from './loadgen.js';
import type { BenchServer } from './servers.js';
import { emptyDir, type Workspace } from './workspace.js';

/** Concurrent clients of the trivial-call points. */
export const CONCURRENCY = [1, 8, 64];
export const CALL_TIMEOUT_MS = 5000;
export const BURST = { clients: 1000, requests: 1, sleepMaxMs: 800, timeoutMs: 5000 };

/** A trivial call: `run` printing one line, the content checked. */
export function trivialWorkloads(ws: Workspace): string[] {
  return [`1|=run\\n|${ws.lib('libbasic.so')} run`];
}

/** The classic assignment's mix: counter run (a fresh process each time), cat
 * of a 128-byte file, counter reset, a missing library (the Error line). */
export function burstWorkloads(ws: Workspace): string[] {
  const missing = ws.lib('libmissing.so');
  const content = ws.file128.content.replace(/\n/g, '\\n');
  return [
    `1|=Got called 1 times\\n|${ws.lib('libcounter.so')} run`,
    `1|=${content}|${ws.lib('libbasic.so')} cat ${ws.file128.path}`,
    `1|=Counter reset\\n|${ws.lib('libcounter.so')} reset`,
    // the baseline writes exactly this line; fnjail adds a Reason line after it
    `1|^Error: ${missing} could not be executed.\\n|${missing}`,
  ];
}

/** Calls of one run at this concurrency: half at 1 client, where calls are
 * slowest and a thousand samples already give a stable p50 and p99. */
export function pointCalls(calls: number, clients: number): number {
  return clients === 1 ? Math.ceil(calls / 2) : calls;
}

/** Requests per client so that a point makes about `calls` calls. */
export function requestsPerClient(calls: number, clients: number): number {
  return Math.max(1, Math.ceil(calls / clients));
}

/** One closed-loop run of the trivial call; the output directory is emptied after. */
export async function runTrivial(server: BenchServer, ws: Workspace, clients: number, calls: number, rawRecv = false): Promise<LoadgenRun> {
  try {
    return await runLoadgen({
      socket: server.socket,
      clients,
      requests: requestsPerClient(calls, clients),
      timeoutMs: CALL_TIMEOUT_MS,
      rawRecv,
      workloads: trivialWorkloads(ws),
    });
  } finally {
    emptyDir(server.outputDir);
  }
}

/** About a thousand calls at the highest concurrency first, so that no
 * measured run pays for a cold start (fnjail creates per-slot state, such as
 * cgroups, on first use). */
export async function warmUp(server: BenchServer, ws: Workspace): Promise<void> {
  const clients = Math.max(...CONCURRENCY);
  const run = await runTrivial(server, ws, clients, clients * 16);
  if (run.errors) throw new Error(`${server.label}: ${run.errors} of ${run.requests} warm-up calls failed, e.g. ${run.error_samples[0] ?? '?'}\n${server.logTail()}`);
  await waitForIdle();
}

/** One 1000-client burst, with the server's memory sampled all along. fnjail's
 * control processes are the server and its launcher (depth 1); the baseline's
 * only the server. */
export async function runBurst(server: BenchServer, ws: Workspace): Promise<{ run: LoadgenRun; rss: RssPeak }> {
  const sampler = new RssSampler(server.pid, server.kind === 'fnjail' ? 1 : 0);
  try {
    const run = await runLoadgen({
      socket: server.socket,
      clients: BURST.clients,
      requests: BURST.requests,
      timeoutMs: BURST.timeoutMs,
      sleepMaxMs: BURST.sleepMaxMs,
      workloads: burstWorkloads(ws),
    });
    return { run, rss: await sampler.stop() };
  } finally {
    await sampler.stop();
    emptyDir(server.outputDir);
  }
}

/** The same load from two generator processes at once (half the clients
 * each), combined as if one: if this is clearly faster than one generator,
 * one generator was the bottleneck. */
export async function runTrivialSplit(server: BenchServer, ws: Workspace, clients: number, calls: number): Promise<LoadgenRun> {
  const half = Math.max(1, Math.floor(clients / 2));
  const requests = requestsPerClient(calls, clients);
  try {
    const parts = await Promise.all(
      [half, clients - half].map((c) =>
        runLoadgen({ socket: server.socket, clients: c, requests, timeoutMs: CALL_TIMEOUT_MS, workloads: trivialWorkloads(ws) }),
      ),
    );
    const [a, b] = parts as [LoadgenRun, LoadgenRun];
    const elapsed = Math.max(a.elapsed_s, b.elapsed_s);
    const weighted = (pick: (r: LoadgenRun) => number) => (pick(a) * a.requests + pick(b) * b.requests) / (a.requests + b.requests);
    return {
      clients: a.clients + b.clients,
      requests: a.requests + b.requests,
      errors: a.errors + b.errors,
      elapsed_s: elapsed,
      throughput: (a.requests + b.requests) / elapsed,
      // approximations (request-weighted means of the two runs' percentiles); only throughput is compared
      latency_ms: {
        p50: weighted((r) => r.latency_ms.p50),
        p90: weighted((r) => r.latency_ms.p90),
        p99: weighted((r) => r.latency_ms.p99),
        max: Math.max(a.latency_ms.max, b.latency_ms.max),
      },
      error_samples: [...a.error_samples, ...b.error_samples].slice(0, 5),
      cpu_s: a.cpu_s === null || b.cpu_s === null ? null : a.cpu_s + b.cpu_s,
    };
  } finally {
    emptyDir(server.outputDir);
  }
}

/** A fnjail option compared with itself: each side is a server started with
 * these options on top of the defaults. One entry per comparison. A variant
 * whose option the server does not have is reported as not available.
 * `pinned` options are added to both sides (when the server has them) so
 * that only the option under test differs. */
export interface VariantSide {
  label: string;
  args: string[];
  /** Its clients recv(2) without ipc.h: no half-close, the server's quiet window ends each classic message. */
  rawRecv?: boolean;
}
export interface Variant {
  name: string;
  /** The option that must appear in `fnjail serve --help`. */
  option: string;
  sides: [VariantSide, VariantSide];
  pinned?: { option: string; args: string[]; why: string };
}

export const VARIANTS: Variant[] = [
  {
    name: 'seccomp',
    option: '--seccomp',
    sides: [
      { label: 'seccomp on', args: ['--seccomp', 'default'] },
      { label: 'seccomp off', args: ['--seccomp', 'none'] },
    ],
    // without a filter refusing socket(), --netns auto gives each call a fresh
    // network namespace: pin it, so that only the filter differs
    pinned: { option: '--netns', args: ['--netns', 'fresh'], why: 'both with a fresh network namespace per call' },
  },
  {
    // What framing costs a classic client: one written against ipc.h half-closes
    // before its recv (ipc.c), one that calls recv(2) itself waits for the quiet window.
    name: 'classic framing, client',
    option: '--classic-wait',
    sides: [
      { label: 'ipc.h client', args: [] },
      { label: 'raw recv client', args: [], rawRecv: true },
    ],
  },
  {
    // The window itself, for raw clients: the default against 0 (the next turn
    // of the event loop: what a read happened to hold, as before the window).
    name: 'classic framing, window',
    option: '--classic-wait',
    sides: [
      { label: 'raw, default window', args: [], rawRecv: true },
      { label: 'raw, --classic-wait 0', args: ['--classic-wait', '0'], rawRecv: true },
    ],
  },
  {
    name: 'network namespace',
    option: '--netns',
    sides: [
      { label: 'fresh netns', args: ['--netns', 'fresh'] },
      { label: 'shared netns', args: ['--netns', 'shared'] },
    ],
  },
];

/** Concurrency of the variant points: throughput at 64, latency at 1. */
export const VARIANT_CLIENTS = [64, 1];
