// The fnjail server: its listeners (the UNIX socket, TCP with TLS), the
// sessions they open, and what they share: the policy, the executor, the
// sandbox launcher, the statistics and the output retention.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { ServeSettings } from '../config/serve-settings.js';
import { FnjailError } from '../errors.js';
import { Executor } from '../executor/executor.js';
import { LauncherProcess } from '../launcher/launcher-process.js';
import { Stats, type StatsSnapshot } from '../metrics/stats.js';
import type { Tenant } from '../policy/decide.js';
import { DEFAULT_LIMITS } from '../policy/policy.js';
import { PolicyStore } from '../policy/policy-store.js';
import { describePeer, isMonitor, remotePeer } from '../policy/tenants.js';
import { peerCredentials } from './peer-credentials.js';
import { OutputRetention } from './retention.js';
import { Session } from './session.js';
import { listenTcp, type Remote } from './tcp-listener.js';
import { listenUnix, UNIX_BACKLOG } from './unix-listener.js';

export interface ServerOptions {
  settings: ServeSettings;
  launcherBinary: string;
  logger: Logger;
  audit: AuditLog;
  /** The UNIX listener, bound already (fnjail serve binds it first thing, to
   * accept within milliseconds of starting): whoever bound it passes its
   * connections to acceptLocal(). Without it, start() binds one. */
  unixListener?: net.Server;
  /** Called with the pid of each sandbox launcher started. */
  onLauncherSpawn?: (pid: number) => void;
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
  readonly policies: PolicyStore;
  readonly stats = new Stats();
  private readonly unixListener: net.Server;
  private readonly tcpListeners: net.Server[] = [];
  /** The TCP addresses bound, once started. */
  readonly tcpAddresses: string[] = [];
  private readonly sessions = new Map<net.Socket, Session>();
  private readonly retention: OutputRetention | undefined;
  private readonly settings: ServeSettings;

  constructor(private readonly options: ServerOptions) {
    const { settings, logger, audit } = options;
    this.settings = settings;
    if (process.getuid?.() !== 0) {
      throw new FnjailError('FNJ_NOT_ROOT', 'the server must run as root (it creates namespaces and switches uids)', 'run it with sudo');
    }
    if (!fs.existsSync(options.launcherBinary)) {
      throw new FnjailError('FNJ_LAUNCHER_MISSING', `the sandbox launcher ${options.launcherBinary} is missing`, 'run npm install in the fnjail directory: it builds the launcher');
    }
    this.policies = new PolicyStore(settings.policy, { allowDirs: settings.allowDirs, seccomp: settings.seccomp }, logger, audit);
    const range = settings.uidRange;
    this.launcher = new LauncherProcess({
      binary: options.launcherBinary,
      uidRange: range,
      maxSandboxes: Math.min(settings.maxConcurrent, range.last - range.first + 1),
      prepared: settings.prepared,
      tmpBytes: DEFAULT_LIMITS.tmpBytes,
      freshNetns: settings.netns === 'fresh',
      reuse: settings.sandboxReuse,
      logger,
      audit,
      ...(options.onLauncherSpawn ? { onSpawn: options.onLauncherSpawn } : {}),
    });
    this.executor = new Executor({
      launcher: this.launcher,
      policy: () => this.policies.current,
      outputDir: settings.outputDir,
      outputTemplate: settings.outputTemplate,
      compat: settings.compat,
      maxConcurrent: settings.maxConcurrent,
      queue: { queueLength: settings.queueLength, queueFull: settings.queueFull, queueWaitMs: settings.queueWaitMs },
      logger,
      audit,
      stats: this.stats,
      netns: settings.netns,
    });
    if (settings.retention) {
      const template = /^(.*?)(X+)$/.exec(settings.outputTemplate)!;
      this.retention = new OutputRetention({
        dir: settings.outputDir,
        prefix: template[1]!,
        suffixLength: template[2]!.length,
        ...settings.retention,
        inUse: () => this.executor.outputsInUse,
        logger,
      });
    }
    if (settings.netns === 'shared') {
      logger.warn('--netns shared: every sandbox is in one network namespace whatever its seccomp profile; calls whose profile lets socket() through can reach each other over abstract UNIX sockets');
    }
    this.unixListener = options.unixListener ?? net.createServer({ allowHalfOpen: true }, (socket) => this.acceptLocal(socket));
  }

  async start(): Promise<void> {
    const { settings } = this;
    prepareOutputDir(settings.outputDir);
    // Listen first: clients may connect at once; their commands wait for the launcher.
    if (!this.options.unixListener) {
      await listenUnix(this.unixListener, { path: settings.socket, mode: settings.socketMode, owner: settings.socketOwner, group: settings.socketGroup, backlog: UNIX_BACKLOG });
    }
    for (const address of settings.listen) {
      const { server, bound } = await listenTcp({
        address,
        tls: settings.tls,
        audit: this.options.audit,
        onConnection: (socket, remote) => this.acceptRemote(socket, remote),
      });
      this.tcpListeners.push(server);
      this.tcpAddresses.push(bound);
    }
    this.policies.watch();
    this.retention?.start();
    await this.launcher.start();
  }

  /** A connection on the UNIX socket: its peer is who connect()ed. */
  acceptLocal(socket: net.Socket): void {
    let peer: Tenant;
    try {
      peer = peerCredentials(socket);
    } catch (error) {
      this.options.logger.error({ err: error }, 'cannot identify a client; closing its connection');
      socket.destroy();
      return;
    }
    this.open(socket, peer, 'unix');
  }

  private acceptRemote(socket: net.Socket, remote: Remote): void {
    this.open(socket, remotePeer(this.policies.current, remote), remote.commonName === undefined ? 'tcp' : 'tls');
  }

  private open(socket: net.Socket, peer: Tenant, transport: 'unix' | 'tcp' | 'tls'): void {
    if (this.sessions.size >= this.settings.maxClients) {
      this.refuseBusy(socket, peer, transport);
      return;
    }
    const session = new Session(socket, peer, {
      execute: (raw, who, format) => this.executor.execute(raw, who, format),
      control: (word, who) => this.control(word, who),
      idleTimeoutMs: this.settings.idleTimeoutMs,
      logger: this.options.logger,
    });
    this.sessions.set(socket, session);
    this.stats.connectionOpened();
    socket.on('close', () => {
      this.sessions.delete(socket);
      this.stats.connectionClosed();
    });
  }

  /** Too many connections: one clear line, after the client's first message (a
   * classic client sends before it reads; closing first could lose the line). */
  private refuseBusy(socket: net.Socket, peer: Tenant, transport: string): void {
    const { maxClients } = this.settings;
    this.stats.connectionsRefused++;
    this.options.audit.lifecycle(
      'connection-refused',
      { transport, peer: describePeer(peer), reason: `${maxClients} clients connected (maxClients)` },
      `connection of ${describePeer(peer)} refused: ${maxClients} clients connected already`,
      'warn',
    );
    const answer = () => {
      clearTimeout(timer);
      socket.end(`Error: the server is busy: ${maxClients} clients are connected (its limit); try again later\n`);
    };
    const timer = setTimeout(answer, 1000);
    socket.once('data', answer);
    socket.on('error', () => clearTimeout(timer));
  }

  /** Control commands of the session protocol: `stats`, for root and the policy's monitors. */
  private control(word: string, peer: Tenant): (() => string) | undefined {
    if (word !== 'stats') return undefined;
    return () =>
      isMonitor(this.policies.current, peer)
        ? JSON.stringify(this.snapshot())
        : JSON.stringify({ error: `stats: ${describePeer(peer)} may not see the server's statistics (root and the policy's monitors may)` });
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

  /** Stops accepting, lets running calls finish for the grace period, then
   * cancels the rest; every accepted command is answered before its
   * connection closes; the socket file is removed. */
  async stop(): Promise<void> {
    this.policies.close();
    this.retention?.stop();
    const listeners = [this.unixListener, ...this.tcpListeners];
    const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    for (const session of this.sessions.values()) session.drain();
    const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.executor.whenIdle(), timeout(this.settings.shutdownGraceMs)]);
    this.launcher.cancelAll();
    await Promise.race([this.executor.whenIdle(), timeout(2000)]);
    await this.launcher.stop();
    await Promise.race([closed, timeout(500)]);
    for (const socket of this.sessions.keys()) socket.destroy();
    try {
      fs.unlinkSync(this.settings.socket);
    } catch {
      // already gone
    }
  }
}
