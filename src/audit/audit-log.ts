// The audit log: one record per request and one per event in the server's
// life (start, stop, launcher ready or restarted, policy loaded, reloaded or
// refused), JSON lines, each with an "event" field. By default it shares the
// operational log's destination (stdout); with a file of its own
// (--audit-log) it is opened append-only, written synchronously before the
// reply, and reopened on SIGHUP. Its records are never filtered by the log
// level: an audit trail with holes is not one. The function's output is never
// in it.
import fs from 'node:fs';
import { pino, type Logger } from 'pino';
import type { ExecutionResult } from '../executor/executor.js';
import { loggerOptions, openDestination, type Log } from '../log.js';
import type { Tenant } from '../policy/decide.js';
import { executionEvent } from './audit-event.js';

export type LifecycleEvent =
  | 'server-start'
  | 'server-stop'
  | 'launcher-ready'
  | 'launcher-exit'
  | 'policy-load'
  | 'policy-reload'
  | 'policy-rejected'
  | 'connection-refused';

export interface AuditOptions {
  /** The audit log's own file; undefined: the operational log's destination. */
  file?: string | undefined;
  fsync?: boolean;
  redact?: string[];
}

export class AuditLog {
  private readonly out: Logger;
  private readonly reopenFile: () => void;
  /** Whether the audit log has a destination of its own. */
  readonly separate: boolean;

  constructor(
    private readonly log: Log,
    readonly options: AuditOptions = {},
  ) {
    this.separate = options.file !== undefined;
    const base = { ...loggerOptions({ redact: options.redact }), level: 'info' };
    if (options.file !== undefined) {
      const { stream, reopen } = openDestination(options.file, options.fsync);
      this.out = pino(base, stream);
      this.reopenFile = reopen;
    } else {
      this.out = pino(base, log.destination);
      this.reopenFile = () => undefined;
    }
  }

  /** The record of a request, written before its reply. */
  execution(result: ExecutionResult, peer: Tenant): void {
    this.out.info(executionEvent(result, peer, outputSize(result.outputPath)), 'call finished');
  }

  /** An event in the server's life: in the audit log, and in the operational log when that is elsewhere. */
  lifecycle(event: LifecycleEvent, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.out[level]({ event, ...fields }, message);
    if (this.separate) this.log.logger[level]({ event, ...fields }, message);
  }

  /** After logrotate moved the file: go on in a new one at the same path. */
  reopen(): void {
    this.reopenFile();
  }
}

function outputSize(file: string | undefined): number | null {
  if (!file) return null;
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}
