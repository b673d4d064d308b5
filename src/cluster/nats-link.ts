// A node's link to its NATS system, and the function registry on it: the
// private nats-server (started and supervised here when no --nats is given)
// or the servers given, connected in the background, after the server
// already serves classic calls (startup speed: nats-server takes a while to
// come up). Whatever needs the registry asks for it with a bound on how long
// it may wait (registry()); meanwhile, and whenever the NATS system is down,
// that says why in a sentence fit for a Reason line. A private nats-server
// that dies is noticed (logged, and said in those sentences), restarted by
// PrivateNatsServer, and a new URL (its old port taken) is given to the
// connection; calls go on once it is back.
import path from 'node:path';
import type { Logger } from 'pino';
import { FnjailError } from '../errors.js';
import { FunctionRegistry } from '../functions/registry.js';
import { describeExit } from './nats-server-process.js';
import { checkServers, NatsSystem, type NatsStatus } from './nats-connection.js';
import { PrivateNatsServer } from './private-nats.js';
import { ClusterNode, type ClusterNodeOptions } from './cluster-node.js';
import { inboxPrefix } from './subjects.js';

export interface NatsLinkOptions {
  /** undefined: a private nats-server; 'off': no registry. */
  nats: { servers: string[]; tls: { cert: string | undefined; key: string | undefined; ca: string | undefined } | undefined } | 'off' | undefined;
  insecure: boolean;
  stateDir: string;
  nodeName: string;
  logger: Logger;
  /** For tests: the private server's restart delays. */
  restartDelaysMs?: number[];
  /** With servers given: this node joins the cluster on them once the registry is open. */
  cluster?: ClusterJoin | undefined;
}

/** What the node brings to the cluster (cluster-node.ts). */
export type ClusterJoin = Pick<ClusterNodeOptions, 'version' | 'load' | 'handler' | 'admit' | 'balance' | 'timings' | 'replicas' | 'onMemberChange' | 'onCallEvent'>;

export type LinkState = 'off' | 'starting' | 'ready' | 'down' | 'failed';

export interface LinkStatus {
  state: LinkState;
  /** Why the registry cannot be used now, if it cannot. */
  reason: string | undefined;
  nats: NatsStatus | undefined;
  privateServer: { pid: number | undefined; url: string | undefined; restarts: number } | undefined;
}

/** How long closing the connection may wait for it to drain. */
const CLOSE_WAIT_MS = 2000;

/** Waits before each new attempt to connect at startup; the last one repeats. */
const RETRY_DELAYS_MS = [1000, 2000, 5000, 15000];

export class NatsLink {
  private privateServer: PrivateNatsServer | undefined;
  private nats: NatsSystem | undefined;
  private opened: FunctionRegistry | undefined;
  private joined: ClusterNode | undefined;
  private state: LinkState;
  private reason: string | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly logger: Logger;

  /** Throws FNJ_USAGE or FNJ_NATS_INSECURE for servers that cannot be used at all. */
  constructor(private readonly options: NatsLinkOptions) {
    this.logger = options.logger.child({ component: 'registry' });
    const { nats } = options;
    if (nats !== undefined && nats !== 'off') checkServers(nats.servers, { tls: nats.tls && { certFile: nats.tls.cert, keyFile: nats.tls.key, caFile: nats.tls.ca }, insecure: options.insecure });
    this.state = options.nats === 'off' ? 'off' : 'starting';
    this.reason = options.nats === 'off' ? 'the function registry is off on this server (--nats off)' : 'the function registry is starting (connecting to NATS)';
  }

  /** Connects in the background; resolves at once. */
  start(): void {
    if (this.state === 'off') return;
    void this.connect(0);
  }

  status(): LinkStatus {
    const server = this.privateServer;
    return {
      state: this.state,
      reason: this.state === 'ready' ? undefined : this.reason,
      nats: this.nats?.status(),
      privateServer: server ? { pid: server.pid, url: server.url, restarts: server.restarts } : undefined,
    };
  }

  /** The registry, once the NATS system is reachable: waits up to waitMs for
   * it, else throws FNJ_REGISTRY_UNAVAILABLE saying why. */
  async registry(waitMs: number): Promise<FunctionRegistry> {
    await this.whenUsable(waitMs);
    return this.opened!;
  }

  /** The NATS system itself (what jobs keep there), on the same terms as registry(). */
  async system(waitMs: number): Promise<NatsSystem> {
    await this.whenUsable(waitMs);
    return this.nats!;
  }

  private async whenUsable(waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (!this.usable()) {
      if (this.state === 'off' || this.stopped) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
    if (!this.usable()) throw this.unavailable();
  }

  /** The error a request gets when the registry cannot be used. */
  unavailable(detail?: string): FnjailError {
    const reason = this.reason ?? 'the NATS connection is down';
    return new FnjailError('FNJ_REGISTRY_UNAVAILABLE', `the function registry is not available: ${detail ? `${detail} (${reason})` : reason}`, this.state === 'off' ? 'start the server without --nats off' : 'try again shortly; the server log says more');
  }

  /** The cluster, once this node has joined it (with --nats URL). */
  get cluster(): ClusterNode | undefined {
    return this.joined;
  }

  /** Leaves the cluster (its running calls for others finish first), then disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.wake();
    await this.joined?.stop().catch((error: Error) => this.logger.warn({ err: error.message }, 'leaving the cluster failed'));
    await this.disconnect();
  }

  /** Closes the connection (draining it, for a bounded time: a connection
   * that is reconnecting would wait for ever), then the private server. */
  private async disconnect(): Promise<void> {
    const nats = this.nats;
    this.nats = undefined;
    if (nats) {
      await Promise.race([nats.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
      if (!nats.connection.isClosed()) await nats.connection.close().catch(() => undefined);
    }
    const server = this.privateServer;
    this.privateServer = undefined;
    await server?.stop().catch(() => undefined);
  }

  private usable(): boolean {
    return this.state === 'ready' && this.opened !== undefined && this.nats?.status().state === 'connected';
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private set(state: LinkState, reason: string | undefined): void {
    this.state = state;
    this.reason = reason;
    this.wake();
  }

  private async connect(attempt: number): Promise<void> {
    try {
      const nats = await this.connectOnce();
      this.nats = nats;
      if (this.stopped) {
        await this.disconnect();
        return;
      }
      nats.on('status', (status) => {
        if (status.state === 'connected') this.set('ready', undefined);
        else if (this.state === 'ready' || this.state === 'down') this.set('down', this.downReason(status));
      });
      this.opened = await FunctionRegistry.open(nats, { functionsDir: path.join(this.options.stateDir, 'functions'), logger: this.logger });
      if (this.stopped) return;
      const { cluster, nodeName, logger } = this.options;
      if (cluster && this.options.nats !== undefined) {
        this.joined = ClusterNode.start({ ...cluster, nats, node: nodeName, logger: logger.child({ component: 'cluster' }) });
        this.joined.ready.then(
          () => this.logger.info({ node: nodeName, incarnation: this.joined?.incarnation.id }, 'joined the cluster'),
          () => undefined,
        );
      }
      this.set('ready', undefined);
      this.logger.info({ server: nats.status().server }, 'function registry ready');
    } catch (error) {
      await this.disconnect();
      if (this.stopped) return;
      const delayMs = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
      const message = (error as Error).message;
      this.set('failed', `the NATS system could not be reached: ${message}`);
      this.logger.error({ err: message, retryInMs: delayMs }, 'the function registry cannot start; trying again');
      this.retryTimer = setTimeout(() => void this.connect(attempt + 1), delayMs);
    }
  }

  private downReason(status: NatsStatus): string {
    const server = this.privateServer;
    if (server && server.pid === undefined) return 'the private nats-server died and is being restarted';
    return `the NATS connection is ${status.state}${status.lastError ? ` (${status.lastError})` : ''}`;
  }

  private async connectOnce(): Promise<NatsSystem> {
    const { nats, logger, nodeName } = this.options;
    if (nats === 'off') throw new Error('off');
    if (nats !== undefined) {
      const tls = nats.tls && { certFile: nats.tls.cert, keyFile: nats.tls.key, caFile: nats.tls.ca };
      // A cluster's node reads answers only under its own inbox prefix (the broker allows no other).
      const inbox = this.options.cluster ? { inboxPrefix: inboxPrefix(nodeName), replicas: this.options.cluster.replicas } : {};
      return NatsSystem.connect({ servers: nats.servers, tls, insecure: this.options.insecure, name: nodeName, logger: this.logger, ...inbox });
    }
    const server = new PrivateNatsServer({ stateDir: path.join(this.options.stateDir, 'nats'), logger, restartDelaysMs: this.options.restartDelaysMs });
    this.privateServer = server;
    server.on('died', ({ pid, exit }) => {
      this.set('down', `the private nats-server (pid ${pid}) ${describeExit(exit)}; it is being restarted`);
    });
    server.on('restart-failed', ({ error }) => this.set('down', `the private nats-server died and does not start again (${error.message}); still trying`));
    const endpoint = await server.start();
    let url = endpoint.url;
    server.on('restarted', (restarted) => {
      // On another port if its old one was taken meanwhile: the connection must follow.
      if (restarted.url === url) return;
      url = restarted.url;
      void this.nats?.setServers([url]).catch((error: Error) => this.logger.error({ err: error.message }, 'cannot give the NATS connection the new address'));
    });
    return NatsSystem.connect({
      servers: [endpoint.url],
      nkeySeed: endpoint.credentials.nkeySeed,
      tls: { ca: endpoint.credentials.caCert },
      name: nodeName,
      logger: this.logger,
      reconnectWaitMs: 100,
    });
  }
}
