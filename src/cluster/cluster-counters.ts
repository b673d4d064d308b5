// What a node counts of its part in the cluster, for /metrics
// (metrics/prometheus.ts): calls it sent to other nodes and calls it ran for
// them, by outcome; offers that did not start a call, by why; the changes of
// coordinator it saw. The member table (states, heartbeat ages) is read as is.
import type { MemberRow } from './member-table.js';
import type { NotStarted, TargetEvent } from './remote-calls.js';
import type { MemberState } from './wire.js';

/** Every state of the member table, in the order a node goes through them. */
export const MEMBER_STATES: readonly MemberState[] = ['joining', 'up', 'suspect', 'down', 'left'];

export type Direction = 'sent' | 'received';

/** Why an offer did not start a call: the caller's reasons, and the target's (it refused, or start never came in time). */
export type NotStartedReason = NotStarted;

export interface ClusterFigures {
  members: Pick<MemberRow, 'node' | 'state' | 'heartbeatAgeMs'>[];
  /** Calls run on another node (sent) or here for another node (received), by outcome. */
  ran: Record<Direction, ReadonlyMap<string, number>>;
  /** Offers of a call that did not start it, by why. */
  notStarted: Record<Direction, ReadonlyMap<NotStartedReason, number>>;
  /** Times this node saw the coordinator's lease pass to another node. */
  coordinatorChanges: number;
  /** Messages refused (a node speaking for another, unreadable ones). */
  rejectedMessages: number;
}

export class ClusterCounters {
  readonly ran: Record<Direction, Map<string, number>> = { sent: new Map(), received: new Map() };
  readonly notStarted: Record<Direction, Map<NotStartedReason, number>> = { sent: new Map(), received: new Map() };
  coordinatorChanges = 0;
  private coordinator: string | undefined;

  ranCall(direction: Direction, outcome: string): void {
    bump(this.ran[direction], outcome);
  }

  offerNotStarted(direction: Direction, why: NotStartedReason): void {
    bump(this.notStarted[direction], why);
  }

  /** What happens here to another node's call: counted once it ran, or once it is known it will not. */
  targetEvent(event: TargetEvent): void {
    if (event.type === 'finished') this.ranCall('received', event.detail ?? 'unknown');
    else if (event.type === 'refused') this.offerNotStarted('received', 'refused');
    else if (event.type === 'cancelled') this.offerNotStarted('received', 'cancelled');
    // The reservation ran out (its start never came): once per call (a start that comes later is answered "expired" too, not counted again).
    else if (event.type === 'expired' && event.reservationEnded) this.offerNotStarted('received', 'expired');
  }

  /** The lease's holder as this node just read it: a different one than before is a change. */
  coordinatorSeen(holder: string | undefined): void {
    if (holder === undefined) return;
    if (this.coordinator !== undefined && holder !== this.coordinator) this.coordinatorChanges++;
    this.coordinator = holder;
  }
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
