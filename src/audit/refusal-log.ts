// Refusals in the audit log, aggregated: a peer that is refused again and
// again (a client without a certificate retrying, plain text sent to the TLS
// port, a flood of connections beyond --max-clients, requests beyond a peer's
// budget) must not grow the log by a record per attempt. The first refusal of
// a kind (event, source, reason) in a window is written at once, whole; the
// next ones in the same window are counted, and one record with their count
// closes the window. Kinds are bounded too: past MAX_KINDS in a window, the
// rest are counted under one record "other refusals".
import type { AuditLog, LifecycleEvent } from './audit-log.js';

export const REFUSAL_WINDOW_MS = 10_000;
const MAX_KINDS = 1024;

interface Kind {
  event: LifecycleEvent;
  fields: Record<string, unknown>;
  message: string;
  /** Refusals after the first, in this window. */
  more: number;
}

export class RefusalLog {
  private kinds = new Map<string, Kind>();
  private readonly timer: NodeJS.Timeout;
  /** Refusals seen in all, and records written for them. */
  refusals = 0;
  records = 0;

  constructor(
    private readonly audit: AuditLog,
    private readonly windowMs = REFUSAL_WINDOW_MS,
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  /** A refusal of the kind `key` (its fields and message as the first record of the window says them). */
  refuse(event: LifecycleEvent, key: string, fields: Record<string, unknown>, message: string): void {
    this.refusals++;
    const known = this.kinds.get(key) ?? (this.kinds.size >= MAX_KINDS ? this.kinds.get('*') : undefined);
    if (known) {
      known.more++;
      return;
    }
    if (this.kinds.size >= MAX_KINDS) {
      this.kinds.set('*', { event, fields: { reason: 'other refusals' }, message: 'other refusals', more: 1 });
      return;
    }
    this.kinds.set(key, { event, fields, message, more: 0 });
    this.write(event, { ...fields, count: 1 }, message);
  }

  /** Closes the window: one record per kind refused again in it. */
  flush(): void {
    const seconds = this.windowMs / 1000;
    for (const { event, fields, message, more } of this.kinds.values()) {
      if (more > 0) this.write(event, { ...fields, count: more, windowSeconds: seconds }, `${message} (${more} more like it in the last ${seconds} s)`);
    }
    this.kinds = new Map();
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private write(event: LifecycleEvent, fields: Record<string, unknown>, message: string): void {
    this.records++;
    this.audit.lifecycle(event, fields, message, 'warn');
  }
}
