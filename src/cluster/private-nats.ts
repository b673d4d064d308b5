// The private nats-server of a node that is given no NATS system (no --nats):
// a supervised child on loopback, with fresh credentials at each start, TLS
// with a pinned self-signed certificate, and its JetStream data under the
// state directory (private-nats-files.ts), so the registry, jobs and HTTP API
// work on one machine through the same code as a cluster.
//
// Ready means a client got in: it listens (its ports file), then a real
// connection with the credentials reaches JetStream. If it dies it is
// restarted after a backoff, on the same port (clients reconnect by
// themselves) — on another only if that port was taken meanwhile, and then
// "restarted" carries the new URL. stop() ends it cleanly.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { DEFAULT_STATE_DIR, prepareStateDir } from '../config/state-dir.js';
import { FnjailError } from '../errors.js';
import { describeExit, spawnNatsServer, type NatsExit, type NatsServerProcess } from './nats-server-process.js';
import {
  DEFAULT_JETSTREAM_LIMITS,
  newCredentials,
  privateNatsLayout,
  writeConfig,
  type JetStreamLimits,
  type PrivateNatsCredentials,
  type PrivateNatsLayout,
} from './private-nats-files.js';

export const DEFAULT_NATS_STATE_DIR = path.join(DEFAULT_STATE_DIR, 'nats');

export interface PrivateNatsOptions {
  /** Default /var/lib/fnjail/nats. */
  stateDir?: string;
  /** The nats-server program (default: nats-server on the PATH). */
  binary?: string;
  logger?: Logger;
  /** Waits before each restart in a row; the last one repeats. */
  restartDelaysMs?: number[];
  /** A run this long after being ready resets the backoff. */
  stableAfterMs?: number;
  /** How long a start may take before it counts as failed. */
  startTimeoutMs?: number;
  jetstream?: Partial<JetStreamLimits>;
}

export interface PrivateNatsEndpoint {
  /** tls://127.0.0.1:PORT */
  url: string;
  credentials: PrivateNatsCredentials;
}

export interface PrivateNatsEvents {
  /** It exited without being asked to. */
  died: [{ pid: number; exit: NatsExit; log: string[] }];
  /** A restart is scheduled. */
  restarting: [{ attempt: number; delayMs: number }];
  /** Running and ready again (url changes only when the old port was taken). */
  restarted: [{ url: string; pid: number; attempt: number }];
  /** A restart did not come up; another is scheduled. */
  'restart-failed': [{ attempt: number; error: Error }];
}

const DEFAULT_RESTART_DELAYS_MS = [100, 500, 2000, 5000, 15000];
/** Failed restarts on the old port after which any free port will do. */
const SAME_PORT_ATTEMPTS = 2;

export class PrivateNatsServer extends EventEmitter<PrivateNatsEvents> {
  private readonly layout: PrivateNatsLayout;
  private readonly logger: Logger | undefined;
  private process: NatsServerProcess | undefined;
  private endpoint: PrivateNatsEndpoint | undefined;
  private publicKey = '';
  private port = 0;
  private failures = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private lockFile: string;
  /** Times it was restarted after dying. */
  restarts = 0;

  constructor(private readonly options: PrivateNatsOptions = {}) {
    super();
    this.layout = privateNatsLayout(options.stateDir ?? DEFAULT_NATS_STATE_DIR);
    this.logger = options.logger?.child({ component: 'private-nats' });
    this.lockFile = path.join(this.layout.stateDir, 'owner.pid');
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get url(): string | undefined {
    return this.endpoint?.url;
  }

  /** Starts it and resolves once a client can use JetStream; throws FNJ_NATS_FAILED. */
  async start(): Promise<PrivateNatsEndpoint> {
    if (this.endpoint || this.process) throw new Error('the private nats-server is started already');
    this.stopping = false;
    const { stateDir, jetstreamDir, portsDir } = this.layout;
    prepareStateDir(stateDir, 0o700, 'the private nats-server state directory');
    this.lock();
    try {
      fs.mkdirSync(jetstreamDir, { recursive: true, mode: 0o700 });
      fs.rmSync(portsDir, { recursive: true, force: true });
      fs.mkdirSync(portsDir, { mode: 0o700 });
      const { credentials, publicKey } = await newCredentials(this.layout);
      this.publicKey = publicKey;
      this.port = 0;
      const url = await this.run(credentials);
      this.endpoint = { url, credentials };
      this.logger?.info({ url, pid: this.pid, stateDir }, 'private nats-server ready');
      return this.endpoint;
    } catch (error) {
      this.unlock();
      if (error instanceof FnjailError) throw error;
      throw new FnjailError('FNJ_NATS_FAILED', `the private nats-server (state in ${stateDir}) cannot start: ${(error as Error).message}`, "is Debian's nats-server installed (npm install does it)?");
    }
  }

  /** Stops it (SIGTERM, then SIGKILL after a grace period); no restart follows. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.stableTimer);
    const running = this.process;
    this.process = undefined;
    this.endpoint = undefined;
    if (running) {
      const exit = await running.stop();
      this.logger?.info({ pid: running.pid }, `private nats-server stopped (${describeExit(exit)})`);
    }
    this.unlock();
  }

  /** One run: spawned, listening, a client in; resolves with its URL. */
  private async run(credentials: PrivateNatsCredentials): Promise<string> {
    writeConfig(this.layout, this.publicKey, this.port, { ...DEFAULT_JETSTREAM_LIMITS, ...this.options.jetstream });
    const child = spawnNatsServer({ configFile: this.layout.configFile, portsDir: this.layout.portsDir, binary: this.options.binary, logger: this.logger });
    this.process = child;
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => child.kill(), timeoutMs);
    try {
      const [url] = await child.listening;
      await probe(url!, credentials);
      this.port = Number(new URL(url!).port);
      void child.exited.then((exit) => this.onExit(child, exit));
      this.stableTimer = setTimeout(() => (this.failures = 0), this.options.stableAfterMs ?? 10_000);
      return url!;
    } catch (error) {
      child.kill();
      await child.exited;
      if (this.process === child) this.process = undefined;
      const log = child.recentLog();
      throw new Error(`${(error as Error).message}${log.length ? ` (its last output: ${log.slice(-3).join(' | ')})` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private onExit(child: NatsServerProcess, exit: NatsExit): void {
    if (this.stopping || this.process !== child) return;
    this.process = undefined;
    clearTimeout(this.stableTimer);
    fs.rmSync(path.join(this.layout.portsDir, `nats-server_${child.pid}.ports`), { force: true });
    const log = child.recentLog();
    this.logger?.warn({ pid: child.pid, log: log.slice(-5) }, `private nats-server ${describeExit(exit)}: restarting it`);
    this.emit('died', { pid: child.pid, exit, log });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delays = this.options.restartDelaysMs ?? DEFAULT_RESTART_DELAYS_MS;
    const delayMs = delays[Math.min(this.failures, delays.length - 1)]!;
    const attempt = ++this.failures;
    this.emit('restarting', { attempt, delayMs });
    this.restartTimer = setTimeout(() => void this.restart(attempt), delayMs);
  }

  private async restart(attempt: number): Promise<void> {
    if (this.stopping || !this.endpoint) return;
    // Its old port may have been taken while it was down: then any free one.
    if (attempt > SAME_PORT_ATTEMPTS) this.port = 0;
    try {
      const url = await this.run(this.endpoint.credentials);
      if (this.stopping) return;
      this.endpoint = { ...this.endpoint, url };
      this.restarts++;
      this.logger?.info({ url, pid: this.pid, attempt }, 'private nats-server restarted');
      this.emit('restarted', { url, pid: this.pid!, attempt });
    } catch (error) {
      if (this.stopping) return;
      this.logger?.error({ attempt, err: (error as Error).message }, 'private nats-server restart failed');
      this.emit('restart-failed', { attempt, error: error as Error });
      this.scheduleRestart();
    }
  }

  /** One fnjail per state directory: two nats-servers on one JetStream store would corrupt it. */
  private lock(): void {
    try {
      const owner = Number(fs.readFileSync(this.lockFile, 'utf8'));
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new FnjailError('FNJ_NATS_FAILED', `the state directory ${this.layout.stateDir} is in use by process ${owner}`, 'stop that fnjail server first, or give this one another state directory');
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    fs.writeFileSync(this.lockFile, `${process.pid}\n`, { mode: 0o600 });
  }

  private unlock(): void {
    try {
      if (Number(fs.readFileSync(this.lockFile, 'utf8')) === process.pid) fs.rmSync(this.lockFile);
    } catch {
      // not ours, or gone
    }
  }
}

/** Whether a process with this pid exists (EPERM: it does, another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A real client: authenticated, over TLS with the pinned certificate, reaching JetStream. */
async function probe(url: string, credentials: PrivateNatsCredentials): Promise<void> {
  const nc = await connect({
    servers: url,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(credentials.nkeySeed)),
    tls: { ca: credentials.caCert },
    reconnect: false,
    name: 'fnjail readiness probe',
  });
  try {
    await (await jetstreamManager(nc)).getAccountInfo();
  } finally {
    await nc.close();
  }
}
