// The fnjail server: the UNIX socket listener, the sandbox launcher and the
// executor between them.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { FnjailError } from '../errors.js';
import { Executor, type CompatMode } from '../executor/executor.js';
import { LauncherProcess } from '../launcher/launcher-process.js';
import type { Tenant } from '../policy/decide.js';
import { Stats, type StatsSnapshot } from '../metrics/stats.js';
import { DEFAULT_LIMITS } from '../policy/policy.js';
import { PolicyStore } from '../policy/policy-store.js';
import { isMonitor } from '../policy/tenants.js';
import { peerCredentials } from './peer-credentials.js';
import { Session } from './session.js';
import { listenUnix } from './unix-listener.js';

export interface ServerOptions {
  socket: string;
  socketMode: number;
  outputDir: string;
  outputTemplate: string;
  policyFile: string;
  allowDirs: string[];
  compat: CompatMode;
  uidRange: { first: number; last: number };
  maxConcurrent: number;
  prepared: number;
  /** Network namespaces: see ExecutorOptions.netns. */
  netns: 'auto' | 'fresh' | 'shared';
  /** A seccomp profile replacing the policy's, or undefined. */
  seccomp: string | undefined;
  /** Calls a sandbox serves, reset in between (1: new namespaces for every call). */
  sandboxReuse: number;
  launcherBinary: string;
  logger: Logger;
  audit: AuditLog;
}

/** The output directory: root-owned, 0711, so tenants can open their own files by name but list nothing. */
function prepareOutputDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, 0o711);
  } catch (error) {
    throw new FnjailError('FNJ_OUTPUT_DIR_FAILED', `cannot prepare the output directory ${dir}: ${(error as Error).message}`);
  }
}


export class FnjailServer {
  readonly launcher: LauncherProcess;
  readonly executor: Executor;
  private readonly listener: net.Server;
  readonly policies: PolicyStore;
  readonly stats = new Stats();
  private readonly sockets = new Map<net.Socket, Session>();

  constructor(private readonly options: ServerOptions) {
    if (process.getuid?.() !== 0) {
      throw new FnjailError('FNJ_NOT_ROOT', 'the server must run as root (it creates namespaces and switches uids)', 'run it with sudo');
    }
    if (!fs.existsSync(options.launcherBinary)) {
      throw new FnjailError('FNJ_LAUNCHER_MISSING', `the sandbox launcher ${options.launcherBinary} is missing`, 'run npm install in the fnjail directory: it builds the launcher');
    }
    this.policies = new PolicyStore(options.policyFile, { allowDirs: options.allowDirs, seccomp: options.seccomp }, options.logger, options.audit);
    const range = options.uidRange;
    this.launcher = new LauncherProcess({
      binary: options.launcherBinary,
      uidRange: range,
      maxSandboxes: Math.min(options.maxConcurrent, range.last - range.first + 1),
      prepared: options.prepared,
      tmpBytes: DEFAULT_LIMITS.tmpBytes,
      freshNetns: options.netns === 'fresh',
      reuse: options.sandboxReuse,
      logger: options.logger,
      audit: options.audit,
    });
    this.executor = new Executor({
      launcher: this.launcher,
      policy: () => this.policies.current,
      outputDir: options.outputDir,
      outputTemplate: options.outputTemplate,
      compat: options.compat,
      maxConcurrent: options.maxConcurrent,
      logger: options.logger,
      audit: options.audit,
      stats: this.stats,
      netns: options.netns,
    });
    if (options.netns === 'shared') {
      options.logger.warn('--netns shared: every sandbox is in one network namespace whatever its seccomp profile; calls whose profile lets socket() through can reach each other over abstract UNIX sockets');
    }
    this.listener = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    prepareOutputDir(this.options.outputDir);
    // Listen first: clients may connect at once; their commands wait for the launcher.
    await listenUnix(this.listener, { path: this.options.socket, mode: this.options.socketMode, backlog: 4096 });
    this.policies.watch();
    await this.launcher.start();
  }

  private accept(socket: net.Socket): void {
    let tenant: Tenant;
    try {
      tenant = peerCredentials(socket);
    } catch (error) {
      this.options.logger.error({ err: error }, 'cannot identify a client; closing its connection');
      socket.destroy();
      return;
    }
    const session = new Session(socket, tenant, (raw, who) => this.executor.execute(raw, who), (word, who) => this.control(word, who), this.options.logger);
    this.sockets.set(socket, session);
    this.stats.connectionOpened();
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.stats.connectionClosed();
    });
  }

  /** Control commands of the session protocol: `stats`, for root and the policy's monitors. */
  private control(word: string, peer: Tenant): (() => string) | undefined {
    if (word !== 'stats') return undefined;
    return () =>
      isMonitor(this.policies.current, peer)
        ? JSON.stringify(this.snapshot())
        : JSON.stringify({ error: `stats: uid ${peer.uid} may not see the server's statistics (root and the policy's monitors may)` });
  }

  /** What the statistics need from the parts that keep it. */
  metricsContext(): { policyHash: string; launcherPid: number | undefined; launcherRestarts: number } {
    this.stats.policyReloads = this.policies.reloads;
    this.stats.policyRejected = this.policies.rejected;
    return { policyHash: this.policies.current.hash, launcherPid: this.launcher.pid, launcherRestarts: this.launcher.restarts };
  }

  snapshot(): StatsSnapshot {
    return this.stats.snapshot(this.metricsContext());
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Stops accepting, lets running calls finish for graceMs, then cancels the
   * rest; every accepted command is answered before its connection closes. */
  async stop(graceMs = 5000): Promise<void> {
    this.policies.close();
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const session of this.sockets.values()) session.drain();
    const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.executor.whenIdle(), timeout(graceMs)]);
    this.launcher.cancelAll();
    await Promise.race([this.executor.whenIdle(), timeout(2000)]);
    await this.launcher.stop();
    await Promise.race([closed, timeout(500)]);
    for (const socket of this.sockets.keys()) socket.destroy();
    try {
      fs.unlinkSync(this.options.socket);
    } catch {
      // already gone
    }
  }
}
