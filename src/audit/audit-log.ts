// The audit log: records of requests and of events in the server's life
// (start, stop, launcher ready or restarted, policy loaded, reloaded or
// refused, connections and requests refused), JSON lines, each with an
// "event" field. By default it shares the operational log's destination
// (stdout); with a file of its own (--audit-log) it is opened by
// log-file.ts's rules, written synchronously and reopened on SIGHUP. Its
// records are never filtered by the log level: an audit trail with holes is
// not one. The function's output is never in it.
//
// A call runs only once its record is written: `beforeRun` writes the
// `execution-start` record (who, what, under which rule, which output file)
// and, when that fails (a full disk, an I/O error with --audit-fsync, a
// removed directory), says why, and the executor refuses the call. The other
// records (the outcome, life events) never throw: a failure is counted,
// reported once on another destination, and visible in the statistics; the
// server goes on, and calls run again as soon as a record can be written.
// Records of one event that are written at the same moment (the changes of
// a replica and of its ticket that one write of a job's record made) can be
// written together (`together`): one write(2) for all, each record a line of
// its own, all of them in the kernel or none.
import fs from 'node:fs';
import { pino, type Logger } from 'pino';
import type { ExecutionResult } from '../executor/executor.js';
import { loggerOptions, reportOnStderr, type LineDestination, type Log } from '../log.js';
import { LineSink, type SinkHealth } from '../log-sink.js';
import type { Tenant } from '../policy/decide.js';
import { executionEvent, executionStartEvent } from './audit-event.js';

export type LifecycleEvent =
  | 'server-start'
  | 'server-stop'
  | 'launcher-ready'
  | 'launcher-exit'
  | 'policy-load'
  | 'policy-reload'
  | 'policy-rejected'
  | 'connection-refused'
  | 'requests-refused'
  | 'function-deploy'
  | 'function-remove'
  | 'cluster-member'
  | 'job-submit'
  | 'job-state'
  | 'job-close';

export interface AuditOptions {
  /** The audit log's own file; undefined: the operational log's destination. */
  file?: string | undefined;
  fsync?: boolean;
  redact?: string[];
}

export interface AuditHealth extends SinkHealth {
  /** Calls refused because their record could not be written. */
  refusedCalls: number;
}

export class AuditLog {
  private readonly out: Logger;
  private readonly destination: LineDestination;
  /** Whether the audit log has a destination of its own. */
  readonly separate: boolean;
  private refusedCalls = 0;
  /** Lines held by together() until its end; undefined: each is written at once. */
  private held: string[] | undefined;
  /** Whether the records of calls may be built without pino (no --redact: pino does the redaction). */
  private readonly direct: boolean;

  constructor(
    private readonly log: Log,
    readonly options: AuditOptions = {},
  ) {
    this.separate = options.file !== undefined;
    const base = { ...loggerOptions({ redact: options.redact }), level: 'info' };
    this.destination =
      options.file !== undefined ? new LineSink(options.file, { fsync: options.fsync, onChange: (health, error) => this.changed(health, error) }) : log.destination;
    // Every write says whether it worked: the callers decide what a failure means.
    this.out = pino(base, { write: (line: string) => this.emit(line) });
    this.direct = !options.redact?.length;
  }

  /** A line to the destination (or held by together()); throws SinkError when it cannot be written. */
  private emit(line: string): void {
    if (this.held) this.held.push(line);
    else this.destination.writeOrThrow(line);
  }

  /** An info record of a call: as pino would write it, built directly when it can be (callRecordLine). */
  private callRecord(fields: object, message: string): void {
    const line = this.direct ? callRecordLine(fields, message) : undefined;
    if (line === undefined) this.out.info(fields, message);
    else this.emit(line);
  }

  get health(): AuditHealth {
    return { ...this.destination.health, refusedCalls: this.refusedCalls };
  }

  /** The record written before a call runs. Returns why the call must not run, or undefined once the record is written. */
  beforeRun(result: ExecutionResult, peer: Tenant): string | undefined {
    try {
      this.callRecord(executionStartEvent(result, peer), 'call starting');
      return undefined;
    } catch (error) {
      this.refusedCalls++;
      return `the audit log cannot be written (${(error as Error).message}); calls are refused until it can, and this one did not run`;
    }
  }

  /** The record of a request, written before its reply. */
  execution(result: ExecutionResult, peer: Tenant): void {
    this.quietly(() => this.callRecord(executionEvent(result, peer, result.outputBytes ?? outputSize(result.outputPath)), 'call finished'));
  }

  /** An event in the server's life: in the audit log, and in the operational log when that is elsewhere. */
  lifecycle(event: LifecycleEvent, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.quietly(() => this.out[level]({ event, ...fields }, message));
    if (this.separate) this.log.logger[level]({ event, ...fields }, message);
  }

  /** A change of the function registry (a deploy, a removal), done or refused: recorded either way. */
  functionChange(event: 'function-deploy' | 'function-remove', fields: Record<string, unknown>, message: string, done: boolean): void {
    this.lifecycle(event, fields, message, done ? 'info' : 'warn');
  }

  /** A job submitted (or refused), a change of state of one of its replicas or of its ticket, its closing. */
  job(event: 'job-submit' | 'job-state' | 'job-close', fields: Record<string, unknown>, message: string, level: 'info' | 'warn' = 'info'): void {
    this.lifecycle(event, fields, message, level);
  }

  /** Runs `write`, which writes records that never throw (lifecycle, job),
   * and writes them in one write(2) at its end. Not for beforeRun: a call's
   * start record is written before the call, on its own. */
  together(write: () => void): void {
    if (this.held) return write();
    const held: string[] = (this.held = []);
    try {
      write();
    } finally {
      this.held = undefined;
      if (held.length) this.quietly(() => this.destination.writeLinesOrThrow(held));
    }
  }

  /** After logrotate moved the file: go on in a new one at the same path. */
  reopen(): void {
    if (this.separate) this.destination.reopen();
  }

  /** A failed write is counted by the destination and reported when the destination changes state. */
  private quietly(write: () => void): void {
    try {
      write();
    } catch {
      // counted in health; reported by changed()
    }
  }

  /** The audit file stopped (or went on) working: say so where someone will see it. */
  private changed(health: SinkHealth, error: string | undefined): void {
    const file = this.options.file;
    if (this.log.destination.health.ok) {
      if (error) this.log.logger.error({ component: 'audit', auditLog: file, error }, `the audit log ${file} cannot be written (${error}): calls are refused until it can`);
      else this.log.logger.warn({ component: 'audit', auditLog: file, lost: health.failures, refusedCalls: this.refusedCalls }, `the audit log ${file} can be written again; calls run again`);
    } else {
      reportOnStderr(`audit log ${file}`)(health, error);
    }
  }
}

/**
 * The line pino writes for logger.info(fields, message) under loggerOptions()
 * without redaction ({"level":30,"time":ISO,"pid":N, the fields, "msg"}),
 * made by one JSON.stringify: pino's own loop looks every field up in its
 * serializers and stringifiers (lookups that the server's many other records
 * make megamorphic) and escapes it on its own; measured with those lookups
 * megamorphic, 8-14 us for the two records of a call against 6-10 us. The same bytes (test/unit/audit-record-line.test.ts
 * compares them): JSON.stringify and pino write numbers, nested values,
 * undefined and non-finite numbers alike, and strings alike except a lone
 * surrogate, which pino leaves raw in a short string and JSON.stringify
 * escapes (\udXXX): a record with one (or with the text "\ud" anywhere) is
 * left to pino (undefined).
 */
export function callRecordLine(fields: object, message: string): string | undefined {
  const body = JSON.stringify(fields);
  if (body.length <= 2 || body.includes('\\ud')) return undefined;
  return `{"level":30,"time":"${new Date(Date.now()).toISOString()}","pid":${process.pid},${body.slice(1, -1)},"msg":${JSON.stringify(message)}}\n`;
}

function outputSize(file: string | undefined): number | null {
  if (!file) return null;
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}
