// Every setting of `fnjail serve`, in one table: its command-line flag, its key
// in the config file (policies/config.schema.json), its default, how its text
// is read and what --help says. A flag wins over the file; a repeatable flag
// replaces the file's list. The table is the one place a setting is added.
import { parseExposeSpec, type ExposeSpec } from '../inetd/expose-spec.js';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';
import { DEFAULT_API_SOCKET, DEFAULT_STATE_DIR, DEFAULT_CLASSIC_WAIT_MS, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_CONCURRENT, DEFAULT_QUEUE_LENGTH, DEFAULT_OUTPUT_DIR, DEFAULT_OUTPUT_TEMPLATE, DEFAULT_PREPARED, DEFAULT_REFUSED_BURST, DEFAULT_REFUSED_PER_SECOND, DEFAULT_SANDBOX_REUSE, DEFAULT_SOCKET, DEFAULT_UID_RANGE, DEFAULT_EXPOSE_MAX_CONNECTIONS, DEFAULT_EXPOSE_MAX_PER_CLIENT, DEFAULT_JOB_QUEUE_LENGTH, DEFAULT_JOB_QUEUE_PER_TENANT } from './defaults.js';

/** What a flag's or a file's value is read as. */
type Reader<T> = (value: unknown) => T;

interface Option<T> {
  /** The key in the config file; the flag is the same in kebab case. */
  key: string;
  /** Shown in --help after the flag. */
  arg?: string;
  repeatable?: boolean;
  boolean?: boolean;
  read: Reader<T>;
  /** The default shown in --help (the value itself may depend on the environment). */
  shownDefault?: string;
  help: string;
  /** Only on the command line (--config). */
  flagOnly?: boolean;
}

/** Thrown by a reader: what is wrong with the value, without where it came from. */
export class BadValue extends Error {}

const text: Reader<string> = (v) => {
  if (typeof v !== 'string' || v === '') throw new BadValue('must be a non-empty string');
  return v;
};
const absolute: Reader<string> = (v) => {
  const s = text(v);
  if (!s.startsWith('/')) throw new BadValue(`must be an absolute path, not '${s}'`);
  return s;
};
const list =
  <T>(item: Reader<T>): Reader<T[]> =>
  (v) =>
    (Array.isArray(v) ? v : [v]).map(item);
const integer =
  (min: number, max: number): Reader<number> =>
  (v) => {
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new BadValue(`must be an integer from ${min} to ${max}, not '${String(v)}'`);
    return n;
  };
const oneOf =
  <T extends string>(...values: T[]): Reader<T> =>
  (v) => {
    if (!values.includes(v as T)) throw new BadValue(`must be ${values.join(', ')}, not '${String(v)}'`);
    return v as T;
  };
const flag: Reader<boolean> = (v) => {
  if (typeof v !== 'boolean') throw new BadValue('must be true or false');
  return v;
};
const duration: Reader<number> = (v) => {
  try {
    return parseDuration(v as string | number);
  } catch (error) {
    throw new BadValue((error as Error).message);
  }
};
const size: Reader<number> = (v) => {
  try {
    return parseSize(v as string | number, { unitRequired: true });
  } catch (error) {
    throw new BadValue((error as Error).message);
  }
};
const uidRange: Reader<{ first: number; last: number }> = (v) => {
  const match = typeof v === 'string' ? /^(\d+)-(\d+)$/.exec(v) : null;
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || last < first || last >= 0xffffffff) throw new BadValue(`must be FIRST-LAST with 0 < FIRST <= LAST, not '${String(v)}'`);
  return { first, last };
};
const mode: Reader<number> = (v) => {
  if (typeof v !== 'string' || !/^0?[0-7]{3}$/.test(v)) throw new BadValue(`must be an octal mode such as "0660", not '${String(v)}'`);
  return parseInt(v, 8);
};
const owner: Reader<string | number> = (v) => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  if (typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(v)) return v;
  throw new BadValue(`must be a name or a numeric id, not '${String(v)}'`);
};
const natsServers: Reader<string[] | 'off'> = (v) => {
  const s = text(v);
  if (s === 'off') return 'off';
  const urls = s.split(',').map((u) => u.trim());
  if (urls.some((u) => u === '')) throw new BadValue(`must be URL[,URL...] (nats://HOST:PORT, tls://HOST:PORT or HOST:PORT) or off, not '${s}'`);
  return urls;
};
const socketOrOff: Reader<string> = (v) => {
  const s = text(v);
  return s === 'off' ? s : absolute(s);
};
const nodeName: Reader<string> = (v) => {
  const s = text(v);
  // It becomes the sandboxes' host name: a host name's characters, at most 64 (HOST_NAME_MAX).
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$/.test(s)) throw new BadValue(`must be a host name (letters, digits, dots and dashes, at most 64), not '${s}'`);
  return s;
};
const exposeSpec: Reader<ExposeSpec> = (v) => {
  try {
    return parseExposeSpec(text(v));
  } catch (error) {
    throw new BadValue((error as Error).message);
  }
};
const template: Reader<string> = (v) => {
  const s = text(v);
  if (!/^[A-Za-z0-9._-]*X{6,}$/.test(s)) throw new BadValue(`must be a file name ending in at least six X (replaced by random characters), such as out-XXXXXX, not '${s}'`);
  return s;
};

/** The settings, in the order --help lists them. */
export const SERVE_OPTIONS = {
  config: { key: 'config', arg: 'FILE', read: absolute, flagOnly: true, shownDefault: '/etc/fnjail/config.json if it exists', help: 'the config file (JSON, policies/config.schema.json); flags win over it' },
  socket: { key: 'socket', arg: 'PATH', read: absolute, shownDefault: `$FNJAIL_SOCKET, else ${DEFAULT_SOCKET}`, help: 'the UNIX socket to listen on' },
  socketOwner: { key: 'socketOwner', arg: 'USER', read: owner, shownDefault: 'root', help: 'owner of the socket file' },
  socketGroup: { key: 'socketGroup', arg: 'GROUP', read: owner, shownDefault: 'root', help: 'group of the socket file' },
  socketMode: { key: 'socketMode', arg: 'MODE', read: mode, shownDefault: '0666: any local user may connect, the policy decides what each may run', help: 'mode of the socket file' },
  listen: { key: 'listen', arg: 'HOST:PORT', repeatable: true, read: list(text), help: 'also listen on TCP, with TLS (repeatable); clients must present a certificate from --tls-ca' },
  tlsCert: { key: 'tlsCert', arg: 'FILE', read: absolute, help: "the server's TLS certificate (PEM) for --listen" },
  tlsKey: { key: 'tlsKey', arg: 'FILE', read: absolute, help: 'its private key (PEM)' },
  tlsCa: { key: 'tlsCa', arg: 'FILE', read: absolute, help: 'the CA whose client certificates are accepted; a certificate names its tenant (docs/policy.md)' },
  insecure: { key: 'insecure', boolean: true, read: flag, help: 'plain TCP without TLS, only for --listen on loopback (tests, a local proxy)' },
  outputDir: { key: 'outputDir', arg: 'DIR', read: absolute, shownDefault: DEFAULT_OUTPUT_DIR, help: 'where output files are created; made root-owned 0711' },
  outputTemplate: { key: 'outputTemplate', arg: 'NAME', read: template, shownDefault: DEFAULT_OUTPUT_TEMPLATE, help: 'output file names; the X are random' },
  policy: { key: 'policy', arg: 'PATH', read: absolute, shownDefault: 'the first of /etc/fnjail/policy.d, /etc/fnjail/policy.json, the shipped one', help: 'the policy: a file or a directory of *.json files; reloaded when it changes' },
  allowDir: { key: 'allowDirs', arg: 'DIR', repeatable: true, read: list(absolute), help: 'a directory whose libraries and input files every tenant may use, on top of the policy (repeatable)' },
  compat: { key: 'compat', arg: 'classic|none', read: oneOf('classic', 'none'), shownDefault: 'none', help: 'classic: byte-exact classic error files (the error line alone when the function did not run, nothing added when it did)' },
  uidRange: { key: 'uidRange', arg: 'FIRST-LAST', read: uidRange, shownDefault: `${DEFAULT_UID_RANGE.first}-${DEFAULT_UID_RANGE.last}`, help: 'uids and gids given to sandboxes; none may belong to a real user' },
  maxClients: { key: 'maxClients', arg: 'N', read: integer(1, 1_000_000), shownDefault: String(DEFAULT_MAX_CLIENTS), help: 'connections at once; more are answered "server busy" and closed' },
  refusedBurst: { key: 'refusedBurst', arg: 'N', read: integer(1, 1_000_000), shownDefault: String(DEFAULT_REFUSED_BURST), help: 'requests refused before they run (malformed, denied, missing library...) one peer may make at once, over all its connections; beyond, they are answered without an output file (docs/protocol.md)' },
  refusedPerSecond: { key: 'refusedPerSecond', arg: 'N', read: integer(1, 1_000_000), shownDefault: String(DEFAULT_REFUSED_PER_SECOND), help: "how fast a peer's --refused-burst comes back, per second" },
  maxConcurrent: { key: 'maxConcurrent', arg: 'N', read: integer(1, 4096), shownDefault: String(DEFAULT_MAX_CONCURRENT), help: 'calls running at once; more wait in line' },
  queueLength: { key: 'queueLength', arg: 'N', read: integer(0, 1_000_000), shownDefault: String(DEFAULT_QUEUE_LENGTH), help: 'calls waiting in line at most' },
  queueFull: { key: 'queueFull', arg: 'refuse|wait', read: oneOf('refuse', 'wait'), shownDefault: 'refuse', help: 'when the line is full: refuse the call at once, or wait up to --queue-wait for room, then refuse' },
  queueWait: { key: 'queueWait', arg: 'DURATION', read: duration, shownDefault: '5s', help: 'with --queue-full wait: how long a call may wait for room in the line' },
  idleTimeout: { key: 'idleTimeout', arg: 'DURATION', read: duration, shownDefault: '60s', help: 'close a connection that sends nothing for this long while nothing of it runs (0: never)' },
  classicWait: { key: 'classicWait', arg: 'DURATION', read: duration, shownDefault: `${DEFAULT_CLASSIC_WAIT_MS}ms`, help: 'how long a message without a newline waits for more bytes before it runs as one classic command; a newline, or the client closing its side, ends it at once (docs/protocol.md)' },
  prepared: { key: 'prepared', arg: 'N', read: integer(0, 64), shownDefault: String(DEFAULT_PREPARED), help: 'sandboxes kept prepared while idle' },
  seccomp: { key: 'seccomp', arg: 'PROFILE', read: text, shownDefault: "each tenant's seccompProfile", help: 'the seccomp profile of every call: default, minimal, learn, a profile file, or none' },
  netns: { key: 'netns', arg: 'MODE', read: oneOf('auto', 'fresh', 'shared'), shownDefault: 'auto', help: 'auto: one shared empty network namespace while the profile refuses socket(), else one per call; fresh: one per call; shared: never' },
  sandboxReuse: { key: 'sandboxReuse', arg: 'N', read: integer(1, 100_000), shownDefault: String(DEFAULT_SANDBOX_REUSE), help: 'calls a sandbox serves one after the other, reset in between (SECURITY.md); 1: new namespaces every call' },
  retentionMaxAge: { key: 'retentionMaxAge', arg: 'DURATION', read: duration, help: 'remove output files older than this (e.g. 7d)' },
  retentionMaxSize: { key: 'retentionMaxSize', arg: 'SIZE', read: size, help: 'then remove the oldest output files while they total more (e.g. "10 GiB")' },
  retentionMinAge: { key: 'retentionMinAge', arg: 'DURATION', read: duration, shownDefault: '5m', help: 'never remove a file younger than this for size (its client may not have read it)' },
  retentionInterval: { key: 'retentionInterval', arg: 'DURATION', read: duration, shownDefault: '1m', help: 'how often output files are swept' },
  shutdownGrace: { key: 'shutdownGrace', arg: 'DURATION', read: duration, shownDefault: '5s', help: 'on SIGTERM, how long running calls may finish before they are killed (every accepted call is answered)' },
  auditLog: { key: 'auditLog', arg: 'PATH', read: absolute, shownDefault: 'among the log lines', help: 'the audit log in a file of its own: appended, 0600, reopened on SIGHUP' },
  auditFsync: { key: 'auditFsync', boolean: true, read: flag, help: 'fsync the audit log after every record (survives a power loss)' },
  logFile: { key: 'logFile', arg: 'PATH', read: absolute, shownDefault: 'stdout', help: 'the other log lines to a file (reopened on SIGHUP)' },
  logLevel: { key: 'logLevel', arg: 'LEVEL', read: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal'), shownDefault: 'info', help: 'audit records are written whatever the level' },
  logFormat: { key: 'logFormat', arg: 'FORMAT', read: oneOf('json', 'pretty'), shownDefault: 'pretty at a terminal, else json', help: 'pretty: for a person at a terminal' },
  redact: { key: 'redact', arg: 'FIELD', repeatable: true, read: list(text), help: 'a log field to hide, e.g. peer.user (repeatable; pino redact paths)' },
  metrics: { key: 'metrics', arg: '[HOST:]PORT', read: text, help: 'Prometheus metrics at http://HOST:PORT/metrics (HOST default 127.0.0.1); without the token, totals only: no tenant, no library' },
  stateDir: { key: 'stateDir', arg: 'DIR', read: absolute, shownDefault: DEFAULT_STATE_DIR, help: "the server's state: unpacked functions, request bodies being spooled, the private nats-server's data; root-owned, writable by nobody else" },
  nats: { key: 'nats', arg: 'URL[,URL...]|off', read: natsServers, shownDefault: 'a private nats-server, started and supervised by the server', help: 'the NATS system that holds the function registry (tls://HOST:PORT, several for a cluster); off: no registry, no calls by name (docs/functions.md)' },
  natsTlsCert: { key: 'natsTlsCert', arg: 'FILE', read: absolute, help: "this node's certificate (PEM) for --nats (mutual TLS)" },
  natsTlsKey: { key: 'natsTlsKey', arg: 'FILE', read: absolute, help: 'its private key (PEM)' },
  natsTlsCa: { key: 'natsTlsCa', arg: 'FILE', read: absolute, help: "the CA of the NATS servers' certificates" },
  nodeName: { key: 'nodeName', arg: 'NAME', read: nodeName, shownDefault: "the machine's host name", help: "this node's name: in the NATS system and the status, and the host name sandboxes see" },
  balance: { key: 'balance', arg: 'MODE', read: oneOf('least-loaded', 'round-robin'), shownDefault: 'least-loaded', help: 'with --nats URL (a cluster): least-loaded runs a call here while a slot is free, else on the node with the most free slots; round-robin sends calls to every node in turn (docs/cluster.md)' },
  heartbeat: { key: 'heartbeat', arg: 'DURATION', read: duration, shownDefault: '1s', help: "with --nats URL: between two of this node's heartbeats" },
  suspectAfter: { key: 'suspectAfter', arg: 'DURATION', read: duration, shownDefault: '3s', help: 'with --nats URL: a node silent this long is suspect (no new calls)' },
  downAfter: { key: 'downAfter', arg: 'DURATION', read: duration, shownDefault: '5s', help: 'with --nats URL: a node silent this long is down (its started calls are lost, never run again)' },
  natsReplicas: { key: 'natsReplicas', arg: 'N', read: integer(1, 5), shownDefault: '1', help: 'with --nats URL: replicas of the registry and of the member table (3 on a cluster of three nats-servers: one may be lost)' },
  httpSocket: { key: 'httpSocket', arg: 'PATH|off', read: socketOrOff, shownDefault: `$FNJAIL_API_SOCKET, else ${DEFAULT_API_SOCKET}`, help: 'the API socket: HTTP over a UNIX socket, callers known by their uid as on --socket (fnjail deploy, call, functions use it); off: none' },
  http: { key: 'http', arg: 'HOST:PORT', repeatable: true, read: list(text), help: 'serve the HTTP API on TCP too (repeatable), with TLS (--tls-cert, --tls-key, --tls-ca): a client presents a certificate from --tls-ca or a bearer token (docs/http.md); plain HTTP only on loopback, with --insecure' },
  httpHeaderTimeout: { key: 'httpHeaderTimeout', arg: 'DURATION', read: duration, shownDefault: '10s', help: "an HTTP request's headers must arrive within this; a slower client is answered 408 and cut off" },
  httpRequestTimeout: { key: 'httpRequestTimeout', arg: 'DURATION', read: duration, shownDefault: '5m', help: 'a whole HTTP request (headers and body) must arrive within this' },
  httpKeepAlive: { key: 'httpKeepAlive', arg: 'DURATION', read: duration, shownDefault: '5s', help: 'an idle HTTP connection (keep-alive) is closed after this' },
  maxInput: { key: 'maxInput', arg: 'SIZE', read: size, shownDefault: '64 MiB', help: 'the largest request body (a function\'s input) over HTTP; more is refused (413); a tenant\'s maxInput may lower it' },
  buildTimeout: { key: 'buildTimeout', arg: 'DURATION', read: duration, shownDefault: '10m', help: "a function's build (fnjail deploy of a bundle with \"build\"): wall clock and CPU time" },
  buildMemory: { key: 'buildMemory', arg: 'SIZE', read: size, shownDefault: '1 GiB', help: "a build's memory" },
  buildDisk: { key: 'buildDisk', arg: 'SIZE', read: size, shownDefault: '256 MiB', help: "a build's disk: the size of its work directory, and of its /tmp" },
  jobSlots: { key: 'jobSlots', arg: 'N', read: integer(0, 4096), shownDefault: 'a quarter of --max-concurrent, at least 1', help: 'job replicas this node runs at once, out of --max-concurrent (jobs never take every sandbox from calls); 0: none (docs/jobs.md)' },
  jobQueueLength: { key: 'jobQueueLength', arg: 'N', read: integer(1, 10_000_000), shownDefault: String(DEFAULT_JOB_QUEUE_LENGTH), help: 'job replicas waiting or running in the whole queue, at most; a submit beyond is refused' },
  jobQueuePerTenant: { key: 'jobQueuePerTenant', arg: 'N', read: integer(1, 10_000_000), shownDefault: String(DEFAULT_JOB_QUEUE_PER_TENANT), help: "job replicas of one tenant waiting or running, at most; a submit beyond is refused" },
  jobRetention: { key: 'jobRetention', arg: 'DURATION', read: duration, shownDefault: '7d', help: 'how long an ended job nobody closed keeps its ticket and outputs' },
  jobAckWait: { key: 'jobAckWait', arg: 'DURATION', read: duration, shownDefault: '30s', help: 'how long a replica whose node stopped answering is held before another node gets it (at least 1s)' },
  jobRedeliveries: { key: 'jobRedeliveries', arg: 'N', read: integer(0, 100), shownDefault: '1', help: 'times a replica whose node was lost is run again; then it is INVALID "node lost"' },
  expose: { key: 'expose', arg: 'NAME=HOST:PORT[@TENANT]', repeatable: true, read: list(exposeSpec), help: "serve a per-connection program function on a TCP port, plain TCP (inetd): one sandbox per connection, the connection its stdin and stdout; its clients act as TENANT, else as the function's owner (repeatable; docs/functions.md)" },
  exposeMaxConnections: { key: 'exposeMaxConnections', arg: 'N', read: integer(1, 100_000), shownDefault: String(DEFAULT_EXPOSE_MAX_CONNECTIONS), help: 'connections at once to one exposed function; more are closed at once (and recorded)' },
  exposeMaxPerClient: { key: 'exposeMaxPerClient', arg: 'N', read: integer(1, 100_000), shownDefault: String(DEFAULT_EXPOSE_MAX_PER_CLIENT), help: 'connections at once from one client address to the exposed functions; more are closed at once (and recorded)' },
  exposeIdleTimeout: { key: 'exposeIdleTimeout', arg: 'DURATION', read: duration, shownDefault: '60s', help: 'end an exposed connection that carries no data either way for this long (0: never; the call\'s time limit applies anyway)' },
  metricsToken: { key: 'metricsToken', arg: 'FILE', read: absolute, help: 'a file (root, 0600) holding the bearer token that shows the metrics by tenant and library (as stats shows monitors)' },
} satisfies Record<string, Option<unknown>>;

export type OptionName = keyof typeof SERVE_OPTIONS;
type ValueOf<N extends OptionName> = ReturnType<(typeof SERVE_OPTIONS)[N]['read']>;
/** What was set, by a flag or the file; defaults are applied by the server's settings. */
export type ServeValues = { [N in OptionName]?: ValueOf<N> };

export function flagOf(name: OptionName): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** node:util parseArgs options for every setting. */
export function parseArgsOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, option] of Object.entries(SERVE_OPTIONS) as Array<[OptionName, Option<unknown>]>) {
    options[flagOf(name).slice(2)] = { type: option.boolean ? 'boolean' : 'string', ...(option.repeatable ? { multiple: true } : {}) };
  }
  return options;
}

/** The options part of fnjail serve --help, from the table. */
export function optionsHelp(extra: Array<{ left: string; right: string }> = [], columns = 80): string {
  const rows = (Object.entries(SERVE_OPTIONS) as Array<[OptionName, Option<unknown>]>).map(([name, o]) => ({
    left: `  ${flagOf(name)}${o.arg ? ` ${o.arg}` : ''}`,
    right: `${o.help}${o.shownDefault ? ` (default: ${o.shownDefault})` : ''}`,
  }));
  rows.push(...extra.map(({ left, right }) => ({ left: `  ${left}`, right })), { left: '  --help', right: 'this text' });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return rows
    .map(({ left, right }) => wrap(right, columns - width).map((line, i) => (i === 0 ? left.padEnd(width) : ' '.repeat(width)) + line).join('\n'))
    .join('\n');
}

/** Words into lines of at most width characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Reads one setting; throws BadValue. */
export function readOption<N extends OptionName>(name: N, value: unknown): ValueOf<N> {
  return SERVE_OPTIONS[name].read(value) as ValueOf<N>;
}

/** The config file's key for each setting (all but --config). */
export function configKeys(): Map<string, OptionName> {
  const keys = new Map<string, OptionName>();
  for (const [name, option] of Object.entries(SERVE_OPTIONS) as Array<[OptionName, Option<unknown>]>) {
    if (!option.flagOnly) keys.set(option.key, name);
  }
  return keys;
}
