// Durations as people write them in flags and config files: "90s", "15m",
// "12h", "7d", "1d12h", "1h 30m", "1.5h", "500ms". A bare number is seconds,
// as in systemd and nsjail ("--shutdown-grace 30" is half a minute, never 30 ms).

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_EXAMPLES = '30 (seconds), "500ms", "90s", "15m", "12h", "7d", "1d12h"';

/** 30, "30" (seconds), "500ms", "90s", "15m", "12h", "7d", "1d12h", "1.5h" -> milliseconds. */
export function parseDuration(text: string | number): number {
  const bad = (hint = ''): never => {
    throw new Error(`'${text}' is not a duration${hint} (e.g. ${DURATION_EXAMPLES})`);
  };
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) bad();
    return Math.round(text * 1000);
  }
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // The units people reach for that mean something else here, or nothing.
  const unit = /^\d+(?:\.\d+)?\s*([a-zA-Z]+)$/.exec(trimmed)?.[1];
  if (unit && !DURATION_UNITS[unit]) bad(`: the units are ms, s, m, h and d, not '${unit}'`);
  if (!/^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$/.test(trimmed)) bad();
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
  return Math.round(total);
}

/** 90000 -> "1m30s"; 86400000 -> "1d"; 250 -> "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
