// This machine's CPU and memory, sampled once a second for the dashboard's
// node section: CPU as the share of all cores' time not idle since the sample
// before (os.cpus() counters), memory as total minus available.
import os from 'node:os';
import { HISTORY_SECONDS } from './call-aggregate.js';

export interface NodeSample {
  cpu: number | null;
  memory: { usedBytes: number; totalBytes: number };
}

export class NodeSampler {
  private previous = cpuTimes();
  private last: NodeSample = { cpu: null, memory: memory() };
  /** Oldest first, one a second. */
  private readonly cpuHistory: Array<number | null> = [];

  /** Takes a sample (call it once a second). */
  sample(): NodeSample {
    const now = cpuTimes();
    const total = now.total - this.previous.total;
    const cpu = total > 0 ? Math.min(1, Math.max(0, 1 - (now.idle - this.previous.idle) / total)) : null;
    this.previous = now;
    this.last = { cpu, memory: memory() };
    this.cpuHistory.push(cpu);
    if (this.cpuHistory.length > HISTORY_SECONDS) this.cpuHistory.shift();
    return this.last;
  }

  get latest(): NodeSample {
    return this.last;
  }

  /** The last minute, oldest first, padded with nulls to HISTORY_SECONDS values. */
  history(): Array<number | null> {
    return [...new Array<null>(HISTORY_SECONDS - this.cpuHistory.length).fill(null), ...this.cpuHistory];
  }
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

function memory(): { usedBytes: number; totalBytes: number } {
  const totalBytes = os.totalmem();
  return { usedBytes: totalBytes - os.freemem(), totalBytes };
}
