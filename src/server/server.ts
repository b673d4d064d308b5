// The fnjail server: its listeners (the UNIX socket, TCP with TLS), the
// sessions they open, and what they share: the policy, the executor, the
// sandbox launcher, the statistics and the output retention.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { Log } from '../log.js';
import type { ServeSettings } from '../config/serve-settings.js';
import { FnjailError } from '../errors.js';
import { Executor } from '../executor/executor.js';
import path from 'node:path';
import { NatsLink, type ClusterJoin } from '../cluster/nats-link.js';
import { ClusterCalls } from '../cluster/call-routing.js';
import { fnjailVersion } from '../paths.js';
import { prepareStateDir } from '../config/state-dir.js';
import { FunctionService } from '../functions/function-service.js';
import { JobNode } from '../jobs/job-node.js';
import { launcherBuildRunner } from '../functions/build-runner.js';
import type { Limits } from '../launcher/protocol.js';
import { prepareSpoolDir } from './spool.js';
import { LauncherProcess } from '../launcher/launcher-process.js';
import { claimUidRange, type UidRangeClaim } from '../launcher/uid-range.js';
import { Stats, type StatsContext, type StatsSnapshot } from '../metrics/stats.js';
import type { Tenant } from '../policy/decide.js';
import { DEFAULT_LIMITS } from '../policy/policy.js';
import { PolicyStore } from '../policy/policy-store.js';
import { peerFields } from '../audit/audit-event.js';
import { RefusalLog } from '../audit/refusal-log.js';
import { describePeer, isMonitor, remotePeer } from '../policy/tenants.js';
import { MAX_REFUSED_PER_CONNECTION, PeerBudget, refusedBeforeRunning } from './request-budget.js';
import { peerCredentials } from './peer-credentials.js';
import { prepareOutputDir } from './output-dir.js';
import { OutputRetention } from './retention.js';
import { Session } from './session.js';
import { listenTcp, type Remote, type TcpListenerOptions } from './tcp-listener.js';
import { listenUnix, UNIX_BACKLOG } from './unix-listener.js';

export interface ServerOptions {
  settings: ServeSettings;
  launcherBinary: string;
  logger: Logger;
  /** The operational log (its destination's health is in the statistics). */
  log: Log;
  audit: AuditLog;
  /** The UNIX listener, bound already (fnjail serve binds it first thing, to
   * accept within milliseconds of starting): whoever bound it passes its
   * connections to acceptLocal(). Without it, start() binds one. */
  unixListener?: net.Server;
  /** Called with the pid of each sandbox launcher started. */
  onLauncherSpawn?: (pid: number) => void;
  /** For tests: the private nats-server's restart delays. */
  natsRestartDelaysMs?: number[];
}

/** A build's limits: the server's, not a tenant's (a compiler needs more than a call). */
function buildLimits(build: ServeSettings['build']): Limits {
  return { timeoutMs: build.timeoutMs, cpuMs: build.timeoutMs, memoryBytes: build.memoryBytes, maxProcs: 256, maxFiles: 1024, outputBytes: 16 * 1024 * 1024, tmpBytes: build.diskBytes };
}

/** How long a request that needs the registry waits for it to come (back) up. */
export const REGISTRY_WAIT_MS = 10_000;

type Transport = 'unix' | 'tcp' | 'tls';

/** A TLS handshake takes at most this long (less with a shorter --idle-timeout). */
const MAX_HANDSHAKE_MS = 10_000;
/** Commands of one connection accepted and not answered, at most (session.ts). */
const MAX_PENDING_PER_CONNECTION = 16;
/** Connections refused for --max-clients that are still being answered, at most. */
const MAX_ANSWERING_BUSY = 64;
/** How long a refused connection may take to send its first message, and then to go. */
const BUSY_ANSWER_MS = 1000;

/** The host part of HOST:PORT (an IPv6 address in brackets or not). */
const hostOf = (address: string) => address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');

/** Whose budget a request spends: a local uid, a token, a TLS client, an anonymous TCP address. */
export function budgetKey(peer: Tenant): string {
  if (!peer.remote) return `uid ${peer.uid}`;
  if (peer.remote.token !== undefined) return `token ${peer.remote.token}`;
  return peer.remote.commonName !== undefined ? `tls client ${peer.remote.commonName}` : `ip ${hostOf(peer.remote.address)}`;
}

export class FnjailServer {
  readonly launcher: LauncherProcess;
  readonly executor: Executor;
  readonly policies: PolicyStore;
  readonly stats = new Stats();
  /** The NATS system and the function registry on it (started in the background by start()). */
  readonly link: NatsLink;
  readonly functions: FunctionService;
  /** Jobs (docs/jobs.md): accepted and run here; undefined with --nats off. */
  readonly jobs: JobNode | undefined;
  /** Where request bodies are spooled for their call (HTTP). */
  readonly spoolDir: string;
  private readonly unixListener: net.Server;
  private readonly tcpListeners: net.Server[] = [];
  /** The TCP addresses of the classic sessions bound, once started. */
  readonly tcpAddresses: string[] = [];
  private readonly sessions = new Map<net.Socket, Session>();
  /** Every connection accepted and not closed (sessions, TLS handshakes): what --max-clients counts. */
  private readonly connections = new Set<net.Socket>();
  private answeringBusy = 0;
  private readonly peerBudget: PeerBudget;
  private readonly refusals: RefusalLog;
  private readonly retention: OutputRetention | undefined;
  private readonly settings: ServeSettings;
  private uidRange: UidRangeClaim | undefined;

  constructor(private readonly options: ServerOptions) {
    const { settings, logger, audit } = options;
    this.settings = settings;
    this.peerBudget = new PeerBudget(settings.refused.burst, settings.refused.perSecond);
    if (process.getuid?.() !== 0) {
      throw new FnjailError('FNJ_NOT_ROOT', 'the server must run as root (it creates namespaces and switches uids)', 'run it with sudo');
    }
    if (!fs.existsSync(options.launcherBinary)) {
      throw new FnjailError('FNJ_LAUNCHER_MISSING', `the sandbox launcher ${options.launcherBinary} is missing`, 'run npm install in the fnjail directory: it builds the launcher');
    }
    this.refusals = new RefusalLog(audit);
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
      // Programs show which node answered (TP7's toupper prints it).
      hostname: settings.nodeName,
      logger,
      audit,
      ...(options.onLauncherSpawn ? { onSpawn: options.onLauncherSpawn } : {}),
    });
    this.spoolDir = path.join(settings.stateDir, 'spool');
    // Calls to and from the other nodes, when this node joins a cluster (--nats URL).
    const calls = settings.cluster && new ClusterCalls({
      cluster: () => this.link.cluster,
      executor: () => this.executor,
      maxConcurrent: settings.maxConcurrent,
      spoolDir: this.spoolDir,
      maxInputBytes: settings.maxInputBytes,
      ready: () => this.launcher.info !== undefined,
      logger,
    });
    const cluster: ClusterJoin | undefined = calls && {
      ...settings.cluster!,
      version: fnjailVersion(),
      load: () => ({ ...calls.load(), answered: this.stats.answered }),
      handler: (call) => calls.handle(call),
      admit: () => calls.admit(),
      onMemberChange: ({ node, incarnation, from, to, reason, silentMs, coordinator }) =>
        audit.lifecycle('cluster-member', { node, incarnation, from, to, reason, ...(silentMs !== undefined ? { silentMs } : {}), coordinator }, `cluster: node ${node} ${from ?? 'new'} → ${to} (${reason})`, to === 'suspect' || to === 'down' ? 'warn' : 'info'),
      onCallEvent: (event) => logger.debug({ component: 'cluster', ...event }, `call ${event.id} from ${event.caller}: ${event.type}`),
    };
    this.link = new NatsLink({ nats: settings.nats, insecure: settings.insecure, stateDir: settings.stateDir, nodeName: settings.nodeName, logger, restartDelaysMs: options.natsRestartDelaysMs, cluster });
    // Builds take the executor's sandbox slots, as calls (the executor is made below; a build runs later).
    const buildRunner = launcherBuildRunner(this.launcher, buildLimits(settings.build), settings, (tenant, work) => this.executor.withSandbox(tenant, work));
    this.functions = new FunctionService({
      link: this.link,
      policy: () => this.policies.current,
      audit,
      registryWaitMs: REGISTRY_WAIT_MS,
      buildsDir: path.join(settings.stateDir, 'builds'),
      buildRunner,
      buildDiskBytes: settings.build.diskBytes,
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
      functions: settings.nats === 'off' ? undefined : this.functions,
      routing: calls,
    });
    this.jobs =
      settings.nats === 'off'
        ? undefined
        : new JobNode({ settings, link: this.link, executor: this.executor, buildRunner, policy: () => this.policies.current, audit, stats: this.stats.jobs, logger, spoolDir: this.spoolDir, waitMs: REGISTRY_WAIT_MS });
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
    const { settings, options } = this;
    this.uidRange = claimUidRange(settings.uidRange, { stateDirs: [settings.outputDir] });
    prepareOutputDir(settings.outputDir);
    // Listen first: clients may connect at once; their commands wait for the launcher.
    if (!options.unixListener) {
      await listenUnix(this.unixListener, { path: settings.socket, mode: settings.socketMode, owner: settings.socketOwner, group: settings.socketGroup, backlog: UNIX_BACKLOG });
    }
    for (const address of settings.listen) this.tcpAddresses.push(await this.listenRemote(address, { onConnection: (socket, remote) => this.acceptRemote(socket, remote), refuse: (socket) => this.refuseBusy(socket) }));
    this.unixListener.on('error', (error) => options.logger.error({ err: error }, `listener error: ${error.message}`));
    this.policies.watch();
    this.retention?.start();
    prepareStateDir(settings.stateDir, 0o755, 'the state directory');
    prepareSpoolDir(this.spoolDir);
    // In the background: classic calls are served meanwhile; calls by name wait for it (REGISTRY_WAIT_MS).
    this.link.start();
    await this.launcher.start();
    this.jobs?.start();
  }

  /** Listens on TCP for a front end (the classic sessions, the HTTP API): with
   * TLS (--tls-*), else plain on loopback (--insecure). Its connections count
   * against --max-clients from their first byte; refused handshakes are
   * audited; onConnection gets those ready for requests. Resolves with the
   * address bound. */
  async listenRemote(address: string, frontEnd: Pick<TcpListenerOptions, 'onConnection' | 'clientCertificate' | 'alpn' | 'refuse'>): Promise<string> {
    const { settings, options } = this;
    const handshakeTimeoutMs = settings.idleTimeoutMs > 0 ? Math.min(settings.idleTimeoutMs, MAX_HANDSHAKE_MS) : MAX_HANDSHAKE_MS;
    const transport = settings.tls ? 'tls' : 'tcp';
    const { server, bound } = await listenTcp({
      address,
      tls: settings.tls,
      handshakeTimeoutMs,
      ...(frontEnd.clientCertificate ? { clientCertificate: frontEnd.clientCertificate } : {}),
      ...(frontEnd.alpn ? { alpn: frontEnd.alpn } : {}),
      ...(frontEnd.refuse ? { refuse: frontEnd.refuse } : {}),
      admit: (raw, from) => this.admit(raw, transport, () => ({ remote: { address: from } }), `ip ${hostOf(from)}`),
      handshakeOver: (raw) => this.connections.delete(raw),
      onConnection: (socket, remote) => {
        if (!this.connections.has(socket)) this.track(socket); // a TLS socket: its raw connection counted until now
        this.counted(socket);
        frontEnd.onConnection(socket, remote);
      },
      onHandshakeRefused: (from, reason, code) => {
        this.stats.connectionsRefused++;
        this.refusals.refuse(
          'connection-refused',
          `tls ${hostOf(from)} ${code}`,
          { transport: 'tls', peer: { remote: { address: from } }, reason, error: code ?? null, listen: address },
          `TLS client ${from} refused at the handshake: ${reason}`,
        );
      },
    });
    // Errors of a listener once it listens (EMFILE on accept, say) are logged: the server goes on.
    server.on('error', (error) => options.logger.error({ err: error }, `listener error: ${error.message}`));
    this.tcpListeners.push(server);
    return bound;
  }

  /** A connection of the HTTP API's UNIX socket, counted as any other: false
   * when refused (too many clients; said in the audit log), then the caller answers it. */
  admitLocal(socket: net.Socket, peer: Tenant): boolean {
    if (!this.admit(socket, 'unix', () => peerFields(peer), `uid ${peer.uid}`)) return false;
    this.counted(socket);
    return true;
  }

  /** Every connection counts against --max-clients from the moment it is accepted
   * (a TLS one during its handshake too). Beyond, it is refused: false. */
  private admit(socket: net.Socket, transport: Transport, peer: () => Record<string, unknown>, source: string): boolean {
    const { maxClients } = this.settings;
    if (this.connections.size >= maxClients) {
      this.stats.connectionsRefused++;
      this.refusals.refuse(
        'connection-refused',
        `busy ${transport} ${source}`,
        { transport, peer: peer(), reason: `${maxClients} clients connected (maxClients)` },
        `connection of ${source} refused: ${maxClients} clients connected already`,
      );
      return false;
    }
    this.track(socket);
    return true;
  }

  /** Counts a connection until it closes. */
  private track(socket: net.Socket): void {
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
  }

  /** A connection ready for requests, whatever its front end (classic or HTTP): in the stats until it closes. */
  private counted(socket: net.Socket): void {
    this.stats.connectionOpened();
    socket.once('close', () => this.stats.connectionClosed());
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
    if (!this.admit(socket, 'unix', () => peerFields(peer), `uid ${peer.uid}`)) {
      this.refuseBusy(socket);
      return;
    }
    this.counted(socket);
    this.open(socket, peer);
  }

  private acceptRemote(socket: net.Socket, remote: Remote): void {
    this.open(socket, remotePeer(this.policies.current, remote));
  }

  private open(socket: net.Socket, peer: Tenant): void {
    const key = budgetKey(peer);
    let refusedHere = 0;
    const session = new Session(socket, peer, {
      execute: (raw, who, format) => this.executor.execute(raw, who, format),
      control: (word, who) => this.control(word, who),
      admit: () => {
        if (this.peerBudget.allows(key)) return undefined;
        this.stats.requestsThrottled++;
        const reason = `too many requests from ${describePeer(peer)} were refused (more than ${this.settings.refused.burst}, ${this.settings.refused.perSecond} a second): this one is not handled; try again later`;
        this.refusals.refuse('requests-refused', `peer ${key}`, { scope: 'peer', peer: peerFields(peer), reason }, `request of ${describePeer(peer)} refused: ${reason}`);
        return { outcome: 'busy', reason };
      },
      answered: (result) => {
        if (!refusedBeforeRunning(result)) return undefined;
        this.peerBudget.spend(key);
        if (++refusedHere < MAX_REFUSED_PER_CONNECTION) return undefined;
        this.stats.requestsThrottled++;
        const reason = `${MAX_REFUSED_PER_CONNECTION} requests of this connection were refused: it is closed`;
        this.refusals.refuse('requests-refused', `connection ${key}`, { scope: 'connection', peer: peerFields(peer), reason }, `connection of ${describePeer(peer)} closed: ${reason}`);
        return `Error: ${reason}`;
      },
      idleTimeoutMs: this.settings.idleTimeoutMs,
      classicWaitMs: this.settings.classicWaitMs,
      maxPending: MAX_PENDING_PER_CONNECTION,
      logger: this.options.logger,
    });
    this.sessions.set(socket, session);
    socket.on('close', () => this.sessions.delete(socket));
  }

  /** Too many connections: one clear line, after the client's first message (a
   * classic client sends before it reads; closing first could lose the line),
   * then closed, whatever the client does. At most MAX_ANSWERING_BUSY such
   * connections are held at once; beyond, they are closed without a word. */
  private refuseBusy(socket: net.Socket): void {
    if (this.answeringBusy >= MAX_ANSWERING_BUSY) {
      socket.destroy();
      return;
    }
    this.answeringBusy++;
    const { maxClients } = this.settings;
    const answer = () => {
      clearTimeout(wait);
      socket.end(`Error: the server is busy: ${maxClients} clients are connected (its limit); try again later\n`);
    };
    const wait = setTimeout(answer, BUSY_ANSWER_MS);
    const close = setTimeout(() => socket.destroy(), 2 * BUSY_ANSWER_MS);
    socket.once('data', answer);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(wait);
      clearTimeout(close);
      this.answeringBusy--;
    });
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
  metricsContext(): StatsContext {
    this.stats.policyReloads = this.policies.reloads;
    this.stats.policyRejected = this.policies.rejected;
    return {
      policyHash: this.policies.current.hash,
      launcherPid: this.launcher.pid,
      launcherRestarts: this.launcher.restarts,
      logs: { audit: this.options.audit.health, operational: this.options.log.destination.health },
      cluster: () => this.link.cluster?.figures(),
    };
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
    this.refusals.stop();
    this.jobs?.stopTaking();
    const listeners = [this.unixListener, ...this.tcpListeners];
    const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    for (const session of this.sessions.values()) session.drain();
    // Leave the cluster first: no new calls come from other nodes; theirs running here finish.
    const leaving = this.link.cluster?.stop().catch(() => undefined);
    const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.executor.whenIdle(), timeout(this.settings.shutdownGraceMs)]);
    this.launcher.cancelAll();
    await Promise.race([this.executor.whenIdle(), timeout(2000)]);
    await Promise.race([leaving, timeout(2000)]);
    await this.jobs?.stop();
    await this.launcher.stop();
    await this.link.stop();
    this.uidRange?.release();
    await Promise.race([closed, timeout(500)]);
    for (const socket of [...this.sessions.keys(), ...this.connections]) socket.destroy();
    try {
      fs.unlinkSync(this.settings.socket);
    } catch {
      // already gone
    }
  }
}
