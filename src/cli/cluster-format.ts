// The member table as `fnjail cluster status` prints it: one line per node,
// with its state, how old its last heartbeat is, and what that heartbeat said.
// The rows come from ClusterNode.memberTable() (through the server's API).
import type { MemberRow } from '../cluster/member-table.js';
import { formatSize } from '../config/size.js';
import { formatUptime, table } from './stats-format.js';

const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;

/** 0.42 → "0.4s"; null (no heartbeat from this incarnation) → "-". */
export function formatHeartbeatAge(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatUptime(ms / 1000);
}

/** The machine's CPU, and the node's own share (its cgroup) when known: "53% (50%)". */
export function formatCpu(cpu: MemberRow['cpu']): string {
  if (!cpu) return '-';
  return cpu.node === undefined ? percent(cpu.host) : `${percent(cpu.host)} (${percent(cpu.node)})`;
}

export function formatMemory(memory: MemberRow['memory']): string {
  return memory ? `${formatSize(memory.usedBytes)} / ${formatSize(memory.totalBytes)}` : '-';
}

/** The table, header first; the coordinator's name is followed by " *", explained below the table. */
export function formatMemberTable(rows: MemberRow[], now = Date.now(), width = Infinity): string[] {
  if (!rows.length) return ['no member yet (the cluster starts, or this node has not read the member table)'];
  const lines = table(
    [
      { header: 'NODE', max: 66 },
      { header: 'STATE' },
      { header: 'SINCE', right: true },
      { header: 'HEARTBEAT', right: true },
      { header: 'CPU (NODE)', right: true },
      { header: 'MEMORY', right: true },
      { header: 'RUNNING', right: true },
      { header: 'FREE', right: true },
      { header: 'QUEUED', right: true },
      { header: 'VERSION' },
    ],
    rows.map((r) => [
      r.coordinator ? `${r.node} *` : r.node,
      r.state,
      formatUptime((now - Date.parse(r.since)) / 1000),
      formatHeartbeatAge(r.heartbeatAgeMs),
      formatCpu(r.cpu),
      formatMemory(r.memory),
      r.calls ? String(r.calls.running) : '-',
      r.calls ? `${r.calls.freeSlots}/${r.calls.capacity}` : '-',
      r.calls ? String(r.calls.queued) : '-',
      r.version,
    ]),
    width,
  );
  return rows.some((r) => r.coordinator) ? [...lines, '* coordinator'] : [...lines, 'no coordinator known at the moment'];
}
