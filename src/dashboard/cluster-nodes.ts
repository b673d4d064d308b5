// The cluster's members for the dashboard's Nodes section. They come from the
// member table this node follows (ClusterNode.memberTable(): each member's
// state and its latest heartbeat), read once a frame: however many nodes beat
// however often, the page gets one frame a second. Each member's last minute
// (CPU, calls per second) is kept here, one value a frame; its calls per
// second are the difference between two of its heartbeats' counts of answered
// requests over the time between them. The node serving the page shows its
// own figures (sampled here, exact) with the state the table gives it.
import type { MemberRow } from '../cluster/member-table.js';
import type { NodeView } from '../../web/src/payload.js';
import { HISTORY_SECONDS } from './call-aggregate.js';

/** Two heartbeats whose arrival times differ by less than this are one (the age is rounded to the ms). */
const SAME_BEAT_MS = 25;

interface Track {
  incarnation: string;
  cpu: Array<number | null>;
  calls: Array<number | null>;
  /** The last heartbeat counted: when it arrived (monotonic ms) and its count of answered requests. */
  beat?: { at: number; answered: number | undefined };
  /** Calls per second between the last two heartbeats; null: not known yet. */
  rate: number | null;
}

/** Whether the row's figures are current enough to show: a down or departed node's last heartbeat is not. */
function heard(row: MemberRow): boolean {
  return row.heartbeatAgeMs !== null && (row.state === 'joining' || row.state === 'up' || row.state === 'suspect');
}

function padded(values: Array<number | null>): Array<number | null> {
  return [...new Array<null>(Math.max(0, HISTORY_SECONDS - values.length)).fill(null), ...values];
}

export class ClusterNodes {
  private readonly tracks = new Map<string, Track>();

  /** Records one second of every member, from the table as read now (call it once a frame). */
  sample(rows: readonly MemberRow[], nowMono = performance.now()): void {
    const names = new Set<string>();
    for (const row of rows) {
      names.add(row.node);
      let track = this.tracks.get(row.node);
      if (!track || track.incarnation !== row.incarnation) {
        // A new incarnation counts its requests from zero: its rate starts over, its history goes on.
        track = { incarnation: row.incarnation, cpu: track?.cpu ?? [], calls: track?.calls ?? [], rate: null };
        this.tracks.set(row.node, track);
      }
      const live = heard(row);
      if (live) this.countBeat(track, nowMono - row.heartbeatAgeMs!, row.calls?.answered);
      push(track.cpu, live ? (row.cpu?.host ?? null) : null);
      push(track.calls, live ? track.rate : null);
    }
    for (const name of [...this.tracks.keys()]) if (!names.has(name)) this.tracks.delete(name);
  }

  /** The members as the page shows them, by name; self: the node serving the page, with its own figures. */
  views(rows: readonly MemberRow[], self: NodeView): NodeView[] {
    const views = rows.map((row): NodeView => {
      if (row.node === self.name) return { ...self, state: row.state, coordinator: row.coordinator };
      const live = heard(row);
      const track = this.tracks.get(row.node);
      return {
        name: row.node,
        state: row.state,
        coordinator: row.coordinator,
        heartbeatAgeMs: row.heartbeatAgeMs,
        cpu: live ? (row.cpu?.host ?? null) : null,
        memory: live && row.memory ? { usedBytes: row.memory.usedBytes, totalBytes: row.memory.totalBytes } : null,
        running: live ? (row.calls?.running ?? null) : null,
        freeSlots: live ? (row.calls?.freeSlots ?? null) : null,
        history: { cpu: padded(track?.cpu ?? []), callsPerSecond: padded(track?.calls ?? []) },
      };
    });
    // Not in the table yet (it is joining): the page still shows the node it is looking at.
    if (!views.some((v) => v.name === self.name)) views.push({ ...self, state: 'joining', coordinator: false });
    return views.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A heartbeat not counted yet updates the member's rate. */
  private countBeat(track: Track, at: number, answered: number | undefined): void {
    const before = track.beat;
    if (before && Math.abs(at - before.at) < SAME_BEAT_MS) return;
    track.beat = { at, answered };
    if (!before || answered === undefined || before.answered === undefined || answered < before.answered || at <= before.at) return;
    track.rate = Math.round(((answered - before.answered) / ((at - before.at) / 1000)) * 10) / 10;
  }
}

function push(values: Array<number | null>, value: number | null): void {
  values.push(value);
  if (values.length > HISTORY_SECONDS) values.shift();
}
