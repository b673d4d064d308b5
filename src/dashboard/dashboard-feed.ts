// The dashboard's one event stream: a frame a second built from the call
// aggregate, the node sampler and the sections other parts provide, written
// once (serialized once, whatever the number of pages) and sent to every page
// watching. The last frames are kept so that a page reconnecting with
// Last-Event-ID gets exactly what it missed; a page too far behind, or one
// that saw another life of the server, gets a snapshot instead. A page that
// does not read (its connection's buffer grows past a limit) is cut off: it
// reconnects and resumes, and it never holds the server's memory.
import { randomBytes } from 'node:crypto';
import type { MemberRow } from '../cluster/member-table.js';
import type { FunctionRecord } from '../functions/registry.js';
import type { Frame, FunctionView, JobsSection, NodeView } from '../../web/src/payload.js';
import { CallAggregate, RECENT_CALLS } from './call-aggregate.js';
import { ClusterNodes } from './cluster-nodes.js';
import { NodeSampler } from './node-sampler.js';

/** Frames kept for pages that reconnect (two minutes). */
const KEPT_FRAMES = 120;
/** A page whose unsent data grows past this is cut off (it resumes on reconnecting). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** How often the functions of the registry are read again while pages watch. */
const FUNCTIONS_REFRESH_MS = 5000;
/** How long a page waits before reconnecting (the EventSource retry field). */
const RETRY_MS = 2000;

export interface DashboardSources {
  nodeName: string;
  version: string;
  /** This node's calls running now and its sandbox slots. */
  load(): { running: number; capacity: number };
  /** The registry's state ('off', 'starting', 'ready', ...). */
  registryState(): string;
  /** Every registered function (called only while the registry is ready). */
  functions(): Promise<FunctionRecord[]>;
  /** The member table of the cluster this node belongs to (ClusterNode.memberTable()), or undefined: no cluster. */
  cluster?: () => MemberRow[] | undefined;
  /** The job queue, or undefined: this server has none (the job queue provides it). */
  jobs?: () => JobsSection | undefined;
}

/** Where a page's events are written; false: the page is gone or too far behind. */
export type PageWriter = (chunk: string) => boolean;

export class DashboardFeed {
  readonly calls = new CallAggregate();
  private readonly sampler = new NodeSampler();
  private readonly members = new ClusterNodes();
  /** Names this life of the server in event ids: an id of another life is never resumed from. */
  private readonly life = randomBytes(4).toString('hex');
  private sequence = 0;
  private readonly frames: Array<{ sequence: number; text: string }> = [];
  private readonly pages = new Set<PageWriter>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  /** What the last tick covered: seconds up to this one, calls up to this count. */
  private sentSecond: number | undefined;
  private sentCalls = 0;
  private registered: FunctionRecord[] = [];
  private registeredAt = 0;

  /** tickMs: how often a frame is sent (0: only when tick() is called, for tests and benches). */
  constructor(
    private readonly sources: DashboardSources,
    private readonly tickMs = 1000,
  ) {}

  /** Starts sending frames to the page: those after lastEventId if they are kept, else a snapshot. Returns what stops it. */
  watch(lastEventId: string | undefined, write: PageWriter): () => void {
    this.start();
    let text = `retry: ${RETRY_MS}\n\n`;
    const missed = this.framesAfter(lastEventId);
    if (missed) for (const frame of missed) text += frame.text;
    else text += this.eventText(this.sequence, this.frame('snapshot'));
    if (!write(text)) return () => undefined;
    this.pages.add(write);
    return () => this.pages.delete(write);
  }

  get watching(): number {
    return this.pages.size;
  }

  /** Builds and sends the frame of the second just over (the timer's work; a bench calls it directly). */
  tick(now = Date.now()): void {
    this.sampler.sample();
    const rows = this.sources.cluster?.();
    if (rows) this.members.sample(rows);
    this.refreshFunctions(now);
    const text = this.eventText(++this.sequence, this.frame('tick', now));
    this.frames.push({ sequence: this.sequence, text });
    if (this.frames.length > KEPT_FRAMES) this.frames.shift();
    for (const write of [...this.pages]) if (!write(text)) this.pages.delete(write);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.pages.clear();
  }

  /** Whether a page with this much unsent data is still keeping up. */
  keepingUp(bufferedBytes: number): boolean {
    return bufferedBytes <= MAX_BUFFERED_BYTES;
  }

  /** The first page starts the frames; they go on from then, so that a page that reconnects finds the ones it missed. */
  private start(): void {
    if (this.started) return;
    this.started = true;
    this.sentSecond = Math.floor(Date.now() / 1000) - 1;
    this.sentCalls = this.calls.count;
    if (this.tickMs > 0) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /** The frames after this event id, or undefined when they are not all kept (or the id is not of this life). */
  private framesAfter(lastEventId: string | undefined): Array<{ text: string }> | undefined {
    const match = lastEventId === undefined ? null : /^([0-9a-f]{8})-(\d+)$/.exec(lastEventId);
    if (!match || match[1] !== this.life) return undefined;
    const seen = Number(match[2]);
    if (seen > this.sequence) return undefined;
    if (seen === this.sequence) return [];
    const first = this.frames[0];
    if (!first || first.sequence > seen + 1) return undefined;
    return this.frames.filter((f) => f.sequence > seen);
  }

  private eventText(sequence: number, frame: Frame): string {
    return `id: ${this.life}-${sequence}\ndata: ${JSON.stringify(frame)}\n\n`;
  }

  private frame(kind: Frame['kind'], now = Date.now()): Frame {
    const snapshot = kind === 'snapshot';
    const recent = this.calls.recentSince(snapshot ? undefined : this.sentCalls);
    const seconds = this.calls.secondsAfter(snapshot ? undefined : this.sentSecond, now);
    if (!snapshot) {
      this.sentCalls = this.calls.count;
      this.sentSecond = seconds.at(-1)?.second ?? this.sentSecond;
    }
    const rows = this.sources.cluster?.();
    return {
      kind,
      time: now,
      node: this.sources.nodeName,
      version: this.sources.version,
      nodes: { cluster: rows !== undefined, list: rows ? this.members.views(rows, this.localNode(now)) : [this.localNode(now)] },
      calls: {
        totals: this.calls.totalsByOutcome(),
        seconds,
        latencyMs: this.calls.latencyView(now),
        recent: recent.recent.slice(0, RECENT_CALLS),
        omitted: recent.omitted + Math.max(0, recent.recent.length - RECENT_CALLS),
      },
      functions: { registry: this.sources.registryState(), list: this.functionViews() },
      jobs: this.sources.jobs?.() ?? null,
    };
  }

  private localNode(now: number): NodeView {
    const { running, capacity } = this.sources.load();
    const { cpu, memory } = this.sampler.latest;
    return {
      name: this.sources.nodeName,
      state: 'up',
      coordinator: false,
      heartbeatAgeMs: 0,
      cpu,
      memory,
      running,
      freeSlots: Math.max(0, capacity - running),
      history: { cpu: this.sampler.history(), callsPerSecond: this.calls.callsPerSecond(now) },
    };
  }

  /** The registered functions with this node's calls of them, then the libraries called by path. */
  private functionViews(): FunctionView[] {
    const counts = this.calls.targetViews();
    const none = { calls: 0, errors: 0, p50Ms: null };
    const views: FunctionView[] = this.registered.map((r) => ({ name: r.name, owner: r.owner, kind: r.kind, version: r.version, ...pick(counts.get(r.name) ?? none) }));
    const names = new Set(views.map((v) => v.name));
    for (const [name, c] of counts) {
      if (!names.has(name) && !c.registered) views.push({ name, owner: null, kind: 'path', version: null, ...pick(c) });
    }
    return views.sort((a, b) => b.calls - a.calls || a.name.localeCompare(b.name));
  }

  /** The registry is read again every few seconds while pages watch (never on a call's path). */
  private refreshFunctions(now: number): void {
    if (this.registeredAt + FUNCTIONS_REFRESH_MS > now) return;
    this.registeredAt = now;
    if (this.sources.registryState() !== 'ready') {
      this.registered = [];
      return;
    }
    this.sources.functions().then(
      (records) => (this.registered = records),
      () => undefined, // the registry went away meanwhile: its state says so on the page
    );
  }
}

function pick(c: { calls: number; errors: number; p50Ms: number | null }) {
  return { calls: c.calls, errors: c.errors, p50Ms: c.p50Ms };
}
