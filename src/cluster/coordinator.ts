// The coordinator: the one node that writes the member table. It is whoever
// holds the lease, one key in the KV bucket fnjail-coordinator, and holds it
// by renewing it (a revision-checked update) once per heartbeat interval.
//
// Taking the lease is a compare-and-set too: a key that does not exist is
// created; a key whose revision this node has seen unchanged for leaseMs (on
// its own monotonic clock, so clocks need not agree) is updated against that
// revision. Of several candidates one wins; the others see a conflict. A
// holder that cannot renew for leaseMs steps down by itself, so two nodes
// never both believe they coordinate for long. A clean stop deletes the key:
// the next node takes over at its next poll. The bucket's TTL removes a lease
// nobody renews, so a cluster started again from nothing does not wait.
//
// As coordinator, a node judges the members by what it heard itself (every
// node hears every heartbeat: member-table.ts), writes each changed entry to
// the KV bucket fnjail-members, then announces the changes on its own subject.
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Incarnation } from './heartbeat.js';
import { applyChanges, evaluate, type HeardNode, type MemberEntry, type MembershipTimings } from './member-table.js';
import { SUBJECTS } from './subjects.js';
import { encodeMessage, type MemberChange } from './wire.js';

export const LEASE_KEY = 'lease';

export interface LeaseValue {
  holder: string;
  incarnation: string;
  /** One more at each takeover. */
  term: number;
  /** Informative only (epoch ms of the holder's clock). */
  renewedAt: number;
}

function isConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error).message ?? '');
}

export class Lease {
  private revision: number | undefined;
  private lastRenewMono = 0;
  private observed: { revision: number; sinceMono: number } | undefined;
  private value: LeaseValue | undefined;
  /** The holder as last read (or ourselves). */
  holder: string | undefined;
  term = 0;

  constructor(
    private readonly kv: KV,
    private readonly node: string,
    private readonly incarnation: Incarnation,
    private readonly leaseMs: number,
    private readonly logger?: Logger,
  ) {}

  get held(): boolean {
    return this.revision !== undefined;
  }

  /** One step: renew if held, else look and take over when free or expired. Returns whether held. */
  async poll(nowMono = performance.now()): Promise<boolean> {
    if (this.revision !== undefined) {
      await this.renew(nowMono);
      return this.held;
    }
    const entry = await this.kv.get(LEASE_KEY);
    if (!entry || entry.operation !== 'PUT') {
      await this.take(() => this.kv.create(LEASE_KEY, this.encode(this.term + 1)), this.term + 1, nowMono, 'no coordinator');
      return this.held;
    }
    const value = entry.json<LeaseValue>();
    this.holder = value.holder;
    this.term = Math.max(this.term, value.term);
    if (value.holder === this.node && value.incarnation === this.incarnation.id) {
      // Still ours: a renewal that timed out had reached the server after all.
      this.revision = entry.revision;
      this.lastRenewMono = nowMono;
      return true;
    }
    if (this.observed?.revision !== entry.revision) this.observed = { revision: entry.revision, sinceMono: nowMono };
    const ownPast = value.holder === this.node && value.incarnation !== this.incarnation.id;
    const expired = nowMono - this.observed.sinceMono >= this.leaseMs;
    if (ownPast || expired) {
      const reason = ownPast ? 'the lease was held by this node before it restarted' : `${value.holder}'s lease was not renewed for ${this.leaseMs} ms`;
      await this.take(() => this.kv.update(LEASE_KEY, this.encode(value.term + 1), entry.revision), value.term + 1, nowMono, reason);
    }
    return this.held;
  }

  /** Gives the lease up (clean stop): the next candidate takes it at its next poll. */
  async release(): Promise<void> {
    const revision = this.revision;
    this.revision = undefined;
    if (revision !== undefined) await this.kv.delete(LEASE_KEY, { previousSeq: revision }).catch(() => undefined);
  }

  private encode(term: number): string {
    this.value = { holder: this.node, incarnation: this.incarnation.id, term, renewedAt: Date.now() };
    return JSON.stringify(this.value);
  }

  private async take(write: () => Promise<number>, term: number, nowMono: number, reason: string): Promise<void> {
    try {
      this.revision = await write();
    } catch (error) {
      if (!isConflict(error)) this.logger?.warn({ err: (error as Error).message }, 'cannot take the coordinator lease');
      // Another node was faster: who.
      const entry = await this.kv.get(LEASE_KEY).catch(() => null);
      if (entry?.operation === 'PUT') this.holder = entry.json<LeaseValue>().holder;
      return;
    }
    this.lastRenewMono = nowMono;
    this.holder = this.node;
    this.term = term;
    this.logger?.info({ term, reason }, 'this node is the coordinator');
  }

  private async renew(nowMono: number): Promise<void> {
    try {
      this.revision = await this.kv.update(LEASE_KEY, this.encode(this.term), this.revision!);
      this.lastRenewMono = nowMono;
    } catch (error) {
      if (isConflict(error)) {
        this.revision = undefined;
        this.holder = undefined;
        this.logger?.warn('the coordinator lease was taken over: this node no longer coordinates');
      } else if (nowMono - this.lastRenewMono >= this.leaseMs) {
        this.revision = undefined;
        this.holder = undefined;
        this.logger?.warn({ err: (error as Error).message }, 'the coordinator lease could not be renewed in time: this node no longer coordinates');
      }
    }
  }
}

export interface CoordinatorOptions {
  connection: NatsConnection;
  members: KV;
  lease: Lease;
  node: string;
  /** What this node heard (membership.ts). */
  heard: () => ReadonlyMap<string, HeardNode>;
  /** The stored table as this node follows it (membership.ts): where a new coordinator starts from. */
  stored: () => ReadonlyMap<string, MemberEntry>;
  timings: MembershipTimings;
  logger?: Logger;
}

export class Coordinator {
  private table: Map<string, MemberEntry> | undefined;
  private sinceMono = 0;
  private term = -1;
  private busy = false;

  constructor(private readonly options: CoordinatorOptions) {}

  /** One step, when this node holds the lease: judge, write, announce. */
  async tick(nowMono = performance.now()): Promise<MemberChange[]> {
    const { lease, members, node, timings } = this.options;
    if (!lease.held || this.busy) {
      if (!lease.held) this.table = undefined;
      return [];
    }
    this.busy = true;
    try {
      if (!this.table || this.term !== lease.term) {
        // Taken over (or first time): the table as the previous coordinator left it, as
        // followed all along (reading the bucket again could wait on a JetStream in the middle
        // of electing a leader, and every tick with it).
        this.table = new Map(this.options.stored());
        this.sinceMono = nowMono;
        this.term = lease.term;
      }
      const heard = this.options.heard();
      const changes = evaluate({ table: this.table, heard, nowMono, nowWall: Date.now(), sinceMono: this.sinceMono, timings });
      if (!changes.length) return [];
      const entries = applyChanges(this.table, heard, changes, { coordinator: node, term: lease.term });
      const written = new Set<string>();
      for (const entry of entries.values()) {
        try {
          await members.put(entry.node, JSON.stringify(entry));
          this.table.set(entry.node, entry);
          written.add(entry.node);
        } catch (error) {
          // Not written: judged again at the next tick, announced then.
          this.options.logger?.warn({ node: entry.node, err: (error as Error).message }, 'cannot write the member table');
        }
      }
      const announced = changes.filter((c) => written.has(c.node));
      if (announced.length) {
        this.options.connection.publish(SUBJECTS.members(node), encodeMessage({ type: 'members', coordinator: node, term: lease.term, changes: announced }));
      }
      return announced;
    } finally {
      this.busy = false;
    }
  }
}
