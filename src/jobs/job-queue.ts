// The job queue: a JetStream work-queue stream, FNJAIL_JOBS, one message per
// replica (a work item naming its job and replica), on the subject
// fnjail.jobs.queue.<tenant token> (job-identity.ts), and one durable pull
// consumer that every node shares. JetStream semantics, chosen for what jobs
// must guarantee:
//   - FIFO: the consumer delivers in stream order, whichever node pulls; a
//     node pulls as many messages as it has free slots, no more, so that
//     no node holds work it cannot start (a later job never starts before an
//     earlier one waiting). A job's replicas are published together by one
//     node, so they are next to each other in the queue.
//   - Limits, enforced by the server atomically, cluster-wide: the stream's
//     max_msgs (every unfinished replica) and max_msgs_per_subject with
//     discard_new_per_subject (a tenant's); a publish over either fails and
//     the job is refused whole (its published replicas withdrawn).
//   - At-least-once: a work item is acked only when its replica has ended and
//     its result is recorded; a node that runs one tells the server it is
//     working every ackWait/3; a node that dies stops doing so, and after
//     ackWait the item is delivered again, to any node. MaxDeliver is not
//     used: how many runs a replica may have is counted in its record
//     (job-record.ts), where the node that takes it back sees the lost run
//     and either runs it again or marks it INVALID "node lost" — never lost
//     silently, even with no node alive when the deadline passes (the item
//     waits in the stream).
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, RetentionPolicy, StorageType, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsSystem } from '../cluster/nats-connection.js';

export const QUEUE_STREAM = 'FNJAIL_JOBS';
export const QUEUE_SUBJECT = 'fnjail.jobs.queue';
export const QUEUE_CONSUMER = 'fnjail-job-workers';
/** Where a node hears that a ticket's running replicas must stop: fnjail.jobs.cancel.<ticket>. */
export const CANCEL_SUBJECT = 'fnjail.jobs.cancel';

export interface QueueLimits {
  /** Unfinished replicas (waiting or running) in the whole queue. */
  total: number;
  /** Unfinished replicas of one tenant. */
  perTenant: number;
  /** How long a delivered item may go without word from its node before it is delivered again. */
  ackWaitMs: number;
}

/** A work item: one replica of one job. */
export interface WorkItem {
  key: string;
  replica: number;
}

/** A publish the queue's limits refused. */
export class QueueFull extends Error {
  constructor(readonly scope: 'tenant' | 'total') {
    super(scope === 'tenant' ? 'the tenant has its limit of unfinished replicas' : 'the queue holds its limit of unfinished replicas');
  }
}

const nanos = (ms: number) => ms * 1_000_000;

export class JobQueue {
  private consumer: Consumer | undefined;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly limits: QueueLimits,
  ) {}

  /** Creates the stream and the consumer, or brings their limits to these (the last node started sets them). */
  static async open(nats: NatsSystem, limits: QueueLimits, replicas = 1): Promise<JobQueue> {
    const jsm = await nats.jetstreamManager();
    const stream = {
      subjects: [`${QUEUE_SUBJECT}.*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs: limits.total,
      max_msgs_per_subject: limits.perTenant,
      discard_new_per_subject: true,
      num_replicas: replicas,
      description: 'fnjail jobs: one work item per replica, taken in order by nodes with a free slot',
    };
    const existing = await jsm.streams.info(QUEUE_STREAM).catch(() => undefined);
    if (!existing) await jsm.streams.add({ name: QUEUE_STREAM, ...stream });
    else if (existing.config.max_msgs !== limits.total || existing.config.max_msgs_per_subject !== limits.perTenant) await jsm.streams.update(QUEUE_STREAM, stream);
    const consumer = {
      durable_name: QUEUE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(limits.ackWaitMs),
      max_deliver: -1,
      // Every node's running replicas are pending acks: no limit of the server's own.
      max_ack_pending: -1,
      description: 'the nodes taking jobs',
    };
    const found = await jsm.consumers.info(QUEUE_STREAM, QUEUE_CONSUMER).catch(() => undefined);
    if (!found) await jsm.consumers.add(QUEUE_STREAM, consumer);
    else if (found.config.ack_wait !== consumer.ack_wait) await jsm.consumers.update(QUEUE_STREAM, QUEUE_CONSUMER, { ack_wait: consumer.ack_wait, max_ack_pending: -1 });
    return new JobQueue(jetstream(nats.connection), jsm, limits);
  }

  /** Publishes a job's replicas, in order, after the jobs this node published
   * before; returns their sequences. A refusal of the queue's limits withdraws
   * those published and throws QueueFull.
   *
   * The publishes are all sent at once, without waiting for each one's ack:
   * they leave on the node's one connection in the order they are made (the
   * client sends a publish before its first await), and the server stores
   * them in that order, so a job's replicas are next to each other and after
   * those of every job this node published before, for the price of one
   * round trip per job rather than one per replica and jobs in line. */
  async publish(token: string, items: WorkItem[], ticket: string): Promise<number[]> {
    // The id makes a publish retried by the client (a lost ack) a no-op.
    const acks = items.map((item) => this.js.publish(`${QUEUE_SUBJECT}.${token}`, JSON.stringify(item), { msgID: `${ticket}.${item.replica}` }));
    const settled = await Promise.allSettled(acks);
    const seqs = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.seq] : []));
    const refused = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!refused) return seqs;
    await this.withdraw(seqs);
    const text = (refused.reason as Error).message;
    if (/maximum messages per subject exceeded/i.test(text)) throw new QueueFull('tenant');
    if (/maximum messages exceeded/i.test(text)) throw new QueueFull('total');
    throw refused.reason;
  }

  /** Removes work items not yet taken (a cancelled or refused job's); those taken already are dropped by the node that took them. */
  async withdraw(seqs: number[]): Promise<void> {
    await Promise.all(seqs.map((seq) => this.jsm.streams.deleteMessage(QUEUE_STREAM, seq, false).catch(() => false)));
  }

  /** Work items waiting (not yet taken), and taken by a node and not finished: the whole queue's. */
  async counts(): Promise<{ waiting: number; taken: number; oldestWaitingAt: number | undefined }> {
    const info = await this.jsm.consumers.info(QUEUE_STREAM, QUEUE_CONSUMER);
    // The next item the consumer delivers is the oldest waiting one (withdrawn, it is gone: not known).
    const next = info.num_pending > 0 ? await this.jsm.streams.getMessage(QUEUE_STREAM, { seq: info.delivered.stream_seq + 1 }).catch(() => null) : null;
    return { waiting: info.num_pending, taken: info.num_ack_pending, oldestWaitingAt: next?.time.getTime() };
  }

  /** Up to `max` work items, in queue order, each as soon as it is there;
   * the batch ends when it has `max` or after expiresMs. A node asks for as
   * many as it has free slots: never for one it could not start at once. */
  async take(max: number, expiresMs: number): Promise<ConsumerMessages> {
    this.consumer ??= await this.js.consumers.get(QUEUE_STREAM, QUEUE_CONSUMER);
    return this.consumer.fetch({ max_messages: max, expires: expiresMs });
  }
}
