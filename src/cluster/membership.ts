// What every node knows of the others: it hears every heartbeat and every
// leave message itself (so whichever node becomes coordinator can judge at
// once), follows the member table in the KV bucket fnjail-members (a watch:
// it resumes by itself after a reconnect) and the coordinator's announcements
// of changes (applied at once, and passed on for the audit log).
//
// Nothing is believed on a payload's word: a heartbeat or a leave must name
// the node its subject names (the broker lets only that node publish there),
// and an announcement must come from the node holding the lease. A leave is a
// request the coordinator answers, so the leaving node can send it again.
import { EventEmitter } from 'node:events';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { applyChanges, memberRows, type HeardNode, type MemberEntry, type MemberRow } from './member-table.js';
import { SUBJECTS, subjectToken } from './subjects.js';
import { decodeMessage, InvalidMessage, type MemberChange } from './wire.js';

export interface AnnouncedChange extends MemberChange {
  coordinator: string;
  term: number;
}

export interface MembershipEvents {
  /** A change the coordinator announced. */
  change: [AnnouncedChange];
  /** An entry of the table as stored (from the watch). */
  entry: [MemberEntry];
  /** A message refused: who sent it (the subject's node) and why. */
  rejected: [{ subject: string; reason: string }];
}

export interface MembershipOptions {
  connection: NatsConnection;
  /** Whether this node coordinates now: it then acknowledges leave messages. */
  isCoordinator: () => boolean;
  /** Who holds the lease: refresh reads it again (an announcement from a new coordinator may come first). */
  coordinator: (refresh: boolean) => Promise<string | undefined>;
  logger?: Logger;
}

const BELIEVE_ATTEMPTS = 4;
const BELIEVE_RETRY_MS = 250;

/** A rejected message is logged at most this often per sender, so that one noisy sender cannot fill the log. */
const REJECT_LOG_INTERVAL_MS = 10_000;

export class Membership extends EventEmitter<MembershipEvents> {
  readonly heard = new Map<string, HeardNode>();
  readonly table = new Map<string, MemberEntry>();
  private readonly subscriptions: Subscription[] = [];
  private watcher: { stop(): void } | undefined;
  private readonly lastRejectLog = new Map<string, number>();
  private readonly judging = new Map<string, Promise<void>>();
  /** Messages refused since the start. */
  rejectedCount = 0;

  constructor(private readonly options: MembershipOptions) {
    super();
  }

  start(): void {
    const { connection } = this.options;
    const on = (subject: string, handle: (data: Uint8Array, sender: string, subject: string, msg: Msg) => void) =>
      this.subscriptions.push(
        connection.subscribe(subject, {
          callback: (error, msg) => {
            if (error) return;
            const sender = subjectToken(msg.subject, 2)!;
            try {
              handle(msg.data, sender, msg.subject, msg);
            } catch (problem) {
              if (problem instanceof InvalidMessage) this.reject(msg.subject, problem.message);
              else throw problem;
            }
          },
        }),
      );
    on(SUBJECTS.anyHeartbeat, (data, sender, subject) => {
      const { message } = decodeMessage(data, 'heartbeat');
      if (message.node !== sender) return this.reject(subject, `a heartbeat from ${sender} that claims to be ${message.node}'s`);
      const known = this.heard.get(sender);
      // Of two incarnations alive with one name, the later started wins.
      if (known && known.incarnation !== message.incarnation && message.startedAt < known.startedAt) return;
      this.heard.set(sender, {
        incarnation: message.incarnation,
        startedAt: message.startedAt,
        lastMono: performance.now(),
        heartbeat: message,
        ...(known?.leftIncarnation !== undefined ? { leftIncarnation: known.leftIncarnation } : {}),
      });
    });
    on(SUBJECTS.anyLeave, (data, sender, subject, msg) => {
      const { message } = decodeMessage(data, 'leave');
      if (message.node !== sender) return this.reject(subject, `a leave from ${sender} that claims to be ${message.node}'s`);
      const known = this.heard.get(sender);
      if (known?.incarnation === message.incarnation) known.leftIncarnation = message.incarnation;
      // The coordinator says it heard: a leave sent while routes were settling is otherwise lost, and the node marked down.
      if (msg.reply && this.options.isCoordinator()) msg.respond(data);
    });
    on(SUBJECTS.anyMembers, (data, sender, subject) => {
      const { message } = decodeMessage(data, 'members');
      if (message.coordinator !== sender) return this.reject(subject, `an announcement from ${sender} that claims to be ${message.coordinator}'s`);
      // One sender's announcements are judged in the order they came.
      const previous = this.judging.get(sender) ?? Promise.resolve();
      const next = previous.then(async () => {
        if (!(await this.believe(sender, subject))) return;
        const by = { coordinator: sender, term: message.term };
        for (const entry of applyChanges(this.table, this.heard, message.changes, by).values()) this.offer(entry);
        for (const change of message.changes) this.emit('change', { ...change, ...by });
      });
      this.judging.set(sender, next);
      void next.finally(() => {
        if (this.judging.get(sender) === next) this.judging.delete(sender);
      });
    });
  }

  /** Follows the stored table (its current entries first, then each update). */
  async watch(members: KV): Promise<void> {
    const iterator = await members.watch();
    this.watcher = iterator;
    void (async () => {
      for await (const update of iterator as AsyncIterable<KvWatchEntry>) {
        if (update.operation !== 'PUT') {
          this.table.delete(update.key);
          continue;
        }
        this.offer(update.json<MemberEntry>());
      }
    })().catch((error: Error) => this.options.logger?.warn({ err: error.message }, 'the member table watch ended'));
  }

  /**
   * An entry from the stored table or from an announcement: the newer wins, by the
   * coordinator's term, then its clock. Both ways matter: the announcements arrive at
   * once, while a watch whose consumer was on a server that died can take a minute to
   * resume; the watch gives the table at start and what announcements were missed.
   */
  private offer(entry: MemberEntry): void {
    const known = this.table.get(entry.node);
    if (known && (known.term > entry.term || (known.term === entry.term && known.since > entry.since))) return;
    if (known && JSON.stringify(known) === JSON.stringify(entry)) return;
    this.table.set(entry.node, entry);
    this.emit('entry', entry);
  }

  rows(coordinator: string | undefined): MemberRow[] {
    return memberRows(this.table, this.heard, coordinator, performance.now());
  }

  stop(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.watcher?.stop();
    this.watcher = undefined;
  }

  /**
   * Whether sender holds the lease. A new coordinator's first announcement can come
   * before this node has read the new lease (or before it could read it at all: it
   * just started, or was stopped a while): the lease is read again a few times
   * before the announcement is refused.
   */
  private async believe(sender: string, subject: string): Promise<boolean> {
    if ((await this.options.coordinator(false)) === sender) return true;
    for (let attempt = 0; attempt < BELIEVE_ATTEMPTS; attempt++) {
      if ((await this.options.coordinator(true).catch(() => undefined)) === sender) return true;
      await new Promise((resolve) => setTimeout(resolve, BELIEVE_RETRY_MS));
    }
    this.reject(subject, `an announcement from ${sender}, which does not hold the coordinator's lease`);
    return false;
  }

  private reject(subject: string, reason: string): void {
    this.rejectedCount++;
    this.emit('rejected', { subject, reason });
    const sender = subjectToken(subject, 2) ?? subject;
    const now = performance.now();
    if (now - (this.lastRejectLog.get(sender) ?? -Infinity) < REJECT_LOG_INTERVAL_MS) return;
    this.lastRejectLog.set(sender, now);
    this.options.logger?.warn({ subject, reason }, 'cluster message refused');
  }
}
