// The server's logs, with pino: the operational log (what a person watching
// the server wants: stdout by default) and, through the same machinery, the
// audit log (src/audit/). Lines go through a LineSink (log-sink.ts): written
// synchronously (write(2) per line, so a record is in the kernel before the
// reply goes out), failures handled and reported instead of thrown or lost,
// files opened by log-file.ts's rules and reopened on SIGHUP.
import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { redactionHooks } from './log-redact.js';
import { LineSink, writeStderr, type SinkHealth } from './log-sink.js';

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
  /** Paths of fields to hide (pino redact syntax, e.g. "peer.user"), replaced by "[redacted]", wherever else their values appear too. */
  redact?: string[];
}

/** Where lines go: `write` never throws, `writeOrThrow` says why a line could not be written. */
export interface LineDestination {
  write(line: string): void;
  writeOrThrow(line: string): void;
  /** Lines written together: all in one write(2), or none. */
  writeLinesOrThrow(lines: string[]): void;
  readonly health: SinkHealth;
  reopen(): void;
}

export interface Log {
  logger: Logger;
  /** Where the lines go (shared with the audit log when it has no file of its own). */
  destination: LineDestination;
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
    ...(options.redact?.length ? { redact: { paths: options.redact, censor: '[redacted]' }, hooks: redactionHooks(options.redact) } : {}),
  };
}

/** pino-pretty's rendering in front of a sink: for a person at a terminal. */
class PrettyDestination implements LineDestination {
  private readonly render = (require('pino-pretty') as typeof import('pino-pretty')).prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' });

  constructor(private readonly sink: LineSink) {}

  get health(): SinkHealth {
    return this.sink.health;
  }

  write(line: string): void {
    this.sink.write(this.render(line));
  }

  writeOrThrow(line: string): void {
    this.sink.writeOrThrow(this.render(line));
  }

  writeLinesOrThrow(lines: string[]): void {
    this.sink.writeLinesOrThrow(lines.map((line) => this.render(line)));
  }

  reopen(): void {
    this.sink.reopen();
  }
}

/** Reports on stderr that a destination stopped (or went on) working: it cannot say so itself. */
export function reportOnStderr(what: string): (health: SinkHealth, error: string | undefined) => void {
  return (health, error) =>
    writeStderr(
      JSON.stringify({
        level: error ? 50 : 30,
        time: new Date().toISOString(),
        pid: process.pid,
        msg: error ? `the ${what} cannot be written: ${error}; lines are lost until it can` : `the ${what} can be written again (${health.failures} lines lost)`,
      }),
    );
}

export function createLog(options: LogOptions = {}): Log {
  const format = options.format ?? (options.file === undefined && process.stdout.isTTY ? 'pretty' : 'json');
  const level = options.level ?? process.env.FNJAIL_LOG_LEVEL ?? 'info';
  if (format === 'pretty' && options.file !== undefined) throw new Error('the pretty format is for a terminal: it cannot go to a file');
  const sink = new LineSink(options.file ?? 1, { onChange: reportOnStderr(options.file ? `log file ${options.file}` : 'log on stdout') });
  const destination: LineDestination = format === 'pretty' ? new PrettyDestination(sink) : sink;
  return {
    logger: pino(loggerOptions({ ...options, level }), destination),
    destination,
    reopen: () => destination.reopen(),
    toStdout: options.file === undefined,
  };
}
