// Durations as people write them in config files and flags: "90s", "15m",
// "12h", "7d", "1d12h", "1h 30m", "1.5h", "500ms", or milliseconds.

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** 5000 (ms), "5000", "500ms", "90s", "15m", "12h", "7d", "1d12h", "1.5h" -> milliseconds. */
export function parseDuration(text: string | number): number {
  const bad = (): never => {
    throw new Error(`'${text}' is not a duration (e.g. 5000 (ms), "90s", "15m", "12h", "7d", "1d12h")`);
  };
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) bad();
    return text;
  }
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
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
