// Text layout shared by fnjail stats and fnjail top: tables that fit the
// terminal, durations and sizes as people read them, and text from clients
// (paths, names) made safe to print on an admin's terminal.
import { formatSize } from '../config/size.js';
import type { StatsSnapshot } from '../metrics/stats.js';

/** Running, queued and answered executions per tenant (shared with top). */
export function tenantTable(s: StatsSnapshot, width = Infinity): string[] {
  return table(
    [{ header: 'TENANT', max: 32 }, { header: 'RUNNING', right: true }, { header: 'QUEUED', right: true }, { header: 'TOTAL', right: true }],
    s.tenants.map((t) => [tenantName(t.tenant), String(t.running), String(t.queued), String(t.total)]),
    width,
  );
}

/** null / '' is the tenant of requests refused before one was found. */
export function tenantName(tenant: string | null): string {
  return tenant ? tenant : '(none)';
}

export interface Column {
  header: string;
  /** Right-aligned (numbers). */
  right?: boolean;
  /** Cut longer cells, keeping their start. */
  max?: number;
}

const GAP = '  ';
/** The last column keeps at least this much, even if the line then overflows. */
const MIN_LAST_COLUMN = 8;

/** Lines of a table, header first, without trailing blanks. To keep each line within
 * width, the last column is cut from the left (for paths, the end tells them apart). */
export function table(columns: Column[], rows: string[][], width = Infinity): string[] {
  const cells = rows.map((row) => columns.map((column, i) => truncateRight(clean(row[i] ?? ''), column.max ?? Infinity)));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]!.length)));
  const last = columns.length - 1;
  const before = widths.slice(0, last).reduce((sum, w) => sum + w + GAP.length, 0);
  const lastWidth = Math.max(MIN_LAST_COLUMN, width - before);
  const line = (row: string[]) =>
    row
      .map((cell, i) => {
        if (i === last) {
          const cut = truncateLeft(cell, lastWidth);
          return columns[i]!.right ? cut.padStart(Math.min(widths[i]!, lastWidth)) : cut;
        }
        return columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** "/very/long/path/lib.so" -> "…path/lib.so" in width characters. */
export function truncateLeft(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  return `…${text.slice(text.length - (width - 1))}`;
}

export function truncateRight(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  return `${text.slice(0, width - 1)}…`;
}

/** Library paths and function names come from clients: never let them drive the terminal. */
export function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/** Milliseconds for latency columns: "0.42 ms", "12.3 ms", "250 ms", "12.5 s"; null: "-". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** 42 -> "42s"; 7384 -> "2h 03m 04s"; 270000 -> "3d 3h 00m". */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (days > 0) return `${days}d ${hours}h ${two(minutes)}m`;
  if (hours > 0) return `${hours}h ${two(minutes)}m ${two(secs)}s`;
  if (minutes > 0) return `${minutes}m ${two(secs)}s`;
  return `${secs}s`;
}

/** formatSize, or "-" when the size is not known (the launcher is gone). */
export function formatBytes(bytes: number | null): string {
  return bytes === null ? '-' : formatSize(bytes);
}
