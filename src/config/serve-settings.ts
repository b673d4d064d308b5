// The settings fnjail serve runs with: the config file's, then the flags' over
// them, then the defaults; and the checks that involve several settings.
import { defaultApiSocket, DEFAULT_MAX_INPUT_BYTES, DEFAULT_STATE_DIR, DEFAULT_CLASSIC_WAIT_MS, defaultPolicyPath, defaultSocket, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_CONCURRENT, DEFAULT_QUEUE_LENGTH, DEFAULT_OUTPUT_DIR, DEFAULT_OUTPUT_TEMPLATE, DEFAULT_PREPARED, DEFAULT_REFUSED_BURST, DEFAULT_REFUSED_PER_SECOND, DEFAULT_SANDBOX_REUSE, DEFAULT_UID_RANGE, DEFAULT_EXPOSE_IDLE_MS, DEFAULT_EXPOSE_MAX_CONNECTIONS, DEFAULT_EXPOSE_MAX_PER_CLIENT, DEFAULT_JOB_QUEUE_LENGTH, DEFAULT_JOB_QUEUE_PER_TENANT } from './defaults.js';
import type { ExposeSpec } from '../inetd/expose-spec.js';
import { flagOf, SERVE_OPTIONS, type OptionName, type ServeValues } from './serve-options.js';
import os from 'node:os';
import { checkTimings, DEFAULT_TIMINGS, type MembershipTimings } from '../cluster/member-table.js';
import type { Balance } from '../cluster/router.js';
import { NODE_NAME } from '../cluster/subjects.js';
import type { LogFormat } from '../log.js';
import { formatDuration } from './duration.js';

export interface ServeSettings {
  socket: string;
  socketOwner: string | number;
  socketGroup: string | number;
  socketMode: number;
  /** TCP addresses (HOST:PORT). */
  listen: string[];
  tls: { cert: string; key: string; ca: string } | undefined;
  insecure: boolean;
  outputDir: string;
  outputTemplate: string;
  policy: string;
  allowDirs: string[];
  compat: 'classic' | undefined;
  uidRange: { first: number; last: number };
  maxClients: number;
  /** A peer's budget of refused requests, and its refill per second. */
  refused: { burst: number; perSecond: number };
  maxConcurrent: number;
  queueLength: number;
  queueFull: 'refuse' | 'wait';
  queueWaitMs: number;
  /** 0: never. */
  idleTimeoutMs: number;
  /** The quiet window that ends a message without a newline (a classic command). */
  classicWaitMs: number;
  prepared: number;
  seccomp: string | undefined;
  netns: 'auto' | 'fresh' | 'shared';
  sandboxReuse: number;
  retention: { maxAgeMs: number | undefined; maxTotalBytes: number | undefined; minAgeMs: number; intervalMs: number } | undefined;
  shutdownGraceMs: number;
  auditLog: string | undefined;
  auditFsync: boolean;
  logFile: string | undefined;
  logLevel: string | undefined;
  logFormat: LogFormat | undefined;
  redact: string[];
  metrics: string | undefined;
  metricsToken: string | undefined;
  stateDir: string;
  /** The NATS system of the registry: a private nats-server (undefined), servers given, or none. */
  nats: { servers: string[]; tls: { cert: string | undefined; key: string | undefined; ca: string | undefined } | undefined } | 'off' | undefined;
  nodeName: string;
  /** With --nats URL: this node joins the cluster on that NATS system (docs/cluster.md). */
  cluster: { balance: Balance; timings: MembershipTimings; replicas: number } | undefined;
  /** The API socket, or undefined: none. */
  httpSocket: string | undefined;
  /** TCP addresses of the HTTP API (HOST:PORT), with TLS, or plain with insecure. */
  http: string[];
  /** Slow clients: headers, a whole request; idle keep-alive connections. */
  httpTimeouts: { headersMs: number; requestMs: number; keepAliveMs: number };
  maxInputBytes: number;
  /** A function's build: wall clock and CPU time, memory, disk. */
  build: { timeoutMs: number; memoryBytes: number; diskBytes: number };
  /** Jobs (docs/jobs.md): this node's slots, the queue's limits, retention, redelivery. */
  jobs: { slots: number; queueLength: number; perTenant: number; retentionMs: number; ackWaitMs: number; redeliveries: number };
  /** Per-connection program functions served on TCP ports (src/inetd), and their connections' limits. */
  expose: { services: ExposeSpec[]; maxConnections: number; maxPerClient: number; idleMs: number };
}

/** A setting that does not go with another, with the settings involved. */
export interface Conflict {
  message: string;
  names: OptionName[];
}

/** Settings that do not go together: says so with both flags and both config keys. */
export class SettingsConflict extends Error {
  constructor(readonly conflicts: Conflict[]) {
    super(conflicts.map((c) => c.message).join('; '));
  }
}

const both = (name: OptionName) => `${flagOf(name)} (${SERVE_OPTIONS[name].key})`;

/** The file's settings with the flags' over them. */
export function mergeSettings(file: ServeValues, flags: ServeValues): ServeValues {
  const v: ServeValues = { ...file };
  for (const [name, value] of Object.entries(flags)) if (value !== undefined) (v as Record<string, unknown>)[name] = value;
  return v;
}

/** Every pair (or more) of settings that do not go together. */
export function settingsConflicts(v: ServeValues): Conflict[] {
  const conflicts: Conflict[] = [];
  const conflict = (message: string, ...names: OptionName[]) => conflicts.push({ message, names });
  const listen = v.listen ?? [];
  const tlsParts = [v.tlsCert, v.tlsKey, v.tlsCa];
  const tlsSome = tlsParts.some((p) => p !== undefined);
  const tlsAll = tlsParts.every((p) => p !== undefined);
  if (tlsSome && !tlsAll) {
    conflict(`TLS needs all three of ${both('tlsCert')}, ${both('tlsKey')} and ${both('tlsCa')}`, 'tlsCert', 'tlsKey', 'tlsCa');
  }
  if (listen.length && !tlsAll && !v.insecure) {
    conflict(`${both('listen')} needs ${both('tlsCert')}, ${both('tlsKey')} and ${both('tlsCa')}: TCP is served with mutual TLS (or ${both('insecure')}, on loopback only)`, 'listen');
  }
  const http = v.http ?? [];
  if (http.length && !tlsAll && !v.insecure) {
    conflict(`${both('http')} needs ${both('tlsCert')}, ${both('tlsKey')} and ${both('tlsCa')}: the HTTP API on TCP is served with TLS (or ${both('insecure')}, on loopback only)`, 'http');
  }
  if (v.insecure && tlsSome) conflict(`${both('insecure')} and TLS settings exclude each other`, 'insecure', 'tlsCert', 'tlsKey', 'tlsCa');
  const natsGiven = Array.isArray(v.nats);
  if (v.insecure && !listen.length && !http.length && !natsGiven) conflict(`${both('insecure')} is for ${both('listen')}, ${both('http')} or ${both('nats')}`, 'insecure');
  const natsTls = [v.natsTlsCert, v.natsTlsKey, v.natsTlsCa].some((p) => p !== undefined);
  if (natsTls && !natsGiven) conflict(`${both('natsTlsCert')}, ${both('natsTlsKey')} and ${both('natsTlsCa')} are for ${both('nats')} URL`, 'natsTlsCert', 'natsTlsKey', 'natsTlsCa');
  if ((v.natsTlsCert === undefined) !== (v.natsTlsKey === undefined)) conflict(`${both('natsTlsCert')} and ${both('natsTlsKey')} go together`, 'natsTlsCert', 'natsTlsKey');
  if (v.auditFsync && v.auditLog === undefined) conflict(`${both('auditFsync')} needs ${both('auditLog')}`, 'auditFsync');
  if (v.logFormat === 'pretty' && v.logFile !== undefined) conflict(`${both('logFormat')} pretty is for a terminal; ${both('logFile')} gets json`, 'logFormat', 'logFile');
  if (v.queueWait !== undefined && v.queueFull !== 'wait') conflict(`${both('queueWait')} is for ${both('queueFull')} wait`, 'queueWait');
  const retentionSet = v.retentionMaxAge !== undefined || v.retentionMaxSize !== undefined;
  if (!retentionSet && (v.retentionMinAge !== undefined || v.retentionInterval !== undefined)) {
    conflict(`${both('retentionMinAge')} and ${both('retentionInterval')} are for ${both('retentionMaxAge')} or ${both('retentionMaxSize')}`, 'retentionMinAge', 'retentionInterval');
  }
  const minAgeMs = v.retentionMinAge ?? DEFAULT_RETENTION_MIN_AGE_MS;
  if (v.retentionMaxAge !== undefined && v.retentionMaxAge < minAgeMs) {
    conflict(`${both('retentionMaxAge')} must be at least ${both('retentionMinAge')} (${formatDuration(minAgeMs)}): a client may not have read a younger file yet`, 'retentionMaxAge', 'retentionMinAge');
  }
  if (v.metricsToken !== undefined && v.metrics === undefined && !http.length && v.httpSocket === 'off') {
    conflict(`${both('metricsToken')} is for ${both('metrics')} or the HTTP API (${both('http')}, ${both('httpSocket')})`, 'metricsToken');
  }
  if (v.jobSlots !== undefined && v.jobSlots > (v.maxConcurrent ?? DEFAULT_MAX_CONCURRENT)) conflict(`${both('jobSlots')} must be at most ${both('maxConcurrent')} (${v.maxConcurrent ?? DEFAULT_MAX_CONCURRENT}): job replicas run in the server's sandboxes`, 'jobSlots', 'maxConcurrent');
  if (v.jobAckWait !== undefined && v.jobAckWait < 1000) conflict(`${both('jobAckWait')} must be at least 1s`, 'jobAckWait');
  const exposing = (v.expose ?? []).length > 0;
  if (exposing && v.nats === 'off') conflict(`${both('expose')} serves functions of the registry: it needs one (not ${both('nats')} off)`, 'expose', 'nats');
  const exposeLimits = (['exposeMaxConnections', 'exposeMaxPerClient', 'exposeIdleTimeout'] as const).filter((n) => v[n] !== undefined);
  if (exposeLimits.length && !exposing) conflict(`${exposeLimits.map(both).join(', ')} ${exposeLimits.length === 1 ? 'is' : 'are'} for ${both('expose')}`, ...exposeLimits);
  const clusterSet = (['balance', 'heartbeat', 'suspectAfter', 'downAfter', 'natsReplicas'] as const).filter((name) => v[name] !== undefined);
  if (clusterSet.length && !natsGiven) conflict(`${clusterSet.map(both).join(', ')} ${clusterSet.length > 1 ? 'are' : 'is'} for ${both('nats')} URL (a cluster)`, ...clusterSet);
  if (natsGiven && !NODE_NAME.test(v.nodeName ?? os.hostname())) {
    conflict(`${both('nodeName')} '${v.nodeName ?? os.hostname()}' cannot name a cluster's node (${both('nats')} URL): lowercase letters, digits and dashes, at most 63`, 'nodeName');
  }
  if (v.retentionInterval === 0) conflict(`${both('retentionInterval')} must be more than 0`, 'retentionInterval');
  return conflicts;
}

const DEFAULT_RETENTION_MIN_AGE_MS = 5 * 60_000;

export function serveSettings(file: ServeValues, flags: ServeValues): ServeSettings {
  const v = mergeSettings(file, flags);
  const conflicts = settingsConflicts(v);
  if (conflicts.length) throw new SettingsConflict(conflicts);
  const listen = v.listen ?? [];
  const tls = v.tlsCert && v.tlsKey && v.tlsCa ? { cert: v.tlsCert, key: v.tlsKey, ca: v.tlsCa } : undefined;
  const retentionSet = v.retentionMaxAge !== undefined || v.retentionMaxSize !== undefined;
  const minAgeMs = v.retentionMinAge ?? DEFAULT_RETENTION_MIN_AGE_MS;

  return {
    socket: v.socket ?? defaultSocket(),
    socketOwner: v.socketOwner ?? 0,
    socketGroup: v.socketGroup ?? 0,
    socketMode: v.socketMode ?? 0o666,
    listen,
    tls,
    insecure: v.insecure ?? false,
    outputDir: v.outputDir ?? DEFAULT_OUTPUT_DIR,
    outputTemplate: v.outputTemplate ?? DEFAULT_OUTPUT_TEMPLATE,
    policy: v.policy ?? defaultPolicyPath(),
    allowDirs: v.allowDir ?? [],
    compat: v.compat === 'classic' ? 'classic' : undefined,
    uidRange: v.uidRange ?? DEFAULT_UID_RANGE,
    maxClients: v.maxClients ?? DEFAULT_MAX_CLIENTS,
    refused: { burst: v.refusedBurst ?? DEFAULT_REFUSED_BURST, perSecond: v.refusedPerSecond ?? DEFAULT_REFUSED_PER_SECOND },
    maxConcurrent: v.maxConcurrent ?? DEFAULT_MAX_CONCURRENT,
    queueLength: v.queueLength ?? DEFAULT_QUEUE_LENGTH,
    queueFull: v.queueFull ?? 'refuse',
    queueWaitMs: v.queueWait ?? 5000,
    idleTimeoutMs: v.idleTimeout ?? 60_000,
    classicWaitMs: v.classicWait ?? DEFAULT_CLASSIC_WAIT_MS,
    prepared: v.prepared ?? DEFAULT_PREPARED,
    seccomp: v.seccomp,
    netns: v.netns ?? 'auto',
    sandboxReuse: v.sandboxReuse ?? DEFAULT_SANDBOX_REUSE,
    retention: retentionSet
      ? { maxAgeMs: v.retentionMaxAge, maxTotalBytes: v.retentionMaxSize, minAgeMs, intervalMs: v.retentionInterval ?? 60_000 }
      : undefined,
    shutdownGraceMs: v.shutdownGrace ?? 5000,
    auditLog: v.auditLog,
    auditFsync: v.auditFsync ?? false,
    logFile: v.logFile,
    logLevel: v.logLevel,
    logFormat: v.logFormat,
    redact: v.redact ?? [],
    metrics: v.metrics,
    metricsToken: v.metricsToken,
    stateDir: v.stateDir ?? DEFAULT_STATE_DIR,
    nats:
      v.nats === 'off' ? 'off'
      : v.nats ? { servers: v.nats, tls: v.natsTlsCa || v.natsTlsCert ? { cert: v.natsTlsCert, key: v.natsTlsKey, ca: v.natsTlsCa } : undefined }
      : undefined,
    nodeName: v.nodeName ?? os.hostname(),
    cluster: Array.isArray(v.nats) ? clusterSettings(v) : undefined,
    httpSocket: v.httpSocket === 'off' ? undefined : (v.httpSocket ?? defaultApiSocket()),
    http: v.http ?? [],
    httpTimeouts: { headersMs: v.httpHeaderTimeout ?? 10_000, requestMs: v.httpRequestTimeout ?? 300_000, keepAliveMs: v.httpKeepAlive ?? 5000 },
    maxInputBytes: v.maxInput ?? DEFAULT_MAX_INPUT_BYTES,
    build: { timeoutMs: v.buildTimeout ?? 10 * 60_000, memoryBytes: v.buildMemory ?? 1024 ** 3, diskBytes: v.buildDisk ?? 256 * 1024 ** 2 },
    jobs: {
      slots: v.jobSlots ?? Math.max(1, Math.floor((v.maxConcurrent ?? DEFAULT_MAX_CONCURRENT) / 4)),
      queueLength: v.jobQueueLength ?? DEFAULT_JOB_QUEUE_LENGTH,
      perTenant: v.jobQueuePerTenant ?? DEFAULT_JOB_QUEUE_PER_TENANT,
      retentionMs: v.jobRetention ?? 7 * 24 * 3600_000,
      ackWaitMs: v.jobAckWait ?? 30_000,
      redeliveries: v.jobRedeliveries ?? 1,
    },
    expose: {
      services: v.expose ?? [],
      maxConnections: v.exposeMaxConnections ?? DEFAULT_EXPOSE_MAX_CONNECTIONS,
      maxPerClient: v.exposeMaxPerClient ?? DEFAULT_EXPOSE_MAX_PER_CLIENT,
      idleMs: v.exposeIdleTimeout ?? DEFAULT_EXPOSE_IDLE_MS,
    },
  };
}

/** A cluster node's settings; timings that cannot work are a conflict. */
function clusterSettings(v: ServeValues): NonNullable<ServeSettings['cluster']> {
  const heartbeatMs = v.heartbeat ?? DEFAULT_TIMINGS.heartbeatMs;
  const suspectAfterMs = v.suspectAfter ?? Math.max(DEFAULT_TIMINGS.suspectAfterMs, 3 * heartbeatMs);
  const downAfterMs = v.downAfter ?? Math.max(DEFAULT_TIMINGS.downAfterMs, suspectAfterMs + 2 * heartbeatMs);
  // The lease as long as a suspect's silence: a coordinator that died is replaced about when its death shows.
  const timings = { heartbeatMs, suspectAfterMs, downAfterMs, leaseMs: Math.max(2 * heartbeatMs, suspectAfterMs) };
  try {
    checkTimings(timings);
  } catch (error) {
    throw new SettingsConflict([{ message: (error as Error).message, names: ['heartbeat', 'suspectAfter', 'downAfter'] }]);
  }
  return { balance: v.balance ?? 'least-loaded', timings, replicas: v.natsReplicas ?? 1 };
}
