// What a heartbeat says about the machine and the node, read from the kernel:
// CPU use from /proc/stat (the machine) and from the node's cgroup (the node
// and its sandboxes, which the launcher puts below the node's own cgroup) as
// deltas between two samples, memory from /proc/meminfo, the load average.
// A sample costs a few small reads: nothing is spawned, nothing is scanned.
import fs from 'node:fs';
import os from 'node:os';

export interface HostLoad {
  cpu: { host: number; node?: number; cores: number };
  memory: { totalBytes: number; availableBytes: number; usedBytes: number };
  load: [number, number, number];
}

/** The first line of /proc/stat: busy and total jiffies of all CPUs. */
export function parseProcStat(text: string): { busy: number; total: number } {
  const line = text.slice(0, text.indexOf('\n'));
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu') throw new Error('/proc/stat does not start with the cpu line');
  // user nice system idle iowait irq softirq steal (guest and guest_nice are in user and nice already)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number) as number[];
  const idleAll = idle! + (iowait ?? 0);
  const busy = user! + nice! + system! + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy, total: busy + idleAll };
}

/** MemTotal and MemAvailable of /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } {
  const kib = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!match) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(match[1]) * 1024;
  };
  return { totalBytes: kib('MemTotal'), availableBytes: kib('MemAvailable') };
}

/** The file that counts the CPU time of this process's cgroup, in ns (v1) or µs (v2). */
export function cgroupCpuCounter(procSelfCgroup: string, root = '/sys/fs/cgroup'): { file: string; unit: 'ns' | 'us' } | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    const [, controllers, where] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || where === undefined) continue;
    if (controllers.split(',').includes('cpuacct')) {
      for (const mount of [`${root}/cpuacct`, `${root}/cpu,cpuacct`]) {
        const file = `${mount}${where}/cpuacct.usage`.replace('//', '/');
        if (fs.existsSync(file)) return { file, unit: 'ns' };
      }
    }
    if (controllers === '' && fs.existsSync(`${root}/cgroup.controllers`)) {
      const file = `${root}${where}/cpu.stat`.replace('//', '/');
      if (fs.existsSync(file)) return { file, unit: 'us' };
    }
  }
  return undefined;
}

function readCounterNs(counter: { file: string; unit: 'ns' | 'us' }): number {
  const text = fs.readFileSync(counter.file, 'utf8');
  if (counter.unit === 'ns') return Number(text.trim());
  const match = /^usage_usec (\d+)$/m.exec(text);
  if (!match) throw new Error(`${counter.file} has no usage_usec`);
  return Number(match[1]) * 1000;
}

const clamp = (x: number) => Math.min(1, Math.max(0, x));

export class HostLoadSampler {
  // /proc/stat counts every online CPU, whatever this process's affinity.
  private readonly cores = os.cpus().length;
  private readonly nodeCounter: { file: string; unit: 'ns' | 'us' } | undefined;
  private last: { stat: { busy: number; total: number }; nodeNs: number | undefined; at: bigint };

  constructor() {
    try {
      this.nodeCounter = cgroupCpuCounter(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    } catch {
      this.nodeCounter = undefined;
    }
    this.last = this.read();
  }

  /** Since the previous sample (or the sampler's creation). */
  sample(): HostLoad {
    const now = this.read();
    const total = now.stat.total - this.last.stat.total;
    const host = total > 0 ? clamp((now.stat.busy - this.last.stat.busy) / total) : 0;
    const elapsedNs = Number(now.at - this.last.at);
    const node =
      now.nodeNs !== undefined && this.last.nodeNs !== undefined && elapsedNs > 0 ? clamp((now.nodeNs - this.last.nodeNs) / (elapsedNs * this.cores)) : undefined;
    this.last = now;
    const memory = parseMeminfo(fs.readFileSync('/proc/meminfo', 'utf8'));
    const [one, five, fifteen] = os.loadavg() as [number, number, number];
    return {
      cpu: { host, ...(node !== undefined ? { node } : {}), cores: this.cores },
      memory: { ...memory, usedBytes: memory.totalBytes - memory.availableBytes },
      load: [one, five, fifteen],
    };
  }

  private read() {
    let nodeNs: number | undefined;
    try {
      nodeNs = this.nodeCounter ? readCounterNs(this.nodeCounter) : undefined;
    } catch {
      nodeNs = undefined; // the cgroup went away (moved by systemd): the machine's figure still holds
    }
    return { stat: parseProcStat(fs.readFileSync('/proc/stat', 'utf8')), nodeNs, at: process.hrtime.bigint() };
  }
}
