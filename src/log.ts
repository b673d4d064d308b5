// The server's logs, with pino: the operational log (what a person watching
// the server wants: stdout by default) and, through the same machinery, the
// audit log (src/audit/). Destinations are written synchronously (write(2) per
// line): a record is in the kernel before the reply goes out, so a crash of
// the server loses none. A file destination is opened for appending and can be
// reopened (SIGHUP, after logrotate moved it).
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

// pino-pretty only for a person at a terminal: it is not loaded otherwise
// (a server under systemd, or in tests, logs JSON).
const require = createRequire(import.meta.url);

export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  /** A file, or undefined for stdout. */
  file?: string | undefined;
  level?: string;
  /** pretty: for a person at a terminal (pino-pretty); default: pretty when stdout is a terminal and no file is given. */
  format?: LogFormat | undefined;
  /** fsync after every line (survives a power loss, at a cost per line). */
  fsync?: boolean;
  /** Paths of fields to hide (pino redact syntax, e.g. "peer.user"), replaced by "[redacted]". */
  redact?: string[];
}

export interface Log {
  logger: Logger;
  /** Where the lines go (shared with the audit log when it has no file of its own). */
  destination: DestinationStream;
  /** Reopens a file destination (logrotate); nothing for stdout. */
  reopen(): void;
  /** Whether lines go to stdout. */
  toStdout: boolean;
}

/** Options every fnjail logger shares, so that audit and operational lines look alike. */
export function loggerOptions(options: LogOptions): LoggerOptions {
  return {
    level: options.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.redact?.length ? { redact: { paths: options.redact, censor: '[redacted]' } } : {}),
  };
}

/** A synchronous, append-only destination: a file (created 0600) or stdout. */
export function openDestination(file: string | undefined, fsync = false): { stream: DestinationStream; reopen: () => void } {
  const boom = pino.destination({ dest: file ?? 1, sync: true, append: true, mkdir: file !== undefined, fsync, ...(file ? { mode: 0o600 } : {}) });
  return { stream: boom, reopen: () => (file ? boom.reopen() : undefined) };
}

export function createLog(options: LogOptions = {}): Log {
  const format = options.format ?? (options.file === undefined && process.stdout.isTTY ? 'pretty' : 'json');
  const level = options.level ?? process.env.FNJAIL_LOG_LEVEL ?? 'info';
  if (format === 'pretty') {
    if (options.file !== undefined) throw new Error('the pretty format is for a terminal: it cannot go to a file');
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    const destination = pretty({ sync: true, destination: 1, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' });
    return { logger: pino(loggerOptions({ ...options, level }), destination), destination, reopen: () => undefined, toStdout: true };
  }
  const { stream, reopen } = openDestination(options.file, options.fsync);
  return { logger: pino(loggerOptions({ ...options, level }), stream), destination: stream, reopen, toStdout: options.file === undefined };
}
