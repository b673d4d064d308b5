// The tickets this node saw last (submitted here, or changed by it), with
// their state as it last saw it: the dashboard's list of recent jobs. A
// ticket another node changed afterwards keeps the state this node saw.
import type { JobRecord, JobState } from './job-record.js';

export interface RecentTicket {
  ticket: string;
  /** The function's name, or "bundle" and the start of its hash. */
  function: string;
  status: JobState;
  replicas: number;
  /** Epoch milliseconds. */
  submittedAt: number;
}

/** How many tickets the dashboard shows. */
const KEPT = 20;

export class RecentTickets {
  /** By ticket, the latest seen last (Map order). */
  private readonly tickets = new Map<string, RecentTicket>();

  /** A ticket's record as written: its latest state. With `ifNew`, only a ticket not seen yet
   * (a submit's record, which a start applied meanwhile may already have overtaken). */
  noteRecord(record: Pick<JobRecord, 'ticket' | 'target' | 'state' | 'replicas' | 'submittedAt'>, ifNew = false): void {
    if (ifNew && this.tickets.has(record.ticket)) return;
    const { target } = record;
    this.note({
      ticket: record.ticket,
      function: target.kind === 'function' ? target.name : `bundle ${target.hash.slice(0, 12)}`,
      status: record.state,
      replicas: record.replicas.length,
      submittedAt: Date.parse(record.submittedAt),
    });
  }

  private note(ticket: RecentTicket): void {
    this.tickets.delete(ticket.ticket);
    this.tickets.set(ticket.ticket, ticket);
    if (this.tickets.size > KEPT) this.tickets.delete(this.tickets.keys().next().value!);
  }

  /** The latest submitted first. */
  list(): RecentTicket[] {
    return [...this.tickets.values()].sort((a, b) => b.submittedAt - a.submittedAt);
  }
}
