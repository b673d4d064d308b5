// The settings fnjail serve runs with: the config file's, then the flags' over
// them, then the defaults; and the checks that involve several settings.
import { DEFAULT_CLASSIC_WAIT_MS, defaultPolicyPath, defaultSocket, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_CONCURRENT, DEFAULT_QUEUE_LENGTH, DEFAULT_OUTPUT_DIR, DEFAULT_OUTPUT_TEMPLATE, DEFAULT_PREPARED, DEFAULT_SANDBOX_REUSE, DEFAULT_UID_RANGE } from './defaults.js';
import { flagOf, SERVE_OPTIONS, type OptionName, type ServeValues } from './serve-options.js';
import type { LogFormat } from '../log.js';

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
}

/** Two settings that do not go together: says so with both flags and both config keys. */
export class SettingsConflict extends Error {}

const both = (name: OptionName) => `${flagOf(name)} (${SERVE_OPTIONS[name].key})`;

export function serveSettings(file: ServeValues, flags: ServeValues): ServeSettings {
  const v: ServeValues = { ...file };
  for (const [name, value] of Object.entries(flags)) if (value !== undefined) (v as Record<string, unknown>)[name] = value;

  const listen = v.listen ?? [];
  const tlsParts = [v.tlsCert, v.tlsKey, v.tlsCa];
  if (tlsParts.some((p) => p !== undefined) && tlsParts.some((p) => p === undefined)) {
    throw new SettingsConflict(`TLS needs all three of ${both('tlsCert')}, ${both('tlsKey')} and ${both('tlsCa')}`);
  }
  const tls = v.tlsCert && v.tlsKey && v.tlsCa ? { cert: v.tlsCert, key: v.tlsKey, ca: v.tlsCa } : undefined;
  if (listen.length && !tls && !v.insecure) {
    throw new SettingsConflict(`${both('listen')} needs ${both('tlsCert')}, ${both('tlsKey')} and ${both('tlsCa')}: TCP is served with mutual TLS (or ${both('insecure')}, on loopback only)`);
  }
  if (v.insecure && tls) throw new SettingsConflict(`${both('insecure')} and TLS settings exclude each other`);
  if (v.insecure && !listen.length) throw new SettingsConflict(`${both('insecure')} is for ${both('listen')}`);
  if (v.auditFsync && v.auditLog === undefined) throw new SettingsConflict(`${both('auditFsync')} needs ${both('auditLog')}`);
  if (v.logFormat === 'pretty' && v.logFile !== undefined) throw new SettingsConflict(`${both('logFormat')} pretty is for a terminal; ${both('logFile')} gets json`);
  if (v.queueWait !== undefined && v.queueFull !== 'wait') throw new SettingsConflict(`${both('queueWait')} is for ${both('queueFull')} wait`);
  const retentionSet = v.retentionMaxAge !== undefined || v.retentionMaxSize !== undefined;
  if (!retentionSet && (v.retentionMinAge !== undefined || v.retentionInterval !== undefined)) {
    throw new SettingsConflict(`${both('retentionMinAge')} and ${both('retentionInterval')} are for ${both('retentionMaxAge')} or ${both('retentionMaxSize')}`);
  }
  const minAgeMs = v.retentionMinAge ?? 5 * 60_000;
  if (v.retentionMaxAge !== undefined && v.retentionMaxAge < minAgeMs) {
    throw new SettingsConflict(`${both('retentionMaxAge')} must be at least ${both('retentionMinAge')} (${minAgeMs} ms): a client may not have read a younger file yet`);
  }
  if (v.metricsToken !== undefined && v.metrics === undefined) throw new SettingsConflict(`${both('metricsToken')} is for ${both('metrics')}`);
  if (v.retentionInterval === 0) throw new SettingsConflict(`${both('retentionInterval')} must be more than 0`);

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
  };
}
