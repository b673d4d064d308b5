// Sizes as people write them: "256 MiB", "16MiB", "512 KiB", "4096 B", and
// read them in error lines. Units are 1024-based. Flags and config keys want
// the unit written out (a bare 4096 could be bytes, KiB or blocks); policies,
// whose schema says "bytes" for a number, may give a number of bytes.

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

export const SIZE_EXAMPLES = '"4096 B", "512 KiB", "16 MiB", "2 GiB"';

/** "256 MiB", "16MiB", "4096 B" -> bytes; a number, or a string without unit, only unless unitRequired. */
export function parseSize(value: string | number, options: { unitRequired?: boolean } = {}): number {
  const needsUnit = () => new Error(`'${value}' needs a unit: write ${value} B, or use KiB, MiB, GiB (e.g. ${SIZE_EXAMPLES})`);
  if (typeof value === 'number') {
    if (options.unitRequired) throw needsUnit();
    if (!Number.isFinite(value) || value < 0) throw new Error(`'${value}' is not a size (e.g. ${SIZE_EXAMPLES})`);
    return value;
  }
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)?$/.exec(value.trim());
  const unit = match?.[2];
  if (match && unit && !UNITS[unit]) {
    const hint = /^[kmgt]i?b?$/i.test(unit) ? ` (units are 1024-based: write ${match[1]} ${unit[0]!.toUpperCase()}iB)` : ' (units: B, KiB, MiB, GiB, TiB)';
    throw new Error(`'${value}' is not a size${hint}`);
  }
  if (!match) throw new Error(`'${value}' is not a size (e.g. ${SIZE_EXAMPLES})`);
  if (!unit && options.unitRequired) throw needsUnit();
  return Math.round(Number(match[1]) * UNITS[unit ?? 'B']!);
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
