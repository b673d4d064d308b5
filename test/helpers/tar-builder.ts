// Tar archives built byte by byte, hostile ones included (absolute names,
// "..", links out, device nodes, setuid bits, bad checksums): a writer of its
// own, independent of src/functions/tar-format.ts, so that a mistake there
// cannot hide the same mistake in the reader under test.
import zlib from 'node:zlib';

export interface TarEntrySpec {
  name: string | Buffer;
  /** Type flag (default '0', a regular file). */
  type?: string;
  mode?: number;
  data?: Buffer | string;
  linkName?: string;
  /** ustar (POSIX, default) or gnu magic. */
  format?: 'ustar' | 'gnu';
  /** Corrupts the header checksum. */
  badChecksum?: boolean;
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

function headerBlock(spec: TarEntrySpec, size: number): Buffer {
  const block = Buffer.alloc(512);
  const name = Buffer.isBuffer(spec.name) ? spec.name : Buffer.from(spec.name);
  name.copy(block, 0, 0, 100);
  block.write(octal(spec.mode ?? 0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(1_700_000_000, 12), 136, 'latin1');
  block.write(spec.type ?? '0', 156, 'latin1');
  Buffer.from(spec.linkName ?? '').copy(block, 157, 0, 100);
  block.write(spec.format === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (spec.badChecksum) sum += 1;
  block.write(octal(sum, 7) + ' ', 148, 'latin1');
  return block;
}

function padded(data: Buffer): Buffer {
  const rest = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(rest)]);
}

/** The entries as a tar stream (with the end-of-archive blocks unless end is false). */
export function tar(entries: TarEntrySpec[], { end = true } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const spec of entries) {
    const data = Buffer.isBuffer(spec.data) ? spec.data : Buffer.from(spec.data ?? '');
    parts.push(headerBlock(spec, data.length), padded(data));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzip(data: Buffer): Buffer {
  return zlib.gzipSync(data);
}

export function tarGz(entries: TarEntrySpec[]): Buffer {
  return gzip(tar(entries));
}

/** A pax extended header giving the next entry these records (path, linkpath, size). */
export function pax(records: Record<string, string>): TarEntrySpec {
  const body = Object.entries(records)
    .map(([key, value]) => {
      const text = ` ${key}=${value}\n`;
      let length = Buffer.byteLength(text) + 1;
      while (String(length).length + Buffer.byteLength(text) !== length) length = String(length).length + Buffer.byteLength(text);
      return `${length}${text}`;
    })
    .join('');
  return { name: 'PaxHeader/x', type: 'x', data: body };
}

/** A GNU long name for the next entry. */
export function gnuLongName(name: string): TarEntrySpec {
  return { name: '././@LongLink', type: 'L', data: `${name}\0`, format: 'gnu' };
}

export const MANIFEST = JSON.stringify({ name: 'hello', kind: 'program', mode: 'per-request', entry: 'run.sh' });

/** A valid small bundle's entries, to which a test adds one hostile entry. */
export function validEntries(): TarEntrySpec[] {
  return [
    { name: 'fnjail.json', data: MANIFEST },
    { name: 'run.sh', mode: 0o755, data: '#!/bin/sh\ncat\n' },
  ];
}
