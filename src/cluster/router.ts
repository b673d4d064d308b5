// Which node runs a call. The candidates are the nodes the caller may use
// (up, with what the call needs, not yet tried for it); the router only
// orders them:
//   least-loaded  the most free slots, then the least CPU (in steps of
//                 cpuStep, so noise does not count), then round-robin among
//                 equals; a node with no free slot gets nothing while another
//                 has one (when none has, the shortest queue wins)
//   round-robin   strictly the next node by name after the last one picked,
//                 whatever their load (TP7's load balancer)
// Heartbeats come once a second; calls sent since a node's last heartbeat are
// counted against its free slots, so a burst does not all go to one node.
export type Balance = 'least-loaded' | 'round-robin';

export const BALANCES: readonly Balance[] = ['least-loaded', 'round-robin'];

export interface Candidate {
  node: string;
  freeSlots: number;
  queued: number;
  /** Share of the machine's CPU in use (0..1). */
  cpu: number;
  /** The heartbeat the figures come from (its seq): calls sent since are counted against them. */
  heartbeatSeq: number;
}

export interface RouterOptions {
  balance: Balance;
  /** CPU figures closer than this are equal (default 0.1: 10 % of the machine). */
  cpuStep?: number;
}

export class Router {
  private last: string | undefined;
  /** node → calls sent since the heartbeat of that seq. */
  private readonly sent = new Map<string, { seq: number; count: number }>();

  constructor(private readonly options: RouterOptions) {}

  get balance(): Balance {
    return this.options.balance;
  }

  /** The node for the next call (undefined: no candidate); counts the call as sent to it. */
  pick(candidates: Candidate[]): Candidate | undefined {
    if (!candidates.length) return undefined;
    const sorted = [...candidates].sort((a, b) => a.node.localeCompare(b.node));
    const pool = this.options.balance === 'round-robin' ? sorted : this.leastLoaded(sorted);
    const picked = pool.find((c) => this.last === undefined || c.node > this.last) ?? pool[0]!;
    this.last = picked.node;
    const counted = this.sent.get(picked.node);
    this.sent.set(picked.node, { seq: picked.heartbeatSeq, count: counted?.seq === picked.heartbeatSeq ? counted.count + 1 : 1 });
    return picked;
  }

  /** Free slots, less the calls sent since the heartbeat that announced them. */
  freeSlots(candidate: Candidate): number {
    const counted = this.sent.get(candidate.node);
    return Math.max(0, candidate.freeSlots - (counted?.seq === candidate.heartbeatSeq ? counted.count : 0));
  }

  /** The best-ranked candidates, all equal (in name order). */
  private leastLoaded(sorted: Candidate[]): Candidate[] {
    const step = this.options.cpuStep ?? 0.1;
    const free = sorted.filter((c) => this.freeSlots(c) > 0);
    const rank: (c: Candidate) => number[] = free.length
      ? (c) => [-this.freeSlots(c), Math.floor(c.cpu / step)]
      : (c) => [c.queued, Math.floor(c.cpu / step)];
    const pool = free.length ? free : sorted;
    const ranks = pool.map(rank);
    let best = ranks[0]!;
    for (const r of ranks) if (compare(r, best) < 0) best = r;
    return pool.filter((_, i) => compare(ranks[i]!, best) === 0);
  }
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
