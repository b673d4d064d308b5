// fnjail's connection to a NATS system: the private nats-server or a
// cluster's (--nats URL,...). TLS with a CA and optionally a client
// certificate (a node's identity), or nkey / user and password; plain NATS only
// to loopback addresses and only when asked for (insecure). It reconnects by
// itself, forever, and says where it stands (status(), "status" events).
// JetStream handles (KV buckets, object stores) are created when missing.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, StorageType, type ObjectStore } from '@nats-io/obj';
import { connect, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FnjailError } from '../errors.js';

export interface NatsTlsOptions {
  /** PEM text, or a file (…File) to read it from. */
  ca?: string;
  caFile?: string;
  cert?: string;
  certFile?: string;
  key?: string;
  keyFile?: string;
}

export interface NatsConnectOptions {
  /** nats://host:port, tls://host:port or host:port; several for a cluster. */
  servers: string[];
  tls?: NatsTlsOptions;
  user?: string;
  password?: string;
  nkeySeed?: string;
  /** Allows plain NATS (no TLS) — to loopback addresses only. */
  insecure?: boolean;
  /** Shown by the server's monitoring (e.g. the node's name). */
  name?: string;
  /** Where answers to its requests arrive: a cluster node's own (subjects.ts inboxPrefix), which the broker lets only it read. */
  inboxPrefix?: string;
  logger?: Logger;
  /** Replicas of the buckets and stores it creates (default 1). */
  replicas?: number;
  /** Between reconnect attempts (default 500 ms). */
  reconnectWaitMs?: number;
  /** For the first connection (default 10 s). */
  connectTimeoutMs?: number;
}

export type NatsState = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

export interface NatsStatus {
  state: NatsState;
  /** The server it is (or was last) connected to. */
  server: string | undefined;
  since: Date;
  /** Successful reconnects since the first connection. */
  reconnects: number;
  lastError: string | undefined;
}

export interface BucketOptions {
  replicas?: number;
  /** Bytes the bucket may hold (default: no limit of its own). */
  maxBytes?: number;
  description?: string;
}

export interface KvBucketOptions extends BucketOptions {
  /** Values kept per key (default 1). */
  history?: number;
  /** Values older than this are removed (default: kept). */
  ttlMs?: number;
}

interface ParsedServer {
  url: string;
  host: string;
  tls: boolean;
}

function parseServer(text: string): ParsedServer {
  const withScheme = /^[a-z]+:\/\//.test(text) ? text : `nats://${text}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new FnjailError('FNJ_USAGE', `'${text}' is not a NATS URL (nats://HOST:PORT, tls://HOST:PORT or HOST:PORT)`);
  }
  if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') {
    throw new FnjailError('FNJ_USAGE', `'${text}': a NATS URL starts with nats:// or tls://`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { url: withScheme, host, tls: parsed.protocol === 'tls:' };
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

/** Refuses plain NATS unless every server is on loopback and insecure was asked for (FNJ_NATS_INSECURE). */
export function checkTransport(servers: ParsedServer[], options: Pick<NatsConnectOptions, 'tls' | 'insecure'>): void {
  const plain = !options.tls && !servers.every((s) => s.tls);
  if (!plain) return;
  const remote = servers.find((s) => !isLoopbackHost(s.host));
  if (remote) {
    throw new FnjailError('FNJ_NATS_INSECURE', `plain NATS to ${remote.host} would send credentials and data unencrypted: only loopback addresses may be reached without TLS`, 'give the --nats-tls-* options');
  }
  if (!options.insecure) {
    throw new FnjailError('FNJ_NATS_INSECURE', 'plain NATS (no TLS) is refused unless asked for, even on loopback', 'give --insecure to try it out on one machine, or the --nats-tls-* options');
  }
}

/** Checks URLs and transport before anything is sent (fnjail serve refuses a bad --nats at start). */
export function checkServers(urls: string[], options: Pick<NatsConnectOptions, 'tls' | 'insecure'>): void {
  checkTransport(urls.map(parseServer), options);
}

function pem(value: string | undefined, file: string | undefined, what: string): string | undefined {
  if (value !== undefined) return value;
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `cannot read the NATS TLS ${what} ${file}: ${(error as Error).message}`);
  }
}

/**
 * TLS options for the NATS client. It dials an IP address without telling TLS
 * the name (Node then checks the certificate against "localhost"): the
 * certificate is checked against the configured IP addresses instead, any of
 * them, since the client may be on any server of the list.
 */
function tlsOptions(options: NatsTlsOptions | undefined, servers: ParsedServer[]): NodeConnectionOptions['tls'] | undefined {
  if (!options && !servers.some((s) => s.tls)) return undefined;
  const ips = servers.map((s) => s.host).filter((h) => net.isIP(h));
  const checkServerIdentity = (host: string, cert: tls.PeerCertificate): Error | undefined => {
    const direct = tls.checkServerIdentity(host, cert);
    if (!direct || host !== 'localhost') return direct;
    return ips.some((ip) => !tls.checkServerIdentity(ip, cert)) ? undefined : direct;
  };
  const result: Record<string, unknown> = { checkServerIdentity };
  const ca = pem(options?.ca, options?.caFile, 'CA');
  const cert = pem(options?.cert, options?.certFile, 'certificate');
  const key = pem(options?.key, options?.keyFile, 'key');
  if (ca !== undefined) result.ca = ca;
  if (cert !== undefined) result.cert = cert;
  if (key !== undefined) result.key = key;
  return result as NodeConnectionOptions['tls'];
}

export interface NatsSystemEvents {
  status: [NatsStatus];
}

export class NatsSystem extends EventEmitter<NatsSystemEvents> {
  private current: NatsStatus;
  private readonly kvm: Kvm;
  private readonly objm: Objm;
  private manager: Promise<JetStreamManager> | undefined;

  private constructor(
    readonly connection: NatsConnection,
    private readonly options: NatsConnectOptions,
  ) {
    super();
    this.current = { state: 'connected', server: connection.getServer(), since: new Date(), reconnects: 0, lastError: undefined };
    this.kvm = new Kvm(connection);
    this.objm = new Objm(connection);
    void this.follow();
  }

  /** Connects; throws FNJ_NATS_INSECURE, FNJ_TLS_FAILED or FNJ_NATS_UNREACHABLE. */
  static async connect(options: NatsConnectOptions): Promise<NatsSystem> {
    if (!options.servers.length) throw new FnjailError('FNJ_USAGE', 'no NATS server given');
    const servers = options.servers.map(parseServer);
    checkTransport(servers, options);
    const tlsConfig = tlsOptions(options.tls, servers);
    const connectOptions: NodeConnectionOptions = {
      servers: servers.map((s) => s.url),
      name: options.name ?? 'fnjail',
      maxReconnectAttempts: -1,
      // Only the servers it was given: a cluster's servers announce each
      // other, and the client would keep trying those forever on a first
      // connection it cannot make (a refused certificate). The list given
      // is the cluster's (fnjail cluster config prints it).
      ignoreClusterUpdates: true,
      reconnectTimeWait: options.reconnectWaitMs ?? 500,
      timeout: options.connectTimeoutMs ?? 10_000,
      // No Error made per request to keep its caller's stack (two per
      // request otherwise: ~7% of the server's CPU in a job burst). A failed
      // request's error keeps its message, which is what the code looks at.
      noAsyncTraces: true,
      ...(tlsConfig ? { tls: tlsConfig } : {}),
      ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
      ...(options.nkeySeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(options.nkeySeed)) } : {}),
      ...(options.user !== undefined ? { user: options.user, pass: options.password ?? '' } : {}),
    };
    let connection: NatsConnection;
    try {
      connection = await connect(connectOptions);
    } catch (error) {
      let reason = (error as Error).message;
      // The client library loses the TLS alert of a server that refuses our certificate, and only times out.
      if (/^timeout$|ECONNRESET|EPIPE/i.test(reason) && tlsConfig) reason += ' (over TLS this is also how a refused client certificate shows: is it signed by the CA the server trusts?)';
      throw new FnjailError('FNJ_NATS_UNREACHABLE', `cannot connect to NATS at ${options.servers.join(', ')}: ${reason}`, 'check the URLs, the credentials and the TLS certificates');
    }
    const system = new NatsSystem(connection, options);
    options.logger?.info({ server: system.current.server }, 'connected to NATS');
    return system;
  }

  status(): NatsStatus {
    return { ...this.current };
  }

  /** Resolves when connected (at once if it is). */
  async whenConnected(): Promise<void> {
    while (this.current.state !== 'connected') {
      if (this.current.state === 'closed') throw new FnjailError('FNJ_NATS_UNREACHABLE', 'the NATS connection is closed');
      await new Promise((resolve) => this.once('status', resolve));
    }
  }

  /** A KV bucket, created if missing. */
  async kv(bucket: string, options: KvBucketOptions = {}): Promise<KV> {
    return this.kvm.create(bucket, {
      replicas: options.replicas ?? this.options.replicas ?? 1,
      history: options.history ?? 1,
      // Reads from the stream's leader: a replica still catching up (its server just
      // restarted) would answer direct gets with old values — a lease, a function's record.
      allow_direct: false,
      ...(options.ttlMs !== undefined ? { ttl: options.ttlMs } : {}),
      ...(options.maxBytes !== undefined ? { max_bytes: options.maxBytes } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
    });
  }

  /**
   * The keys of a KV bucket (those matching a filter: "u1000.*", ">") that
   * hold a value or a delete marker, as its
   * stream's leader has them. KV's keys() reads them through an ordered
   * consumer, which the broker may place on a replica still catching up: a
   * function deployed a moment before could be missing from the list (seen
   * with three servers). The stream's info is answered by its leader, which
   * has every write it acknowledged. Values are read with get() (also from the
   * leader: allow_direct is off), which skips the deleted.
   */
  async kvKeys(bucket: string, filter = '>'): Promise<string[]> {
    const prefix = `$KV.${bucket}.`;
    const jsm = await this.jetstreamManager();
    const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** The connection's JetStream manager, made once (making one asks the server whether it has JetStream); again after a failure. */
  jetstreamManager(): Promise<JetStreamManager> {
    this.manager ??= jetstreamManager(this.connection).catch((error: unknown) => {
      this.manager = undefined;
      throw error;
    });
    return this.manager;
  }

  /** An object store, created if missing (file storage: it survives restarts). */
  async objectStore(bucket: string, options: BucketOptions = {}): Promise<ObjectStore> {
    return this.objm.create(bucket, {
      storage: StorageType.File,
      replicas: options.replicas ?? this.options.replicas ?? 1,
      ...(options.maxBytes !== undefined ? { max_bytes: options.maxBytes } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
    });
  }

  /** Replaces the server list and reconnects to it (the private server moved to another port). */
  async setServers(urls: string[]): Promise<void> {
    const servers = urls.map(parseServer);
    checkTransport(servers, this.options);
    this.connection.setServers(servers.map((s) => s.url));
    if (this.current.state === 'connected') await this.connection.reconnect();
  }

  async close(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }

  private update(state: NatsState, change: Partial<NatsStatus> = {}): void {
    this.current = { ...this.current, ...change, state, since: new Date() };
    const log = this.options.logger;
    if (state === 'connected') log?.info({ server: this.current.server, reconnects: this.current.reconnects }, 'NATS connection back');
    else if (state !== 'reconnecting') log?.warn({ server: this.current.server, error: this.current.lastError }, `NATS connection ${state}`);
    this.emit('status', this.status());
  }

  private async follow(): Promise<void> {
    void this.connection.closed().then((error) => this.update('closed', error ? { lastError: error.message } : {}));
    for await (const event of this.connection.status()) {
      switch (event.type) {
        case 'disconnect':
          this.update('disconnected', { server: event.server });
          break;
        case 'reconnecting':
          if (this.current.state !== 'reconnecting') this.update('reconnecting');
          break;
        case 'reconnect':
          this.update('connected', { server: event.server, reconnects: this.current.reconnects + 1 });
          break;
        case 'error':
          this.current = { ...this.current, lastError: event.error.message };
          break;
      }
    }
  }
}
