// The contract between the server and the dashboard page: what one event of
// the stream (GET /dashboard/events) carries. The server imports these types
// (src/dashboard/), the page renders them (web/src/); one definition, checked
// by both builds.
//
// The stream is aggregated: one frame a second whatever the load, so a page
// never falls behind. A "snapshot" frame carries everything the page shows
// (the history of the last minute, the last calls); a "tick" carries what
// changed since the frame before (new seconds, new calls) and the current
// state of the small sections (nodes, functions, jobs). A page that
// reconnects with Last-Event-ID gets the ticks it missed, or a snapshot when
// they are gone (or the server restarted).

/** The outcomes of a call, as the server classifies them (docs/errors.md; a test holds them equal to src/executor/classify.ts's). */
export const OUTCOMES = ['ok', 'exit', 'signal', 'timeout', 'limit', 'seccomp', 'load-error', 'missing-function', 'denied', 'bad-request', 'busy', 'server-error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** A member's state in the cluster's member table (docs/cluster.md); a node alone is always up. */
export type NodeState = 'joining' | 'up' | 'suspect' | 'down' | 'left';

export interface NodeView {
  name: string;
  state: NodeState;
  /** It holds the cluster's coordinator lease (it keeps the member table); false for a node alone. */
  coordinator: boolean;
  /** Since its last heartbeat arrived; 0 for the node serving the page (it is the one answering); null: none heard from this incarnation. */
  heartbeatAgeMs: number | null;
  /** Share of the machine's CPU time in use (over the last second here; as its last heartbeat said for another node), 0 to 1; null: unknown. */
  cpu: number | null;
  memory: { usedBytes: number; totalBytes: number } | null;
  /** Calls running and sandbox slots free (another node's: as its last heartbeat said); null: unknown. */
  running: number | null;
  freeSlots: number | null;
  /** The last minute, oldest first, one value a second (null: no figure that second, e.g. the node was silent). */
  history: { cpu: Array<number | null>; callsPerSecond: Array<number | null> };
}

export interface NodesSection {
  /** false: this server is a node alone (no cluster): the list holds it only. */
  cluster: boolean;
  /** By name; in a cluster, every member of the table this node follows (down and left ones too). */
  list: NodeView[];
}

export interface SecondCounts {
  /** Epoch seconds. */
  second: number;
  byOutcome: Partial<Record<Outcome, number>>;
}

export interface CallView {
  /** Epoch milliseconds when it was answered. */
  time: number;
  request: string;
  /** null: no tenant was found (malformed request, or no tenant matched). */
  tenant: string | null;
  /** The registered function's name, or the library and function called. */
  target: string;
  outcome: Outcome;
  durationMs: number;
  /** The first detail line of a failure ("Reason: ..."), null for a success. */
  reason: string | null;
}

export interface LatencyView {
  /** How many of the last calls the percentiles are computed over. */
  window: number;
  p50: number;
  p90: number;
  p99: number;
  /** Calls of the last minute by duration: counts[i] took at most boundsMs[i] (and more than the bound before); the last count: longer than every bound. */
  histogram: { boundsMs: number[]; counts: number[] };
}

export interface CallsSection {
  /** Since the server started. */
  totals: Partial<Record<Outcome, number>>;
  /** Complete seconds, oldest first: the last minute in a snapshot, the new ones in a tick. */
  seconds: SecondCounts[];
  latencyMs: LatencyView | null;
  /** Newest first: the last calls in a snapshot, the calls since the frame before in a tick. */
  recent: CallView[];
  /** Calls answered since the frame before but left out of recent (too many to send them all). */
  omitted: number;
}

export interface FunctionView {
  name: string;
  /** null: a library called by path (no registry entry). */
  owner: string | null;
  kind: 'library' | 'program' | 'path';
  version: string | null;
  /** Since the server started (this node's calls). */
  calls: number;
  errors: number;
  /** Over its last calls; null: none yet. */
  p50Ms: number | null;
}

export interface FunctionsSection {
  /** The registry's state: 'off' (--nats off), 'ready', 'starting', 'down', 'failed'. */
  registry: string;
  list: FunctionView[];
}

export type TicketStatus = 'WAITING' | 'RUNNING' | 'COMPLETED' | 'INVALID';

export interface JobsSection {
  queueLength: number;
  waiting: number;
  running: number;
  /** Age of the oldest waiting work item; null: none waits. */
  oldestWaitingMs: number | null;
  recent: Array<{ ticket: string; function: string; status: TicketStatus; replicas: number; submittedAt: number }>;
}

export interface Frame {
  kind: 'snapshot' | 'tick';
  /** Epoch milliseconds on the server. */
  time: number;
  /** The node serving the page. */
  node: string;
  version: string;
  nodes: NodesSection;
  calls: CallsSection;
  functions: FunctionsSection;
  /** null: this server has no job queue. */
  jobs: JobsSection | null;
}
