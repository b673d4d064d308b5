// What one connection and one peer can make the server create with requests
// that do not run: each such request (malformed, denied, busy...) still gets an
// output file and an audit record, so a peer sending garbage as fast as it can
// would fill the output directory and the audit log. Bounded twice:
// - a connection: after MAX_REFUSED_PER_CONNECTION refused requests it is
//   answered a last line and closed;
// - a peer (a local uid, a TLS client, an anonymous TCP address), over all its
//   connections: a token bucket of --refused-burst refused requests, refilled
//   at --refused-per-second (defaults in config/defaults.ts: sized so that the
//   classic checker's burst, a quarter of it for a missing library, passes
//   again and again). With the bucket empty its requests are answered in-band
//   (no output file, no sandbox) until it refills.
// Both are audited as `requests-refused` records, aggregated (refusal-log.ts).
// Calls that run are bounded elsewhere: by the sandboxes, the queue and the
// tenant's maxConcurrent; their files by retention.
import type { ExecutionResult } from '../executor/executor.js';

export const MAX_REFUSED_PER_CONNECTION = 64;
/** Peers remembered at most; a full bucket is the same as none, and goes first. */
const MAX_PEERS = 10_000;

/** Whether a request ran nothing: refused before a sandbox started. */
export function refusedBeforeRunning(result: ExecutionResult): boolean {
  return result.launch === undefined;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class PeerBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst: number,
    private readonly refillPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private bucket(peer: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(peer);
    if (!bucket) {
      if (this.buckets.size >= MAX_PEERS) this.forgetFull(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(peer, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.refillPerSecond);
    bucket.at = now;
    return bucket;
  }

  /** Whether the peer may make another request that could be refused. */
  allows(peer: string): boolean {
    return this.bucket(peer).tokens >= 1;
  }

  /** A request of the peer was refused (made a file and a record, ran nothing). */
  spend(peer: string): void {
    const bucket = this.bucket(peer);
    bucket.tokens = Math.max(0, bucket.tokens - 1);
  }

  private forgetFull(now: number): void {
    for (const [peer, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.refillPerSecond >= this.burst) this.buckets.delete(peer);
    }
    // Still full of busy peers: the oldest go (a forgotten peer starts with a full bucket, a bounded gift).
    for (const peer of this.buckets.keys()) {
      if (this.buckets.size < MAX_PEERS) break;
      this.buckets.delete(peer);
    }
  }
}
