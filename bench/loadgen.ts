// Running the load generator (clients/c/build/fnjail-loadgen) and reading its
// report, plus the CPU time it used: it runs under /bin/sh, whose `times`
// prints the user and system time of its finished children, so that the bench
// can tell whether the generator itself was the bottleneck.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../src/paths.js';
import { isCleaningUp, onCleanup } from './cleanup.js';

export const loadgenBinary = path.join(packageRoot, 'clients', 'c', 'build', 'fnjail-loadgen');

/** A run is killed if it has not finished after this long. */
const RUN_DEADLINE_MS = 180_000;

export interface LoadgenOptions {
  socket: string;
  clients: number;
  requests: number; // per client
  timeoutMs: number;
  sleepMaxMs?: number;
  /** recv(2) instead of recv_socket(): a classic client without ipc.h (no half-close; the server's quiet window ends the message). */
  rawRecv?: boolean;
  workloads: string[];
}

/** One run, as the generator reported it, plus its CPU time. */
export interface LoadgenRun {
  clients: number;
  requests: number; // in all
  errors: number;
  elapsed_s: number;
  throughput: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  error_samples: string[];
  /** User + system CPU seconds of the generator, or null if unknown. */
  cpu_s: number | null;
  /** CPU used meanwhile by processes that are not the bench's (1 = one core), set by the bench. */
  other_cpu_share?: number;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function runLoadgen(options: LoadgenOptions): Promise<LoadgenRun> {
  if (isCleaningUp()) return Promise.reject(new Error('the bench is stopping'));
  const args = [
    '--clients', String(options.clients),
    '--requests', String(options.requests),
    '--timeout-ms', String(options.timeoutMs),
    ...(options.sleepMaxMs ? ['--sleep-max-ms', String(options.sleepMaxMs)] : []),
    ...(options.rawRecv ? ['--raw-recv'] : []),
    ...options.workloads,
  ];
  // Its own process group, so that a stuck run (and its shell) can be killed whole.
  const child = spawn('/bin/sh', ['-c', '"$@"; status=$?; times >&2; exit $status', 'fnjail-loadgen', loadgenBinary, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FNJAIL_SOCKET: options.socket },
    detached: true,
  });
  // registered per run, so that cleanup (newest first) kills it before stopping the servers
  const unregister = onCleanup('kill the load generator', () => killGroup(child));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<LoadgenRun>((resolve, reject) => {
    const deadline = setTimeout(() => {
      killGroup(child);
      reject(new Error(`the load generator did not finish within ${RUN_DEADLINE_MS / 1000} s (${options.clients} clients)`));
    }, RUN_DEADLINE_MS);
    child.once('error', (error) => {
      clearTimeout(deadline);
      unregister();
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(deadline);
      unregister();
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let report: Omit<LoadgenRun, 'cpu_s'>;
      try {
        report = JSON.parse(line) as Omit<LoadgenRun, 'cpu_s'>;
      } catch {
        reject(new Error(`the load generator gave no report (exit ${code ?? signal}):\n${stdout}${stderr}`.trimEnd()));
        return;
      }
      resolve({ ...report, cpu_s: childrenCpuSeconds(stderr) });
    });
  });
}

/** From `times` output ("0m0.01s 0m0.00s" for the shell, then the same for
 * its children): the children's user + system seconds. */
function childrenCpuSeconds(stderr: string): number | null {
  const lines = stderr.trim().split('\n').filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  const last = lines.at(-1);
  if (!last) return null;
  let total = 0;
  for (const match of last.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(match[1]) * 60 + Number(match[2]);
  return total;
}
