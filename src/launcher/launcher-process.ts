// The server's side of fnjail-launcher: starts it, restarts it when it dies,
// and matches results to requests. A request in flight when the launcher dies
// gets a result saying so (the executor turns it into an error line), never
// silence; so does one the launcher leaves unanswered past every bound it
// has, and a request made while no launcher gets ready.
//
// A per-connection program's connection is handed over on a socket pair
// shared with the launcher (handoff.ts), right before the call's frame.
//
// The launcher runs in a session of its own (and ignores the terminal's and a
// service manager's stop signals): Ctrl-C or `systemctl stop` reach the server,
// which lets running calls finish within --shutdown-grace, then closes the
// launcher's stdin.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { FnjailError } from '../errors.js';
import { HandoffChannel, socketDescriptor } from './handoff.js';
import { connectionOf, toWire, type RunSpec } from './run-spec.js';
import {
  decodeReady,
  BACKSTOP_GRACE_MS,
  decodeResult,
  encodeCancel,
  encodeExec,
  Feature,
  MAX_HOSTNAME,
  FrameReader,
  FrameType,
  Outcome,
  Phase,
  PROTOCOL_VERSION,
  QUEUE_DEADLINE_MS,
  type LaunchResult,
  type Ready,
} from './protocol.js';

export interface LauncherOptions {
  binary: string;
  uidRange: { first: number; last: number };
  maxSandboxes: number;
  /** Sandboxes kept prepared while idle. */
  prepared: number;
  tmpBytes: number;
  freshNetns: boolean;
  /** Calls a sandbox serves, reset in between, before it is replaced. */
  reuse: number;
  /** The sandboxes' host name, the same for every call (default: the launcher's, "fnjail"). */
  hostname?: string;
  logger: Logger;
  audit: AuditLog;
  /** Called with the pid of each launcher started (fnjail serve raises its priority). */
  onSpawn?: (pid: number) => void;
}

/** How each limit is enforced on this host, from READY's features: for the audit log and the operator. */
export function enforcement(features: number) {
  const cgroup = features & Feature.CgroupV2 ? 'cgroup v2' : 'cgroup v1';
  return {
    memory: features & Feature.CgroupMemory ? cgroup : 'RLIMIT_AS',
    processes: features & Feature.CgroupPids ? cgroup : 'RLIMIT_NPROC',
    cpu: features & Feature.CgroupCpu ? `${cgroup} and RLIMIT_CPU` : 'RLIMIT_CPU',
    // The launcher refuses to start without seccomp user notification
    // (sandbox/kernel-probe.c): refused calls are always named.
    seccompNotify: true,
  };
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** The launcher's end of the handoff socket pair (protocol.h, struct fnj_handoff). */
const HANDOFF_FD = 3;

const RESTART_DELAY_MS = [50, 200, 1000, 5000];
/** Consecutive failed starts after which waiting requests are failed. */
const MAX_FAILED_STARTS = 3;
/** How long a request waits for a launcher to be ready (through its restarts). */
export const READY_TIMEOUT_MS = 20_000;
/** Beyond the launcher's own bounds (queue deadline, timeout, backstop): time
 * for a result to cross a loaded machine. Past it the call is abandoned. */
const ANSWER_MARGIN_MS = 5000;

export class LauncherProcess {
  private child: Child | undefined;
  private handoff: HandoffChannel | undefined;
  private ready: Ready | undefined;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly pending = new Map<number, (result: LaunchResult) => void>();
  private nextId = 1;
  private failedStarts = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastStderr: string[] = [];
  /** Times the launcher was restarted after dying (for stats). */
  restarts = 0;

  constructor(private readonly options: LauncherOptions) {
    const { hostname } = options;
    if (hostname !== undefined && !new RegExp(`^(?![-.])[A-Za-z0-9.-]{1,${MAX_HOSTNAME}}$`).test(hostname)) {
      throw new FnjailError('FNJ_LAUNCHER_FAILED', `'${hostname}' is not a host name for the sandboxes (1 to ${MAX_HOSTNAME} letters, digits, '-' and '.')`);
    }
  }

  /** Starts the launcher; resolves at its first READY, rejects if it cannot start. */
  start(): Promise<void> {
    this.spawnChild();
    return this.whenReady();
  }

  get info(): Ready | undefined {
    return this.ready;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs one execution (a library's function, a program, a build); the id
   * is assigned here. Always resolves: past what the launcher itself bounds
   * (its queue deadline, the call's timeout, its backstop) the call is
   * cancelled and reported lost. A connection given as a program's stdin is
   * handed over to the launcher and closed here (destroyed: open it with
   * pauseOnConnect, so that Node reads nothing of it). An abort of `signal`
   * cancels the execution (a job stopped): the launcher kills its sandbox
   * and reports it cancelled. */
  async run(spec: RunSpec, signal?: AbortSignal): Promise<LaunchResult> {
    const connection = connectionOf(spec);
    try {
      await this.whenReady(READY_TIMEOUT_MS);
    } catch (error) {
      connection?.socket.destroy();
      throw error;
    }
    const id = this.allocateId();
    if (signal?.aborted) {
      connection?.socket.destroy();
      return { ...emptyResult(id), outcome: Outcome.Cancelled, message: 'cancelled before it started' };
    }
    let frame: Buffer;
    try {
      frame = encodeExec(toWire(spec, id));
      if (connection) this.handOver(id, connection.socket);
    } catch (error) {
      connection?.socket.destroy();
      return { ...emptyResult(id), outcome: Outcome.LaunchFailed, message: (error as Error).message };
    }
    const boundMs = QUEUE_DEADLINE_MS + spec.limits.timeoutMs + BACKSTOP_GRACE_MS + ANSWER_MARGIN_MS;
    return new Promise<LaunchResult>((resolve) => {
      const cancel = () => {
        if (this.pending.has(id)) this.child?.stdin.write(encodeCancel(id));
      };
      signal?.addEventListener('abort', cancel, { once: true });
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', cancel);
        if (!this.pending.delete(id)) return;
        this.options.logger.error({ component: 'launcher', boundMs }, 'the sandbox launcher did not answer a call in time; cancelling it');
        this.child?.stdin.write(encodeCancel(id));
        resolve({ ...emptyResult(id), outcome: Outcome.SupervisorLost, message: `the sandbox launcher did not answer within ${boundMs} ms; the call was cancelled` });
      }, boundMs);
      this.pending.set(id, (result) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        resolve(result);
      });
      this.child!.stdin.write(frame);
    });
  }

  /** Passes the connection's descriptor, then closes the server's copy (the
   * launcher's keeps the connection open). */
  private handOver(id: number, socket: net.Socket): void {
    const fd = socketDescriptor(socket);
    if (fd === undefined) throw new Error('the connection was closed before it could be handed to the sandbox');
    this.handoff!.send(id, fd);
    socket.destroy();
  }

  /** Asks the launcher to kill every running execution (used at shutdown). */
  cancelAll(): void {
    if (!this.child || !this.ready) return;
    for (const id of this.pending.keys()) this.child.stdin.write(encodeCancel(id));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Closing its stdin makes the launcher kill its sandboxes and exit.
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.handoff?.close();
    this.handoff = undefined;
  }

  private whenReady(timeoutMs?: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.readyWaiters.push(waiter);
      if (timeoutMs === undefined) return;
      const timer = setTimeout(() => {
        const index = this.readyWaiters.indexOf(waiter);
        if (index === -1) return;
        this.readyWaiters.splice(index, 1);
        const detail = this.lastStderr.at(-1);
        reject(new FnjailError('FNJ_LAUNCHER_FAILED', `the sandbox launcher is not ready after ${timeoutMs} ms${detail ? `: ${detail}` : ''}`));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      waiter.reject = (error) => {
        clearTimeout(timer);
        reject(error);
      };
    });
  }

  private allocateId(): number {
    do {
      this.nextId = (this.nextId + 1) >>> 0 || 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private args(): string[] {
    const o = this.options;
    const args = [
      `--uid-range=${o.uidRange.first}-${o.uidRange.last}`,
      `--max-sandboxes=${o.maxSandboxes}`,
      `--prepared=${o.prepared}`,
      `--tmp-size=${o.tmpBytes}`,
      `--reuse=${o.reuse}`,
      `--handoff-socket=${HANDOFF_FD}`,
    ];
    if (o.freshNetns) args.push('--fresh-netns');
    if (o.hostname !== undefined) args.push(`--hostname=${o.hostname}`);
    return args;
  }

  private spawnChild(): void {
    const { logger } = this.options;
    // An empty environment: sandboxes are forked from the launcher and must
    // not find the server's environment in their memory.
    // A session of its own: the terminal's Ctrl-C and signals to the
    // server's process group do not reach it (it ignores them anyway).
    this.handoff?.close();
    const handoff = HandoffChannel.create();
    // fd 3 is the handoff socket (Node's types only know stdio tuples of three: hence the cast).
    const child = spawn(this.options.binary, this.args(), { stdio: ['pipe', 'pipe', 'pipe', handoff.launcherEnd], env: {}, detached: true }) as unknown as Child;
    handoff.launcherStarted();
    this.handoff = handoff;
    this.child = child;
    if (child.pid !== undefined) this.options.onSpawn?.(child.pid);
    this.ready = undefined;
    this.lastStderr = [];
    const reader = new FrameReader();
    child.stdout.on('data', (chunk: Buffer) => {
      try {
        for (const { type, body } of reader.push(chunk)) this.onFrame(type, body);
      } catch (error) {
        logger.error({ err: error }, 'protocol error from the sandbox launcher; restarting it');
        child.kill('SIGKILL');
      }
    });
    let partial = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        this.lastStderr = [...this.lastStderr.slice(-4), line];
        const info = /^[\w-]+\[\d+\]: info: (.*)$/.exec(line);
        if (info) logger.info({ component: 'launcher' }, info[1]);
        else logger.warn({ component: 'launcher' }, line);
      }
    });
    child.stdin.on('error', () => {}); // EPIPE when it dies: the exit handler reports
    child.on('error', (error) => {
      logger.error({ err: error }, 'cannot start the sandbox launcher');
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
  }

  private onFrame(type: number, body: Buffer): void {
    if (type === FrameType.Ready) {
      const ready = decodeReady(body);
      if (ready.version !== PROTOCOL_VERSION) {
        throw new Error(`launcher speaks protocol ${ready.version}, the server ${PROTOCOL_VERSION}: rebuild with npm install`);
      }
      this.ready = ready;
      this.failedStarts = 0;
      this.options.audit.lifecycle(
        'launcher-ready',
        { component: 'launcher', launcherPid: this.child?.pid, restarts: this.restarts, ...ready, limits: enforcement(ready.features) },
        'sandbox launcher ready',
      );
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    } else if (type === FrameType.Result) {
      const result = decodeResult(body);
      const resolve = this.pending.get(result.id);
      if (!resolve) return; // already failed when a previous launcher died
      this.pending.delete(result.id);
      resolve(result);
    } else {
      throw new Error(`unknown frame type ${type} from the launcher`);
    }
  }

  private onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    const how = signal ? `killed by ${signal}` : `exited with status ${code}`;
    const wasReady = this.ready !== undefined;
    this.ready = undefined;
    this.child = undefined;
    const lost: LaunchResult = {
      ...emptyResult(0),
      outcome: Outcome.SupervisorLost,
      message: `the sandbox launcher stopped (${how}) while the call was running`,
    };
    const callsLost = this.pending.size;
    for (const [id, resolve] of this.pending) resolve({ ...lost, id });
    this.pending.clear();
    if (this.stopping) return;
    if (!wasReady) this.failedStarts++;
    const detail = this.lastStderr.at(-1) ?? how;
    this.options.audit.lifecycle('launcher-exit', { component: 'launcher', code, signal, callsLost }, `sandbox launcher ${how}; restarting it`, 'error');
    if (this.failedStarts >= MAX_FAILED_STARTS) {
      const error = new FnjailError('FNJ_LAUNCHER_FAILED', `the sandbox launcher cannot start: ${detail}`);
      for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
    }
    const delay = RESTART_DELAY_MS[Math.min(this.failedStarts, RESTART_DELAY_MS.length - 1)];
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      this.spawnChild();
    }, delay);
  }
}

/** A result with nothing known yet. */
export function emptyResult(id: number): LaunchResult {
  return {
    id,
    outcome: Outcome.Completed,
    phase: Phase.Setup,
    exitCode: null,
    signal: null,
    faultAddress: null,
    stackOverflow: false,
    oomKilled: false,
    processLimitHit: false,
    outputLimitHit: false,
    tmpFull: false,
    cpuLimitHit: false,
    fileSizeLimitHit: false,
    outputDiskExceeded: false,
    workDirFull: false,
    outputDiskBytes: 0,
    memoryPeakBytes: 0,
    cgroupCpuUs: 0,
    outputBytes: 0,
    seccompNr: null,
    seccompArch: 0,
    sandboxUid: 0,
    procsKilled: 0,
    cpuUs: 0,
    maxRssKb: 0,
    runUs: 0,
    totalUs: 0,
    message: '',
    learned: [],
  };
}
