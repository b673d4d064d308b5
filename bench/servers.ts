// Starting and stopping the two servers under test: the unsandboxed classic
// baseline (bench/baseline, built with make) and fnjail (the CLI's serve).
// Each gets its own socket, output directory and log files in the workspace;
// logs go to files so that the bench never has to keep up with them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../src/paths.js';
import { onCleanup } from './cleanup.js';
import type { Workspace } from './workspace.js';

export const baselineDir = path.join(packageRoot, 'bench', 'baseline');
export const baselineBinary = path.join(baselineDir, 'build', 'classic-server');
/** The per-request program baseline: one fork+exec per request (bench/program.ts). */
export const programBaselineBinary = path.join(baselineDir, 'build', 'program-server');
export const cliMain = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** Where the benches' uid ranges start: FNJAIL_BENCH_UID_BASE moves them, so
 * that two benches can run on one host at once (each server refuses a range
 * that another one's processes use). */
export function benchUidBase(): number {
  const base = Number(process.env.FNJAIL_BENCH_UID_BASE ?? 1_300_000);
  if (!Number.isInteger(base) || base < 100_000 || base > 4_000_000_000) throw new Error(`FNJAIL_BENCH_UID_BASE must be a whole number from 100000 to 4000000000, not ${process.env.FNJAIL_BENCH_UID_BASE}`);
  return base;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 3_000;

export interface BenchServer {
  kind: 'baseline' | 'fnjail';
  /** How the report names it, e.g. "fnjail" or "fnjail --netns shared". */
  label: string;
  /** The options added to the default command line. */
  extraArgs: string[];
  pid: number;
  socket: string;
  outputDir: string;
  /** The last lines of its stdout and stderr, for error messages. */
  logTail(): string;
  /** Its stdout (fnjail: the log, audit records included). */
  readonly stdoutFile: string;
  /** null while it runs, else how it ended ("exited with 1", "was killed by SIGKILL"). */
  exited(): string | null;
  /** How many times the bench had to start it again after it died. */
  restarts: number;
  /** Starts it again (after it died), same socket and output directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function buildBaseline(): void {
  execFileSync('make', ['-s', '-C', baselineDir], { stdio: ['ignore', 'inherit', 'inherit'] });
}

export function startBaseline(ws: Workspace): Promise<BenchServer> {
  return startUnsandboxed(ws, 'baseline', baselineBinary, 'classic-server listening');
}

/** The unsandboxed fork+exec-per-request server of programs (its requests: "<program> [<input file>]"). */
export function startProgramBaseline(ws: Workspace): Promise<BenchServer> {
  return startUnsandboxed(ws, 'program-baseline', programBaselineBinary, 'program-server listening');
}

/** A baseline server of bench/baseline: SOCKET OUTPUT_DIR on its command line. */
function startUnsandboxed(ws: Workspace, name: string, binary: string, readyText: string): Promise<BenchServer> {
  const dir = ws.subdir(name);
  const socket = path.join(dir, 'server.sock');
  const outputDir = ws.outputDir(name);
  return startProcess({ kind: 'baseline', label: 'baseline', extraArgs: [], dir, socket, outputDir, command: binary, args: [socket, outputDir], readyText });
}

let fnjailInstances = 0;

/** fnjail with its default sandbox plus extraArgs (a variant), on its own uid
 * range; with the function registry (a private nats-server under its state
 * directory) only when asked: the library scenarios do not need it. */
export function startFnjail(ws: Workspace, extraArgs: string[] = [], labelSuffix = '', options: { registry?: boolean; nodeArgs?: string[] } = {}): Promise<BenchServer> {
  const index = fnjailInstances++;
  const dir = ws.subdir(`fnjail-${index}`);
  const socket = path.join(dir, 'server.sock');
  const outputDir = ws.outputDir(`fnjail-${index}`);
  const firstUid = benchUidBase() + index * 2_000;
  return startProcess({
    kind: 'fnjail',
    label: ['fnjail', ...extraArgs].join(' ') + labelSuffix,
    extraArgs,
    dir,
    socket,
    outputDir,
    command: process.execPath,
    args: [
      // Node's own options (e.g. --cpu-prof to profile the server under load).
      ...(options.nodeArgs ?? []),
      cliMain, 'serve',
      '--socket', socket,
      '--output-dir', outputDir,
      '--policy', ws.policyFile,
      '--uid-range', `${firstUid}-${firstUid + 1_999}`,
      // Its own API socket and state.
      '--http-socket', path.join(dir, 'api.sock'),
      '--state-dir', path.join(dir, 'state'),
      ...(options.registry ? [] : ['--nats', 'off']),
      ...extraArgs,
    ],
    readyText: '"msg":"fnjail listening',
  });
}

/** How long the registry (its private nats-server) may take to be ready for a deploy: attempts, 250 ms apart. */
const DEPLOY_ATTEMPTS = 40;

/** Deploys a bundle directory to a fnjail server started with the registry,
 * as root, with the CLI, once its registry is ready (its nats-server starts
 * with it). */
export async function deployFunction(server: BenchServer, bundleDir: string): Promise<void> {
  const apiSocket = path.join(path.dirname(server.socket), 'api.sock'); // where startFnjail puts it
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync(process.execPath, [cliMain, 'deploy', bundleDir, '--api-socket', apiSocket], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return;
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? '');
      if (attempt >= DEPLOY_ATTEMPTS || !stderr.includes('FNJ_REGISTRY_UNAVAILABLE')) throw new Error(`fnjail deploy failed: ${stderr}\n${server.logTail()}`);
      await sleep(250);
    }
  }
}

/** The HOST:PORT addresses of a fnjail server's --http listeners, from its server-start record. */
export function httpAddressesOf(server: BenchServer): string[] {
  const start = readTail(server.stdoutFile, 0)
    .split('\n')
    .filter((line) => line.includes('"event":"server-start"'))
    .map((line) => JSON.parse(line) as { http?: string[] })
    .pop();
  if (!start?.http?.length) throw new Error(`${server.label} has no HTTP listener in its server-start record:\n${server.logTail()}`);
  return start.http;
}

/** fnjail serve --help, to learn which options this build has. */
export function fnjailServeHelp(): string {
  return execFileSync(process.execPath, [cliMain, 'serve', '--help'], { encoding: 'utf8' });
}

export function hasOption(help: string, option: string): boolean {
  return new RegExp(`^\\s*${option.replace(/[-]/g, '\\-')}\\b`, 'm').test(help);
}

interface StartSpec {
  kind: BenchServer['kind'];
  label: string;
  extraArgs: string[];
  dir: string;
  socket: string;
  outputDir: string;
  command: string;
  args: string[];
  readyText: string;
}

/** A server process: started, watched, stopped, and started again if it
 * died under the bench (which then says so). */
class ManagedServer implements BenchServer {
  readonly kind: BenchServer['kind'];
  readonly label: string;
  readonly extraArgs: string[];
  readonly socket: string;
  readonly outputDir: string;
  restarts = 0;
  private child: ChildProcess | undefined;
  private exitedPromise: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private unregister: () => void = () => undefined;
  readonly stdoutFile: string;
  private readonly stderrFile: string;

  constructor(private readonly spec: StartSpec) {
    this.kind = spec.kind;
    this.label = spec.label;
    this.extraArgs = spec.extraArgs;
    this.socket = spec.socket;
    this.outputDir = spec.outputDir;
    this.stdoutFile = path.join(spec.dir, 'stdout.log');
    this.stderrFile = path.join(spec.dir, 'stderr.log');
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  private isRunning(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and waits until its log says it listens. */
  async start(): Promise<void> {
    const readFrom = fs.existsSync(this.stdoutFile) ? fs.statSync(this.stdoutFile).size : 0;
    const out = fs.openSync(this.stdoutFile, 'a');
    const err = fs.openSync(this.stderrFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, this.spec.args, { stdio: ['ignore', out, err] });
    } finally {
      fs.closeSync(out);
      fs.closeSync(err);
    }
    this.child = child;
    this.stopping = undefined;
    child.once('error', () => undefined); // seen as an exit below
    this.exitedPromise = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    this.unregister = onCleanup(`stop ${this.label}`, () => this.stop());

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.isRunning() || child.pid === undefined) {
        this.unregister();
        throw new Error(`${this.label} exited before it was ready:\n${this.logTail()}`);
      }
      if (readTail(this.stdoutFile, readFrom).includes(this.spec.readyText)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.label} not ready after ${READY_TIMEOUT_MS} ms:\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      if (child && this.isRunning()) {
        child.kill('SIGTERM');
        if (!(await within(this.exitedPromise, STOP_TIMEOUT_MS))) {
          process.stderr.write(`bench: ${this.label} did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM; killing it\n`);
          child.kill('SIGKILL');
          await within(this.exitedPromise, KILL_TIMEOUT_MS);
        }
      }
      this.unregister();
    })();
    return this.stopping;
  }

  /** After it died: start it again, on the same socket and output directory. */
  async restart(): Promise<void> {
    await this.stop();
    this.restarts++;
    await this.start();
  }

  exited(): string | null {
    const child = this.child;
    if (!child || this.isRunning()) return null;
    const how = child.signalCode ? `was killed by ${child.signalCode}` : `exited with ${child.exitCode ?? '?'}`;
    return this.stopping ? how : `${how} although the bench did not stop it (a signal from outside the bench? see its log)`;
  }

  logTail(): string {
    const tail = (file: string) => readTail(file, 0).trimEnd().split('\n').slice(-8).join('\n');
    return [tail(this.stdoutFile), tail(this.stderrFile)].filter(Boolean).join('\n');
  }
}

async function startProcess(spec: StartSpec): Promise<BenchServer> {
  const server = new ManagedServer(spec);
  await server.start();
  return server;
}

/** A file's content from byte offset `from` (at most its last 1 MiB), or ''. */
function readTail(file: string, from: number): string {
  try {
    const size = fs.statSync(file).size;
    const start = Math.max(from, size - (1 << 20));
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, size - start));
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Whether promise settled within ms. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const expired = sleep(ms, false, { signal: timer.signal }).catch(() => false);
  const done = await Promise.race([promise.then(() => true), expired]);
  timer.abort();
  return done;
}
