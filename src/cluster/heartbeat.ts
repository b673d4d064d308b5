// Every node says, once a second (by default), that it is alive and how
// loaded it is, on its own subject: fnjail.node.<name>.heartbeat. The
// machine's figures come from the kernel (host-load.ts); the node's calls
// (running, free slots, queue) from a callback of the server's. The
// incarnation is new at each start, so a node that crashed and came back is
// told from its former self.
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { HostLoadSampler } from './host-load.js';
import { SUBJECTS } from './subjects.js';
import { encodeMessage, type HeartbeatMessage } from './wire.js';

export interface NodeLoad {
  running: number;
  freeSlots: number;
  queued: number;
  capacity: number;
  /** Requests answered since this node started (optional: a node that does not count them sends none). */
  answered?: number;
  /** Whether it takes calls (false while it starts or stops). */
  ready: boolean;
}

export type LoadProvider = () => NodeLoad;

export interface Incarnation {
  id: string;
  startedAt: number;
}

export function newIncarnation(): Incarnation {
  return { id: randomBytes(8).toString('hex'), startedAt: Date.now() };
}

export interface HeartbeatOptions {
  connection: NatsConnection;
  node: string;
  incarnation: Incarnation;
  version: string;
  load: LoadProvider;
  intervalMs: number;
  logger?: Logger;
}

export class HeartbeatPublisher {
  private readonly sampler = new HostLoadSampler();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  /** The last one sent. */
  last: HeartbeatMessage | undefined;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Sends one now, then one per interval. */
  start(): void {
    if (this.timer) return;
    this.beat();
    this.timer = setInterval(() => this.beat(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Builds and sends one heartbeat (at once: e.g. when the node becomes ready). */
  beat(): HeartbeatMessage {
    const { node, incarnation, version, connection } = this.options;
    const load = this.options.load();
    const host = this.sampler.sample();
    const heartbeat: HeartbeatMessage = {
      type: 'heartbeat',
      node,
      incarnation: incarnation.id,
      startedAt: incarnation.startedAt,
      seq: this.seq++,
      sentAt: Date.now(),
      version,
      ready: load.ready,
      ...host,
      calls: { running: load.running, freeSlots: load.freeSlots, queued: load.queued, capacity: load.capacity, ...(load.answered !== undefined ? { answered: load.answered } : {}) },
    };
    this.last = heartbeat;
    if (!connection.isClosed()) {
      try {
        connection.publish(SUBJECTS.heartbeat(node), encodeMessage(heartbeat));
      } catch (error) {
        this.options.logger?.warn({ err: (error as Error).message }, 'heartbeat not sent');
      }
    }
    return heartbeat;
  }
}
