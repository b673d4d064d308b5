// One fnjail node's part in the cluster, for the server to start and stop:
// heartbeats out, everyone's heartbeats in, the member table followed, a turn
// at coordinating when the lease is free, calls taken for other nodes and
// calls routed to them. The server gives it its NATS connection (made with
// this node's inbox prefix), what it knows of its own load, and what runs a
// call here; it gets back the member table and call().
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { NatsSystem } from './nats-connection.js';
import { ClusterCounters, type ClusterFigures } from './cluster-counters.js';
import { Coordinator, Lease, LEASE_KEY, type LeaseValue } from './coordinator.js';
import { HeartbeatPublisher, newIncarnation, type Incarnation, type LoadProvider } from './heartbeat.js';
import { checkTimings, DEFAULT_TIMINGS, goneReason, type MemberRow, type MembershipTimings } from './member-table.js';
import { Membership, type AnnouncedChange } from './membership.js';
import { RemoteCalls, type CallAdmission, type CallHandler, type CallRequest, type CallResult, type NotStarted, type RemoteCallTimings, type Reservation, type TargetEvent } from './remote-calls.js';
import { Router, type Balance, type Candidate } from './router.js';
import { CLUSTER_BUCKETS, SUBJECTS, checkNodeName } from './subjects.js';
import { encodeMessage } from './wire.js';
import { randomBytes } from 'node:crypto';

export interface ClusterNodeOptions {
  /** Connected with inboxPrefix(node) (subjects.ts): the broker lets the node read only its own inboxes. */
  nats: NatsSystem;
  node: string;
  version: string;
  load: LoadProvider;
  /** Runs a call here (for another node, or for this one when the router picks it). */
  handler: CallHandler;
  /** Refuses a call from another node before it is accepted (it then goes elsewhere). */
  admit?: CallAdmission;
  balance?: Balance;
  timings?: Partial<MembershipTimings>;
  callTimings?: Partial<RemoteCallTimings>;
  /** Of the cluster's buckets (3 on a cluster of three servers or more). */
  replicas?: number;
  /** Nodes a call is offered to before it is given up (default 3). */
  maxAttempts?: number;
  /** Every membership change the coordinator announces (for the audit log). */
  onMemberChange?: (change: AnnouncedChange) => void;
  /** What happens here to calls from other nodes (accepted, refused, started, expired, finished). */
  onCallEvent?: (event: TargetEvent) => void;
  logger?: Logger;
}

export interface Attempt {
  node: string;
  /** started, or why it did not start there. */
  outcome: 'started' | NotStarted;
  detail?: string;
}

export interface RoutedResult extends CallResult {
  /** Where it ran (undefined: nowhere). */
  node: string | undefined;
  attempts: Attempt[];
}

/** Which nodes a call may go to. */
export interface PlaceOptions {
  /** Whether a node may run this call (e.g. it has the bundle, or can fetch it). */
  eligible?: (row: MemberRow) => boolean;
  /** Whether this node is a candidate (default true). */
  includeSelf?: boolean;
  /** Only nodes with a free slot, as their last heartbeat said less the calls sent them since
   * (a node that would queue the call gets none: the caller queues it itself). */
  freeSlotOnly?: boolean;
}

/** What happens once a call has its node. */
export interface RunOptions {
  /** Runs the call here when the router picks this node (default: the handler). */
  here?: () => Promise<CallResult>;
  /** Told the node a call started on (another node: it is that node's from then on). */
  onStarted?: (node: string) => void;
}

export type CallOptions = PlaceOptions & RunOptions;

/** A call whose node is being found before the call itself is complete (prepare()). */
export interface PreparedCall {
  /** Runs the call where it was placed (or, if it did not start there, on the next node). */
  run(request: CallRequest, options?: RunOptions): Promise<RoutedResult>;
  /** The call will not come: a slot reserved for it elsewhere is given back. */
  cancel(): void;
}

/** The node a call was placed on: this one, or a slot reserved on another; undefined: none could take it. */
type Booking = { here: true } | { here: false; reservation: Reservation } | undefined;

interface Placing {
  options: PlaceOptions;
  attempts: Attempt[];
  tried: Set<string>;
  /** The call is too large for a message: this node only. */
  localOnly: boolean;
}

const LEAVE_ATTEMPTS = 3;

/** Retries of opening the buckets while JetStream is not ready (a cluster electing its leader). */
const OPEN_RETRY_MS = [250, 500, 1000, 2000];

export class ClusterNode {
  readonly incarnation: Incarnation = newIncarnation();
  /** Resolves when the buckets are open and the table followed (it waits for JetStream). */
  readonly ready: Promise<void>;
  private readonly timings: MembershipTimings;
  private readonly heartbeat: HeartbeatPublisher;
  private readonly membership: Membership;
  private readonly remote: RemoteCalls;
  private readonly router: Router;
  private readonly counters = new ClusterCounters();
  private lease: Lease | undefined;
  private leaseKv: KV | undefined;
  private coordinator: Coordinator | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Who is told when a node that sent this node work goes down or restarts (relayed connections). */
  private readonly peerWatches = new Set<{ node: string; incarnation: string | undefined; gone: (why: string) => void }>();
  private stopped = false;
  private lastLoopError = 0;

  private constructor(private readonly options: ClusterNodeOptions) {
    checkNodeName(options.node);
    this.timings = checkTimings({ ...DEFAULT_TIMINGS, ...options.timings });
    const connection = options.nats.connection;
    this.router = new Router({ balance: options.balance ?? 'least-loaded' });
    this.membership = new Membership({
      connection,
      isCoordinator: () => this.lease?.held ?? false,
      coordinator: (refresh) => this.coordinatorName(refresh),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.membership.on('change', (change) => options.onMemberChange?.(change));
    this.membership.on('entry', (entry) => {
      this.remote.targetChanged(entry.node, entry.incarnation, entry.state);
      this.peerChanged(entry.node, entry.incarnation, entry.state);
    });
    this.heartbeat = new HeartbeatPublisher({
      connection,
      node: options.node,
      incarnation: this.incarnation,
      version: options.version,
      load: options.load,
      intervalMs: this.timings.heartbeatMs,
      logger: options.logger,
    });
    this.remote = new RemoteCalls({
      connection,
      node: options.node,
      incarnation: this.incarnation.id,
      handler: options.handler,
      ...(options.admit ? { admit: options.admit } : {}),
      ...(options.callTimings ? { timings: options.callTimings } : {}),
      onTargetEvent: (event) => {
        this.counters.targetEvent(event);
        options.onCallEvent?.(event);
      },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.membership.start();
    this.remote.start();
    this.heartbeat.start();
    this.ready = this.openShared();
    this.ready.catch(() => undefined);
  }

  /**
   * Calls gone(why) once if `node` goes down, leaves or restarts (a new
   * incarnation) before the returned function is called: what a relayed
   * connection's runner needs, as its entry node holds the client.
   */
  watchPeer(node: string, gone: (why: string) => void): () => void {
    const watch = { node, incarnation: this.membership.table.get(node)?.incarnation, gone };
    this.peerWatches.add(watch);
    return () => this.peerWatches.delete(watch);
  }

  private peerChanged(node: string, incarnation: string, state: string): void {
    for (const watch of this.peerWatches) {
      if (watch.node !== node) continue;
      const why = goneReason(watch.incarnation, incarnation, state);
      if (why === undefined) continue;
      this.peerWatches.delete(watch);
      watch.gone(`node ${node} ${why}`);
    }
  }

  /** Starts at once; membership and coordination follow when JetStream answers (ready). */
  static start(options: ClusterNodeOptions): ClusterNode {
    return new ClusterNode(options);
  }

  /** The node's NATS connection (a relayed connection's bytes travel on it). */
  get connection(): NatsConnection {
    return this.options.nats.connection;
  }

  get node(): string {
    return this.options.node;
  }

  get balance(): Balance {
    return this.router.balance;
  }

  /** The member table with each member's latest heartbeat, as this node sees it. */
  memberTable(): MemberRow[] {
    return this.membership.rows(this.lease?.holder);
  }

  /** Calls accepted for other nodes and not started yet (they hold a slot here). */
  get reservedForOthers(): number {
    return this.remote.waitingToStart;
  }

  /** Messages refused (a node speaking for another, unreadable ones) since the start. */
  get rejectedMessages(): number {
    return this.membership.rejectedCount;
  }

  /** What /metrics shows of the cluster, as this node sees it. */
  figures(): ClusterFigures {
    const { ran, notStarted, coordinatorChanges } = this.counters;
    return {
      members: this.memberTable().map(({ node, state, heartbeatAgeMs }) => ({ node, state, heartbeatAgeMs })),
      ran,
      notStarted,
      coordinatorChanges,
      rejectedMessages: this.rejectedMessages,
    };
  }

  /** Sends a heartbeat now (e.g. the node just became ready). */
  beat(): void {
    this.heartbeat.beat();
  }

  /** Runs the call on the node the router picks; another one only if it did not start. */
  call(request: CallRequest, options: CallOptions = {}): Promise<RoutedResult> {
    return this.prepare(options).run(request, options);
  }

  /** Places a call as soon as it arrives: the router picks its node now and a
   * slot is reserved there while the caller checks out the function and
   * decides; the call goes with start (run()), or the slot is given back
   * (cancel()). A call that did not start goes to the next node. */
  prepare(options: PlaceOptions = {}): PreparedCall {
    const placing: Placing = { options, attempts: [], tried: new Set(), localOnly: false };
    let booking: Promise<Booking> | undefined = this.book(placing);
    // Awaited by run() (which sees a failure); no unhandled rejection meanwhile, or if the call never comes.
    booking.catch(() => undefined);
    return {
      run: async (request, run = {}) => {
        for (;;) {
          const booked: Booking = await (booking ?? this.book(placing));
          booking = undefined;
          const { attempts } = placing;
          if (!booked) return this.unavailable(attempts);
          if (booked.here) {
            attempts.push({ node: this.node, outcome: 'started' });
            const id = randomBytes(12).toString('hex');
            const result = await (run.here ? run.here() : this.options.handler({ ...request, id, caller: this.node }));
            return { ...result, node: this.node, attempts };
          }
          const target = booked.reservation.target;
          const sent = await this.remote.startReserved(booked.reservation, request);
          if (!sent.started) {
            attempts.push({ node: target, outcome: sent.why, detail: sent.detail });
            this.counters.offerNotStarted('sent', sent.why);
            if (sent.why === 'too-large') placing.localOnly = true;
            continue;
          }
          attempts.push({ node: target, outcome: 'started' });
          run.onStarted?.(target);
          const result = await sent.result;
          this.counters.ranCall('sent', result.outcome);
          return { ...result, node: target, attempts };
        }
      },
      cancel: () => {
        void booking?.then((booked) => {
          if (!booked || booked.here) return;
          this.remote.cancel(booked.reservation);
          this.counters.offerNotStarted('sent', 'cancelled');
        }, () => undefined);
        booking = undefined;
      },
    };
  }

  /** The next node for a call: this one, or one that reserved it a slot (nodes that refuse or do not answer are passed over). */
  private async book(placing: Placing): Promise<Booking> {
    const { options, attempts, tried } = placing;
    const maxAttempts = this.options.maxAttempts ?? 3;
    while (attempts.length < maxAttempts) {
      const candidates = this.candidates(options.eligible).filter(
        (c) =>
          !tried.has(c.node) &&
          (c.node === this.node ? options.includeSelf !== false : !placing.localOnly) &&
          (!options.freeSlotOnly || this.router.freeSlots(c) > 0),
      );
      const picked = this.router.pick(candidates);
      if (!picked) return undefined;
      tried.add(picked.node);
      if (picked.node === this.node) return { here: true };
      const reserved = await this.remote.reserve(picked.node);
      if (reserved.reserved) return { here: false, reservation: reserved };
      attempts.push({ node: picked.node, outcome: reserved.why, detail: reserved.detail });
      this.counters.offerNotStarted('sent', reserved.why);
    }
    return undefined;
  }

  private unavailable(attempts: Attempt[]): RoutedResult {
    const tries = attempts.map((a) => `${a.node}: ${a.detail ?? a.outcome}`);
    return {
      outcome: 'unavailable',
      reasons: [tries.length ? `no node could start the call (${tries.join('; ')})` : 'no node is up to run the call'],
      limitsHit: [],
      output: Buffer.alloc(0),
      durationMs: 0,
      node: undefined,
      attempts,
    };
  }

  /** Leaves cleanly: refuses new calls, lets running ones finish, says so, gives up the lease. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.remote.stop();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.heartbeat.stop();
    const { connection } = this.options.nats;
    if (!connection.isClosed()) {
      await this.sayLeaving();
      await this.lease?.release();
      await connection.flush().catch(() => undefined);
    }
    this.membership.stop();
  }

  /** Tells everyone it leaves; sent again (at most LEAVE_ATTEMPTS times) until the coordinator says it heard. */
  private async sayLeaving(): Promise<void> {
    const leave = encodeMessage({ type: 'leave', node: this.node, incarnation: this.incarnation.id });
    for (let attempt = 1; attempt <= LEAVE_ATTEMPTS; attempt++) {
      try {
        await this.options.nats.connection.request(SUBJECTS.leave(this.node), leave, { timeout: this.timings.heartbeatMs });
        return;
      } catch (error) {
        if (attempt === LEAVE_ATTEMPTS) this.options.logger?.warn({ err: (error as Error).message }, 'no coordinator acknowledged the leave: the others will see this node down instead of left');
      }
    }
  }

  /** Up nodes with a heartbeat, and this node when it is ready, as the router sees them. */
  private candidates(eligible: CallOptions['eligible']): Candidate[] {
    const rows = this.memberTable();
    const candidates: Candidate[] = [];
    for (const row of rows) {
      if (row.state !== 'up' || !row.calls || !row.cpu || (eligible && !eligible(row))) continue;
      if (row.node === this.node) continue; // from its own figures, below
      candidates.push({ node: row.node, freeSlots: row.calls.freeSlots, queued: row.calls.queued, cpu: row.cpu.host, heartbeatSeq: this.membership.heard.get(row.node)?.heartbeat.seq ?? 0 });
    }
    const own = this.heartbeat.last;
    const self = rows.find((r) => r.node === this.node);
    if (own && this.options.load().ready && (!eligible || !self || eligible(self))) {
      candidates.push({ node: this.node, freeSlots: own.calls.freeSlots, queued: own.calls.queued, cpu: own.cpu.host, heartbeatSeq: own.seq });
    }
    return candidates;
  }

  private async coordinatorName(refresh: boolean): Promise<string | undefined> {
    if (!refresh) return this.lease?.holder;
    // Not open yet: an announcement waits for it (the bucket opens with the node's start).
    if (!this.leaseKv) await this.ready;
    const entry = await this.leaseKv!.get(LEASE_KEY);
    return entry?.operation === 'PUT' ? entry.json<LeaseValue>().holder : undefined;
  }

  private async openShared(): Promise<void> {
    const { nats, replicas, logger } = this.options;
    const open = async <T>(what: () => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await what();
        } catch (error) {
          if (this.stopped) throw error;
          if (attempt % 8 === 0) logger?.warn({ err: (error as Error).message }, 'cluster buckets not ready yet');
          await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS[Math.min(attempt, OPEN_RETRY_MS.length - 1)]));
        }
      }
    };
    const members = await open(() => nats.kv(CLUSTER_BUCKETS.members, { replicas, description: 'fnjail member table: node → state, incarnation' }));
    this.leaseKv = await open(() =>
      nats.kv(CLUSTER_BUCKETS.coordinator, { replicas, ttlMs: 4 * this.timings.leaseMs, description: "fnjail coordinator's lease" }),
    );
    await open(() => this.membership.watch(members));
    if (this.stopped) return;
    this.lease = new Lease(this.leaseKv, this.node, this.incarnation, this.timings.leaseMs, logger);
    this.coordinator = new Coordinator({
      connection: nats.connection,
      members,
      lease: this.lease,
      node: this.node,
      heard: () => this.membership.heard,
      stored: () => this.membership.table,
      timings: this.timings,
      ...(logger ? { logger } : {}),
    });
    const every = (ms: number, step: () => Promise<unknown>) => {
      let running = false;
      const timer = setInterval(() => {
        if (running || this.stopped) return;
        running = true;
        step()
          .catch((error: Error) => this.loopError(error))
          .finally(() => (running = false));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    const poll = async () => {
      await this.lease!.poll();
      this.counters.coordinatorSeen(this.lease!.holder);
    };
    await poll().catch((error: Error) => this.loopError(error));
    every(this.timings.heartbeatMs, poll);
    every(Math.max(50, this.timings.heartbeatMs / 4), () => this.coordinator!.tick());
  }

  /** KV errors while JetStream elects a leader: logged now and then, tried again at the next step. */
  private loopError(error: Error): void {
    const now = performance.now();
    if (now - this.lastLoopError < 10_000) return;
    this.lastLoopError = now;
    this.options.logger?.warn({ err: error.message }, 'cluster coordination step failed (tried again)');
  }
}
