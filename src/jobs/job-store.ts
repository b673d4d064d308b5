// Where jobs are kept, on JetStream, so that every node sees the same and a
// restart of any process loses nothing:
//   KV bucket fnjail-jobs: <owner>.<ticket> → the job's record (job-record.ts)
//   object store fnjail-job-data: <ticket>/input, <ticket>/bundle,
//     <ticket>/output/<replica>
// A record changes only through update(): read, compute the change (a pure
// function of the record), write it if nobody wrote in between (the KV's
// revision), else read again and recompute. Changes of one key made on this
// node are queued one after the other, so that they race only with other
// nodes'.
//
// The node remembers the last version of a record it read or wrote (a
// bounded cache): a change is first computed on it and written with its
// revision, which saves the read on every transition a node makes of a job it
// submitted or started (a job's life on one node is four writes and no read).
// The revision keeps that safe: a write on a version another node replaced
// fails, and the change is made again on a fresh read. A change that decides
// not to write is made again on a fresh read too, as a stale version could
// decide wrongly that there is nothing to do.
import { Readable } from 'node:stream';
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsSystem } from '../cluster/nats-connection.js';
import { jobKey } from './job-identity.js';
import type { JobRecord } from './job-record.js';

export const JOB_BUCKETS = { records: 'fnjail-jobs', data: 'fnjail-job-data' } as const;

/** Attempts of a change that keeps losing races (each loss means someone else's change went in). */
const MAX_ATTEMPTS = 50;

function isConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error).message ?? '');
}


/** Records remembered (the jobs a node is working on, with room to spare), and their size at most. */
const KNOWN_RECORDS = 4096;
const KNOWN_BYTES = 16 * 2 ** 20;

/** How long the bucket's watch stays up after its last waiter. */
const WATCH_IDLE_MS = 30_000;

type KvWatcher = Awaited<ReturnType<KV['watch']>>;
type SharedWatch = { ready: Promise<void>; watcher: KvWatcher | undefined };

/** A waiter sees each new version of its record; end() gives it the last one seen (the wait is over, or the watch went). */
interface RecordWaiter {
  see(record: JobRecord | undefined, revision: number): void;
  end(): void;
}

interface Known {
  /** The record's JSON (parsed again for each change: a change edits its copy in place). */
  text: string;
  revision: number;
}

export class JobStore {
  /** Per key, the tail of the changes queued on this node. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** The last version of records this node read or wrote. */
  private readonly known = new Map<string, Known>();
  /** The JSON characters of the records remembered. */
  private knownSize = 0;
  /** Who waits for this node's next write of a key (a work item whose job is being published here). */
  private readonly writeWaiters = new Map<string, Array<() => void>>();
  /** Who waits for a new version of a record (GET /jobs/<ticket>?wait), served by one watch of the bucket. */
  private readonly recordWaiters = new Map<string, Set<RecordWaiter>>();
  private shared: SharedWatch | undefined;
  private idleWatch: NodeJS.Timeout | undefined;

  private constructor(
    private readonly nats: NatsSystem,
    private readonly kv: KV,
    private readonly data: ObjectStore,
  ) {}

  static async open(nats: NatsSystem): Promise<JobStore> {
    const kv = await nats.kv(JOB_BUCKETS.records, { description: 'fnjail jobs: <owner>.<ticket> → the job record' });
    const data = await nats.objectStore(JOB_BUCKETS.data, { description: "fnjail jobs' inputs, bundles and outputs" });
    return new JobStore(nats, kv, data);
  }

  async create(record: JobRecord): Promise<void> {
    const key = jobKey(record.owner, record.ticket);
    const text = JSON.stringify(record);
    this.remember(key, text, await this.kv.create(key, Buffer.from(text)));
    this.written(key);
  }

  async get(key: string): Promise<{ record: JobRecord; revision: number } | undefined> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT' || !entry.value.length) {
      this.forget(key);
      return undefined;
    }
    const text = Buffer.from(entry.value).toString('utf8');
    this.remember(key, text, entry.revision);
    return { record: JSON.parse(text) as JobRecord, revision: entry.revision };
  }

  private remember(key: string, text: string, revision: number): void {
    const had = this.known.get(key);
    if (had && had.revision > revision) return;
    this.forget(key);
    this.known.set(key, { text, revision });
    this.knownSize += text.length;
    // The least recently remembered go first.
    while (this.known.size > KNOWN_RECORDS || this.knownSize > KNOWN_BYTES) this.forget(this.known.keys().next().value!);
  }

  private forget(key: string): void {
    const had = this.known.get(key);
    if (!had) return;
    this.known.delete(key);
    this.knownSize -= had.text.length;
  }

  /** Resolves at this node's next write of the key, or after waitMs. */
  nextWrite(key: string, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, waitMs);
      const waiters = this.writeWaiters.get(key) ?? [];
      waiters.push(done);
      this.writeWaiters.set(key, waiters);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private written(key: string): void {
    const waiters = this.writeWaiters.get(key);
    if (!waiters) return;
    this.writeWaiters.delete(key);
    for (const wake of waiters) wake();
  }

  /** The keys of a ticket, whoever owns it (for admins and the sweeper). */
  async keysOfTicket(ticket: string): Promise<string[]> {
    return this.keys(`*.${ticket}`);
  }

  /** Keys matching a KV filter ("u1000.*", ">"). */
  async keys(filter = '>'): Promise<string[]> {
    return this.nats.kvKeys(JOB_BUCKETS.records, filter);
  }

  /** The records of the keys, those still there. */
  async records(keys: string[]): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    // A few at a time: each is a round trip.
    for (let i = 0; i < keys.length; i += 64) {
      const batch = await Promise.all(keys.slice(i, i + 64).map((key) => this.get(key)));
      for (const found of batch) if (found) records.push(found.record);
    }
    return records;
  }

  /**
   * Changes a record: `change` gets a copy of the current one, changes it in
   * place and returns what it decided; the record is written unless it
   * returns `{ write: false }`. Undefined when the record does not exist.
   */
  update<T>(key: string, change: (record: JobRecord) => { write: boolean; result: T }): Promise<{ record: JobRecord; result: T } | undefined> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.updateNow(key, change));
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  private async updateNow<T>(key: string, change: (record: JobRecord) => { write: boolean; result: T }): Promise<{ record: JobRecord; result: T } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const cached = attempt === 1 ? this.known.get(key) : undefined;
      const found = cached ? { record: JSON.parse(cached.text) as JobRecord, revision: cached.revision } : await this.get(key);
      if (!found) return undefined;
      const { record } = found;
      const { write, result } = change(record);
      if (!write) {
        if (cached) continue; // decided on a remembered version: decide again on the record itself
        return { record, result };
      }
      const text = JSON.stringify(record);
      try {
        this.remember(key, text, await this.kv.update(key, Buffer.from(text), found.revision));
        this.written(key);
        return { record, result };
      } catch (error) {
        if (cached) this.forget(key);
        if (!isConflict(error) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Removes the record and every object of the job: its storage is free. */
  async remove(record: JobRecord, objects: string[]): Promise<void> {
    await Promise.all(objects.map((name) => this.deleteObject(name)));
    const key = jobKey(record.owner, record.ticket);
    this.forget(key);
    await this.kv.purge(key);
  }

  async putObject(name: string, data: Buffer): Promise<void> {
    await this.data.putBlob({ name }, data);
  }

  /** An object's content as a stream, with its size; undefined when there is none. */
  async getObject(name: string): Promise<{ bytes: number; stream: Readable } | undefined> {
    const found = await this.data.get(name);
    if (!found) return undefined;
    return { bytes: found.info.size, stream: Readable.fromWeb(found.data as import('node:stream/web').ReadableStream<Uint8Array>) };
  }

  async getObjectBuffer(name: string): Promise<Buffer | undefined> {
    const blob = await this.data.getBlob(name);
    return blob ? Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength) : undefined;
  }

  async deleteObject(name: string): Promise<void> {
    try {
      await this.data.delete(name);
    } catch (error) {
      if (!/not found/i.test((error as Error).message)) throw error;
    }
  }

  /** Every object's name and when it was stored (for the sweeper's orphans). */
  async objects(): Promise<Array<{ name: string; mtime: string }>> {
    return (await this.data.list()).filter((o) => !o.deleted).map((o) => ({ name: o.name, mtime: o.mtime }));
  }

  /**
   * Resolves with the record once `until` says it is enough (undefined: the
   * record was removed), or with the last version seen when the wait is over.
   *
   * Every waiter of this node is served by one watch of the whole bucket
   * (new versions only, headers only: a record waited for is the version
   * this node wrote, else read), started with the first waiter and stopped once
   * nobody has waited for a while: a watch per waiter is an ordered consumer
   * created, asked about and deleted on the NATS server per request. The
   * waiter is registered once the watch is live, then the record is read:
   * whichever of the read and the watch brings the newer revision wins.
   */
  async watch(key: string, until: (record: JobRecord | undefined) => boolean, waitMs: number): Promise<JobRecord | undefined> {
    await this.sharedWatch();
    // Registered before the read: a version written after it comes through the watch, whenever it arrives.
    let last: JobRecord | undefined;
    let lastRevision = 0;
    let reading = true;
    let ended = false;
    let answer!: (record: JobRecord | undefined) => void;
    const answered = new Promise<JobRecord | undefined>((resolve) => (answer = resolve));
    const waiters = this.recordWaiters.get(key) ?? new Set<RecordWaiter>();
    this.recordWaiters.set(key, waiters);
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      waiters.delete(waiter);
      if (waiters.size === 0 && this.recordWaiters.get(key) === waiters) this.recordWaiters.delete(key);
      this.watchUsed();
      answer(last);
    };
    const waiter: RecordWaiter = {
      see(record, revision) {
        if (revision <= lastRevision) return;
        last = record;
        lastRevision = revision;
        if (!reading && until(record)) end();
      },
      end,
    };
    waiters.add(waiter);
    const timer = setTimeout(end, waitMs);
    try {
      const read = await this.get(key);
      if (read && read.revision > lastRevision) {
        last = read.record;
        lastRevision = read.revision;
      }
    } catch (error) {
      end();
      throw error;
    }
    reading = false;
    if (until(last)) end();
    return answered;
  }

  /** The one watch of the bucket, live (its consumer created) when this resolves. */
  private sharedWatch(): Promise<void> {
    if (this.idleWatch) clearTimeout(this.idleWatch);
    this.idleWatch = undefined;
    if (this.shared) return this.shared.ready;
    const shared: SharedWatch = { ready: Promise.resolve(), watcher: undefined };
    shared.ready = (async () => {
      const watcher = await this.kv.watch({ key: '>', include: KvWatchInclude.UpdatesOnly, headers_only: true });
      shared.watcher = watcher;
      if (this.shared !== shared) watcher.stop();
      else void this.followWatch(watcher, shared);
    })();
    this.shared = shared;
    shared.ready.catch(() => {
      if (this.shared === shared) this.shared = undefined;
    });
    return shared.ready;
  }

  private async followWatch(watcher: KvWatcher, shared: SharedWatch): Promise<void> {
    try {
      for await (const entry of watcher) {
        const { key, revision } = entry;
        const waiters = this.recordWaiters.get(key);
        // Headers only: the record is the one this node wrote (remembered), else read.
        const known = this.known.get(key);
        // A version this node has (it wrote or read it: a PUT), or one of a
        // key it neither remembers nor waits for, needs no look at its
        // headers (parsed on first use: most of a watched write's cost here).
        if (known && known.revision >= revision) {
          if (!waiters) continue;
          const record = JSON.parse(known.text) as JobRecord;
          for (const waiter of [...waiters]) waiter.see(record, known.revision);
          continue;
        }
        if (!known && !waiters) continue;
        if (entry.operation !== 'PUT') {
          this.forget(key);
          if (waiters) for (const waiter of [...waiters]) waiter.see(undefined, revision);
          continue;
        }
        if (!waiters) continue;
        void this.get(key).then(
          (found) => {
            for (const waiter of [...waiters]) waiter.see(found?.record, found?.revision ?? revision);
          },
          () => undefined, // NATS away: the wait ends with what it saw
        );
      }
    } catch {
      // the connection went: the next waiter starts another
    } finally {
      if (this.shared === shared) {
        this.shared = undefined;
        // Its waiters answer with what they saw (a client asks again).
        for (const waiters of [...this.recordWaiters.values()]) for (const waiter of [...waiters]) waiter.end();
      }
    }
  }

  /** After the last waiter: the watch stops once nobody waited for WATCH_IDLE_MS. */
  private watchUsed(): void {
    if (this.recordWaiters.size > 0 || !this.shared || this.idleWatch) return;
    this.idleWatch = setTimeout(() => {
      this.idleWatch = undefined;
      if (this.recordWaiters.size > 0) return;
      this.shared?.watcher?.stop();
      this.shared = undefined;
    }, WATCH_IDLE_MS);
    this.idleWatch.unref();
  }
}
