// Sizes as people write them in policy files ("256 MiB") and read them in
// error lines.

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** "256 MiB", "16MiB", "4096" or 4096 -> bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/.exec(value.trim());
  if (!match) throw new Error(`'${value}' is not a size (e.g. 4096, "512 KiB", "16 MiB", "2 GiB")`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'B']!);
}

/** 16777216 -> "16 MiB"; 1536 -> "1.5 KiB". */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const size = UNITS[unit]!;
    if (bytes >= size) {
      const value = bytes / size;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}
