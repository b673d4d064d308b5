// The tar format, as far as bundles need it: reading the headers of ustar,
// pax (extended headers with long paths) and GNU (long names, base-256
// numbers) archives, and writing the one canonical form fnjail stores (ustar
// with pax headers for long names). Pure functions over buffers: what an entry
// may be is decided by bundle-archive.ts, not here.

export const BLOCK = 512;

/** Why a header cannot be read; bundle-archive.ts turns it into a coded error. */
export class TarFormatError extends Error {}

/** Type flags, as in POSIX and GNU tar. */
export const TarType = {
  File: '0',
  OldFile: '\0',
  HardLink: '1',
  Symlink: '2',
  CharDevice: '3',
  BlockDevice: '4',
  Directory: '5',
  Fifo: '6',
  Contiguous: '7',
  PaxHeader: 'x',
  PaxGlobal: 'g',
  GnuLongName: 'L',
  GnuLongLink: 'K',
} as const;

export interface TarHeader {
  /** Name as stored (prefix/name joined for ustar); a pax or GNU long name replaces it. */
  name: Buffer;
  linkName: Buffer;
  mode: number;
  size: number;
  mtime: number;
  type: string;
}

function field(block: Buffer, offset: number, length: number): Buffer {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return end === -1 ? raw : raw.subarray(0, end);
}

/** An octal number (NUL or space terminated), or GNU's base-256 (first byte's high bit set). */
function number(block: Buffer, offset: number, length: number, what: string): number {
  const raw = block.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    if (raw[0] === 0xff) throw new TarFormatError(`negative ${what}`);
    let value = raw[0]! & 0x7f;
    for (let i = 1; i < raw.length; i++) {
      value = value * 256 + raw[i]!;
      if (!Number.isSafeInteger(value)) throw new TarFormatError(`${what} too large`);
    }
    return value;
  }
  const text = raw.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`${what} is not an octal number`);
  return parseInt(text, 8);
}

function checksumOf(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Reads one 512-byte header; throws TarFormatError if it is not one. */
export function readHeader(block: Buffer): TarHeader {
  const magic = block.subarray(257, 263).toString('latin1');
  const posix = magic === 'ustar\0';
  if (!posix && magic !== 'ustar ') throw new TarFormatError('not a ustar, pax or GNU tar header (an old v7 archive, or not a tar archive)');
  const stored = number(block, 148, 8, 'checksum');
  const { unsigned, signed } = checksumOf(block);
  if (stored !== unsigned && stored !== signed) throw new TarFormatError('header checksum mismatch (damaged archive)');
  const name = field(block, 0, 100);
  // The prefix field exists in POSIX ustar only: GNU keeps times there.
  const prefix = posix ? field(block, 345, 155) : Buffer.alloc(0);
  return {
    name: prefix.length ? Buffer.concat([prefix, Buffer.from('/'), name]) : Buffer.from(name),
    linkName: Buffer.from(field(block, 157, 100)),
    mode: number(block, 100, 8, 'mode'),
    size: number(block, 124, 12, 'size'),
    mtime: number(block, 136, 12, 'mtime'),
    type: String.fromCharCode(block[156]!),
  };
}

/** The records of a pax extended header ("<length> <key>=<value>\n" each). */
export function readPaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // padding some writers leave
    const space = data.indexOf(0x20, i);
    const length = space === -1 ? NaN : Number(data.subarray(i, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - i + 1 || i + length > data.length || data[i + length - 1] !== 0x0a) {
      throw new TarFormatError('malformed pax extended header');
    }
    const record = data.subarray(space + 1, i + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw new TarFormatError('malformed pax extended header record');
    records.set(record.subarray(0, equals).toString('utf8'), Buffer.from(record.subarray(equals + 1)));
    i += length;
  }
  return records;
}

/** Data blocks after a header of this size (padded to whole blocks). */
export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

// --- writing the canonical form -------------------------------------------

function putString(block: Buffer, offset: number, length: number, value: Buffer): void {
  value.copy(block, offset, 0, Math.min(value.length, length));
}

function putOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'latin1');
}

function header(name: Buffer, type: string, mode: number, size: number, linkName: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, mode);
  putOctal(block, 108, 8, 0); // uid root
  putOctal(block, 116, 8, 0); // gid root
  putOctal(block, 124, 12, size);
  putOctal(block, 136, 12, 0); // mtime: the epoch, so the same content gives the same bytes
  block.write(type, 156, 1, 'latin1');
  putString(block, 157, 100, linkName);
  block.write('ustar\x0000', 257, 8, 'latin1');
  putString(block, 265, 32, Buffer.from('root'));
  putString(block, 297, 32, Buffer.from('root'));
  block.write(checksumOf(block).unsigned.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  // The length counts its own digits.
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function pad(data: Buffer): Buffer {
  const rest = paddedSize(data.length) - data.length;
  return rest ? Buffer.concat([data, Buffer.alloc(rest)]) : data;
}

export interface CanonicalEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  data?: Buffer;
  target?: string;
}

/** One entry in canonical form: a pax header first when the path or link target is too long for ustar. */
export function writeEntry(entry: CanonicalEntry): Buffer[] {
  const name = Buffer.from(entry.type === 'directory' ? `${entry.path}/` : entry.path);
  const target = Buffer.from(entry.target ?? '');
  const blocks: Buffer[] = [];
  const records: Buffer[] = [];
  if (name.length > 100) records.push(paxRecord('path', name));
  if (target.length > 100) records.push(paxRecord('linkpath', target));
  if (records.length) {
    const data = Buffer.concat(records);
    blocks.push(header(Buffer.from('PaxHeader'), TarType.PaxHeader, 0o644, data.length, Buffer.alloc(0)), pad(data));
  }
  const type = entry.type === 'file' ? TarType.File : entry.type === 'directory' ? TarType.Directory : TarType.Symlink;
  const data = entry.data ?? Buffer.alloc(0);
  blocks.push(header(name.subarray(0, 100), type, entry.mode, data.length, target.subarray(0, 100)));
  if (data.length) blocks.push(pad(data));
  return blocks;
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
