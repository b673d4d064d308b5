// The function records a node has read, kept up to date by a watch on the
// registry's KV bucket, so that a call by name does not cost a JetStream
// round trip (a KV get: a request to the nats-server and its answer) for a
// record that did not change. Entries come from three places: the watch
// (every change of any node, in the bucket's order), a read of the bucket
// (a name the cache does not know, e.g. a function just deployed on another
// node whose change the watch has not delivered yet), and this node's own
// deploys and removals (so that a call after a deploy here always runs the new
// version). Each entry keeps the revision it was read at, and only a newer
// revision replaces it: whatever order the three deliver in, the cache holds
// the newest record it has seen.
//
// While the watch is not known to be running (not started yet, ended, or the
// NATS connection went away and may have missed changes) the cache answers
// nothing and every lookup reads the bucket, as before it existed; the watch
// starts again, from scratch, once the connection is back. A closed
// connection ends it for good (its registry is opened again on a new one).
import type { KV, KvEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { NatsSystem } from '../cluster/nats-connection.js';
import type { FunctionRecord } from './registry.js';

/** A record (undefined: the name was removed) at the bucket's revision it was read at. */
export interface CachedRecord {
  record: FunctionRecord | undefined;
  revision: number;
}

/** How long to wait before watching again after a watch failed to start. */
const RESTART_DELAY_MS = 1000;

export class RecordCache {
  private readonly entries = new Map<string, CachedRecord>();
  /** The running watch (an ordered consumer on the bucket's stream), if any. */
  private watch: { stop(): void } | undefined;
  /** Whether the entries follow the bucket (the watch runs and the connection never dropped since it started). */
  private live = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly onStatus = (status: { state: string }) => {
    if (status.state === 'connected') this.start();
    else this.invalidate();
  };

  constructor(
    private readonly kv: KV,
    private readonly nats: Pick<NatsSystem, 'on' | 'status'>,
    private readonly logger?: Logger,
  ) {
    nats.on('status', this.onStatus);
    if (nats.status().state === 'connected') this.start();
  }

  /** The cached record of the name, or undefined when the cache cannot say (read the bucket). */
  lookup(name: string): CachedRecord | undefined {
    return this.live ? this.entries.get(name) : undefined;
  }

  /** Records what a read or a change of the bucket found (kept if newer than what is cached). */
  learn(name: string, record: FunctionRecord | undefined, revision: number): void {
    const known = this.entries.get(name);
    if (known && known.revision >= revision) return;
    this.entries.set(name, { record, revision });
  }

  /** Forgets everything and stops the watch: changes may be missed from now on. */
  private invalidate(): void {
    this.live = false;
    this.entries.clear();
    this.watch?.stop();
    this.watch = undefined;
  }

  private start(): void {
    if (this.watch) return;
    clearTimeout(this.restartTimer);
    const handle = {
      stopped: false,
      iterator: undefined as { stop(): void } | undefined,
      stop() {
        this.stopped = true;
        this.iterator?.stop();
      },
    };
    this.watch = handle;
    void (async () => {
      try {
        const iterator = await this.kv.watch();
        handle.iterator = iterator;
        if (handle.stopped) {
          iterator.stop();
          return;
        }
        // Every entry from here on is seen: the cache may answer.
        this.live = true;
        for await (const entry of iterator) this.learnEntry(entry);
        if (!handle.stopped) throw new Error('the watch ended');
      } catch (error) {
        if (handle.stopped) return;
        if (this.watch === handle) this.invalidate();
        // A connection going away (or drained at shutdown) ends the watch: it starts again once connected.
        if (this.nats.status().state !== 'connected') return;
        this.logger?.warn({ err: (error as Error).message }, 'the watch of function records stopped; reading records from the bucket until it runs again');
        this.restartTimer = setTimeout(() => this.start(), RESTART_DELAY_MS);
        this.restartTimer.unref();
      }
    })();
  }

  private learnEntry(entry: KvEntry): void {
    if (entry.operation === 'PUT') {
      try {
        this.learn(entry.key, entry.json<FunctionRecord>(), entry.revision);
      } catch {
        this.learn(entry.key, undefined, entry.revision); // unreadable: as if absent, as a read would say
      }
    } else {
      this.learn(entry.key, undefined, entry.revision);
    }
  }
}
