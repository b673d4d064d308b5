// The line of calls waiting for a sandbox, and what happens when it is full:
// refuse at once ("busy", a line the client can act on, never a hang), or
// wait a bounded time for room. A spot freed goes straight to the longest
// waiting newcomer, so waiting for room is first come, first served.

export interface AdmissionOptions {
  /** Calls waiting at most. */
  queueLength: number;
  queueFull: 'refuse' | 'wait';
  /** With 'wait': how long a call may wait for room in the line. */
  queueWaitMs: number;
}

export class Admission {
  private waiting = 0;
  private readonly waitingForRoom: Array<() => void> = [];

  constructor(private readonly options: AdmissionOptions) {}

  /** Calls in the line now. */
  get length(): number {
    return this.waiting;
  }

  /** Joins the line: true once in it; false if it is full (and stayed full for queueWaitMs). */
  join(): Promise<boolean> {
    if (this.waiting < this.options.queueLength) {
      this.waiting++;
      return Promise.resolve(true);
    }
    if (this.options.queueFull === 'refuse') return Promise.resolve(false);
    return new Promise((resolve) => {
      const enter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waitingForRoom.splice(this.waitingForRoom.indexOf(enter), 1);
        resolve(false);
      }, this.options.queueWaitMs);
      this.waitingForRoom.push(enter);
    });
  }

  /** Leaves the line (got a sandbox slot): the spot passes to a call waiting for room, if any. */
  leave(): void {
    const next = this.waitingForRoom.shift();
    if (next) next();
    else this.waiting--;
  }

  /** Why a call was refused, for its Reason line. */
  refusal(): string {
    const { queueLength, queueFull, queueWaitMs } = this.options;
    const full = `the server is busy: ${queueLength} call${queueLength === 1 ? ' already waits' : 's already wait'} for a sandbox`;
    return queueFull === 'wait' ? `${full}, and no room came within ${queueWaitMs} ms; try again later` : `${full}; try again later`;
  }
}
