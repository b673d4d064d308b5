// A real fnjail server process for a test: started with the CLI, stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { StatsSnapshot } from '../../src/metrics/stats.js';
import { callSession } from './client.js';
import { cliMain, createTestArea, HANG_GUARD_MS, defaultTestPolicy, nextUidRange, writePolicy, type TestArea } from './environment.js';

export interface TestServer {
  area: TestArea;
  socket: string;
  /** The API socket (HTTP over UNIX). */
  apiSocket: string;
  /** The state directory (functions, spool, the private nats-server). */
  stateDir: string;
  policyFile: string;
  /** The sandbox uids it was given. */
  uidRange: { first: number; last: number };
  process: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  /** SIGTERM, wait for exit; then remove the area unless keepArea. */
  stop(options?: { keepArea?: boolean }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  area?: TestArea;
  /** The policy, or a function making it for the area (default: the area's libraries and data). */
  policy?: object | ((area: TestArea) => object);
  /** A policy file or directory made by the test, instead of policy. */
  policyPath?: (area: TestArea) => string;
  /** More arguments of fnjail serve, or a function making them for the area. */
  args?: string[] | ((area: TestArea) => string[]);
  env?: Record<string, string>;
  timeoutMs?: number;
  /** In a process group (and session) of its own, as a shell runs a command: for Ctrl-C tests. */
  detached?: boolean;
  /** Its sandbox uids (default: a range of this test process's own). */
  uidRange?: { first: number; last: number };
  /** A command that runs the server (e.g. under a seccomp program): its words before node's. */
  wrapper?: string[];
  /** Start the function registry (a private nats-server in the area's state directory); default: --nats off. */
  registry?: boolean;
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const area = options.area ?? createTestArea();
  const policy = typeof options.policy === 'function' ? options.policy(area) : options.policy;
  const policyFile = options.policyPath?.(area) ?? writePolicy(area, policy ?? defaultTestPolicy(area, options.timeoutMs));
  const socket = path.join(area.root, 'fnjail.sock');
  const apiSocket = path.join(area.root, 'api.sock');
  const stateDir = path.join(area.root, 'state');
  const range = options.uidRange ?? nextUidRange();
  const extra = typeof options.args === 'function' ? options.args(area) : (options.args ?? []);
  const args = [
    cliMain,
    'serve',
    // Hermetic: the test's own config file, or none (never the host's /etc/fnjail/config.json).
    ...(extra.includes('--config') ? [] : ['--no-config']),
    '--socket', socket,
    '--output-dir', area.outputDir,
    '--policy', policyFile,
    '--uid-range', `${range.first}-${range.last}`,
    // Its own state and API socket, never the host's; no nats-server unless the test needs the registry.
    ...(extra.includes('--state-dir') ? [] : ['--state-dir', stateDir]),
    ...(extra.includes('--http-socket') ? [] : ['--http-socket', apiSocket]),
    ...(options.registry || extra.includes('--nats') ? [] : ['--nats', 'off']),
    ...extra,
  ];
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env }, detached: options.detached ?? false });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let partial = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (typeof entry.msg === 'string' && entry.msg.startsWith('fnjail listening')) resolve();
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
    setTimeout(() => reject(new Error(`server not listening after ${HANG_GUARD_MS} ms:\n${stderr}`)), HANG_GUARD_MS).unref();
  });
  await listening;
  return {
    area,
    socket,
    apiSocket,
    stateDir,
    policyFile,
    uidRange: range,
    process: child,
    logs,
    stderr: () => stderr,
    async stop(stopOptions = {}) {
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
        else child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      child.kill('SIGTERM');
      const result = await exited;
      if (!stopOptions.keepArea) area.cleanup();
      return result;
    },
  };
}

/** The launcher's pid, from the server's log. */
export function launcherPid(server: TestServer): number {
  const ready = [...server.logs].reverse().find((l) => l.msg === 'sandbox launcher ready');
  if (!ready || typeof ready.launcherPid !== 'number') throw new Error('no launcher ready line in the server log');
  return ready.launcherPid;
}

export function readOutput(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

/** The first `count` log lines from index `from` on that satisfy `match`, waiting for them (at most timeoutMs, a hang guard). */
export async function waitForLogs(
  server: TestServer,
  match: (line: Record<string, unknown>) => boolean,
  options: { from?: number; count?: number; timeoutMs?: number } = {},
): Promise<Array<Record<string, unknown>>> {
  const { from = 0, count = 1, timeoutMs = HANG_GUARD_MS } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = server.logs.slice(from).filter(match);
    if (found.length >= count) return found.slice(0, count);
    if (Date.now() > deadline) throw new Error(`${found.length} of ${count} log lines within ${timeoutMs} ms; log:\n${server.logs.map((l) => JSON.stringify(l)).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function waitForLog(
  server: TestServer,
  match: (line: Record<string, unknown>) => boolean,
  options: { from?: number; timeoutMs?: number } = {},
): Promise<Record<string, unknown>> {
  return (await waitForLogs(server, match, options))[0]!;
}

/** The output files of this server's calls whose content satisfies `match`,
 * once there are `count` of them: how a test sees that calls are running. */
export async function waitForOutputs(server: TestServer, match: (content: string) => boolean, count = 1): Promise<string[]> {
  const deadline = Date.now() + HANG_GUARD_MS;
  for (;;) {
    const files = fs.readdirSync(server.area.outputDir).map((f) => path.join(server.area.outputDir, f));
    const found = files.filter((f) => match(readOutput(f)));
    if (found.length >= count) return found;
    if (Date.now() > deadline) throw new Error(`fewer than ${count} matching output files after ${HANG_GUARD_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The server's live statistics (the `stats` session command, as root), polled
 * until they satisfy `match`: "the first call runs", "one call waits". */
export async function waitForStats(server: TestServer, match: (stats: StatsSnapshot) => boolean): Promise<StatsSnapshot> {
  const deadline = Date.now() + HANG_GUARD_MS;
  for (;;) {
    const [line] = await callSession(server.socket, ['stats']);
    // A server at its --max-clients answers this connection "busy": ask again.
    const stats = line?.startsWith('Error: the server is busy') ? undefined : (JSON.parse(line!) as StatsSnapshot);
    if (stats && match(stats)) return stats;
    if (Date.now() > deadline) throw new Error(`the server's statistics never matched; last: ${line}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
