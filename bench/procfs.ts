// Memory of a server and its process tree, read from /proc while it works.
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const MAX_DEPTH = 6;
/** A sampler stops by itself after this long, whatever happens. */
const SAMPLER_LIMIT_MS = 10 * 60_000;

/** Direct children of pid, from /proc/<pid>/task/<tid>/children (all threads: a
 * child is listed under the thread that forked it), else by scanning /proc. */
export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => null)));
    if (lists.every((l) => l === null)) return await childrenByScan(pid);
    return lists.flatMap((l) => (l ?? '').split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

async function childrenByScan(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) found.push(Number(entry));
  }
  return found;
}

/** Resident set size in bytes (0 if the process is gone or a zombie). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

export async function commOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
}

/** The tree below pid, level by level: [[pid], [children], [grandchildren], ...]. */
export async function processLevels(pid: number): Promise<number[][]> {
  const levels: number[][] = [[pid]];
  for (let depth = 1; depth < MAX_DEPTH; depth++) {
    const previous = levels[depth - 1] ?? [];
    const next = (await Promise.all(previous.map(childrenOf))).flat();
    if (!next.length) break;
    levels.push(next);
  }
  return levels;
}

export interface RssPeak {
  /** Peak of the sum of the control processes: the server and the first
   * controlDepth levels below it (fnjail: the server and its launcher). */
  controlBytes: number;
  /** Peaks of the server process alone and of the levels 1..controlDepth alone. */
  serverBytes: number;
  helperBytes: number;
  /** Peak of the sum of everything deeper (fnjail: sandbox supervisors and
   * workers; baseline: the per-request children), and the most of them at once. */
  perCallBytes: number;
  perCallProcesses: number;
  /** Names of the control processes below the server, e.g. ["fnjail-launcher"]. */
  helpers: string[];
  samples: number;
}

/** Samples the tree of a server every intervalMs until stopped. */
export class RssSampler {
  private stopped = false;
  private readonly done: Promise<RssPeak>;

  constructor(pid: number, controlDepth: number, intervalMs = 20) {
    this.done = this.loop(pid, controlDepth, intervalMs);
  }

  async stop(): Promise<RssPeak> {
    this.stopped = true;
    return this.done;
  }

  private async loop(pid: number, controlDepth: number, intervalMs: number): Promise<RssPeak> {
    const peak: RssPeak = { controlBytes: 0, serverBytes: 0, helperBytes: 0, perCallBytes: 0, perCallProcesses: 0, helpers: [], samples: 0 };
    const until = Date.now() + SAMPLER_LIMIT_MS;
    while (!this.stopped && Date.now() < until) {
      const levels = await processLevels(pid);
      const sizes = await Promise.all(levels.map((level) => Promise.all(level.map(rssBytes))));
      const sum = (values: number[] | undefined) => (values ?? []).reduce((a, b) => a + b, 0);
      const server = sum(sizes[0]);
      const helpers = sum(sizes.slice(1, controlDepth + 1).flat());
      const perCall = sum(sizes.slice(controlDepth + 1).flat());
      const perCallCount = levels.slice(controlDepth + 1).flat().length;
      peak.serverBytes = Math.max(peak.serverBytes, server);
      peak.helperBytes = Math.max(peak.helperBytes, helpers);
      peak.controlBytes = Math.max(peak.controlBytes, server + helpers);
      peak.perCallBytes = Math.max(peak.perCallBytes, perCall);
      peak.perCallProcesses = Math.max(peak.perCallProcesses, perCallCount);
      if (!peak.helpers.length && controlDepth > 0) {
        peak.helpers = await Promise.all(levels.slice(1, controlDepth + 1).flat().map(commOf));
      }
      peak.samples++;
      await sleep(intervalMs);
    }
    return peak;
  }
}

/** CPU ticks (user + system, own and of reaped children) of a process tree. */
export async function treeCpuTicks(pid: number): Promise<number> {
  const pids = (await processLevels(pid)).flat();
  const stats = await Promise.all(pids.map((p) => readFile(`/proc/${p}/stat`, 'utf8').catch(() => '')));
  let ticks = 0;
  for (const stat of stats) {
    // after "(comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based over the whole line
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    for (const i of [11, 12, 13, 14]) ticks += Number(fields[i] ?? 0) || 0;
  }
  return ticks;
}

/** Busy CPU ticks of the whole machine (all CPUs), from /proc/stat. */
export async function machineBusyTicks(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  return (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0) + (v[7] ?? 0);
}

/** Waits until the machine is idle (under 15% of one core for windowMs), so
 * that work a server does after a run (cleaning sandboxes, preparing new
 * ones) does not fall into the next run, nor anything else still running.
 * Returns whether it got idle within limitMs. */
export async function waitForIdle(limitMs = 2000, windowMs = 250): Promise<boolean> {
  const ticksPerWindow = (windowMs / 1000) * 100 * 0.15; // USER_HZ is 100 on Linux
  const until = Date.now() + limitMs;
  let previous = await machineBusyTicks();
  while (Date.now() < until) {
    await sleep(windowMs);
    const now = await machineBusyTicks();
    if (now - previous <= ticksPerWindow) return true;
    previous = now;
  }
  return false;
}

/** CPU ticks (own + reaped children) of every user-space process that is
 * not this process or below it: what else ran on the machine. */
export async function foreignCpuSnapshot(): Promise<Map<number, number>> {
  const self = process.pid;
  const info = new Map<number, { ppid: number; ticks: number; kernel: boolean }>();
  const entries = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  await Promise.all(
    entries.map(async (entry) => {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      if (!stat) return;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const flags = Number(f[6] ?? 0);
      const ppid = Number(f[1] ?? 0);
      const ticks = [11, 12, 13, 14].reduce((a, i) => a + (Number(f[i] ?? 0) || 0), 0);
      info.set(Number(entry), { ppid, ticks, kernel: (flags & 0x00200000) !== 0 || ppid === 2 || Number(entry) === 2 });
    }),
  );
  const ours = (pid: number) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === self) return true;
      p = info.get(p)?.ppid ?? 0;
    }
    return false;
  };
  const out = new Map<number, number>();
  for (const [pid, i] of info) if (!i.kernel && !ours(pid)) out.set(pid, i.ticks);
  return out;
}

/** Ticks used between two snapshots by processes other than ours. */
export function foreignTicksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ticks] of after) total += Math.max(0, ticks - (before.get(pid) ?? 0));
  return total;
}
