// What the page knows, from the frames of the event stream: a snapshot
// replaces it, a tick extends it (new seconds, new calls) and replaces the
// small sections. The page keeps more last calls than a frame carries, so
// that filtering by outcome still finds the rarer ones.
import type { CallView, Frame, SecondCounts } from './payload.js';

/** Last calls the page keeps. */
const KEPT_CALLS = 500;
/** Seconds of rates kept (the server's history length). */
const KEPT_SECONDS = 60;

export class PageState {
  latest: Frame | undefined;
  seconds: SecondCounts[] = [];
  calls: CallView[] = [];
  /** Calls the server answered that the page never saw (too many at once). */
  omitted = 0;

  apply(frame: Frame): void {
    if (frame.kind === 'snapshot') {
      this.seconds = frame.calls.seconds;
      this.calls = frame.calls.recent;
      this.omitted = 0;
    } else {
      const last = this.seconds.at(-1)?.second ?? -Infinity;
      this.seconds.push(...frame.calls.seconds.filter((s) => s.second > last));
      this.calls = [...frame.calls.recent, ...this.calls];
      this.omitted += frame.calls.omitted;
    }
    if (this.seconds.length > KEPT_SECONDS) this.seconds.splice(0, this.seconds.length - KEPT_SECONDS);
    if (this.calls.length > KEPT_CALLS) this.calls.length = KEPT_CALLS;
    this.latest = frame;
  }
}

export function countOf(second: SecondCounts | undefined): number {
  if (!second) return 0;
  let total = 0;
  for (const n of Object.values(second.byOutcome)) total += n ?? 0;
  return total;
}
