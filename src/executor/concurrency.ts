// A counting semaphore with a FIFO queue: at most `limit` executions hold a
// sandbox at once; the others wait in arrival order.

export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private limit: number) {}

  /** A new limit (a reloaded policy): waiters get in as room appears. */
  setLimit(limit: number): void {
    this.limit = limit;
    while (this.active < this.limit && this.waiting.length) {
      this.active++;
      this.waiting.shift()!();
    }
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Whether an acquire now would get a slot without waiting. */
  get free(): boolean {
    return this.active < this.limit && this.waiting.length === 0;
  }

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    // The slot passes straight to the next waiter, unless a lowered limit wants fewer running.
    const next = this.active <= this.limit ? this.waiting.shift() : undefined;
    if (next) next();
    else this.active--;
  }
}
