// Reading a bundle from a .tar.gz, safely: our own tar reader (tar-format.ts)
// over zlib, no tar program. Everything is read and checked in memory before
// anything is written, so a refused archive writes nothing at all. Refused:
// absolute paths, "..", links leaving the bundle (bundle.ts), hard links to
// anything but a file of the bundle, device nodes, fifos, setuid/setgid files,
// and archives over the size limits (compressed and decompressed: tar bombs)
// or the entry-count limit.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { formatSize } from '../config/size.js';
import { contentSizeError, DEFAULT_BUNDLE_LIMITS, entryCountError, makeBundle, type Bundle, type BundleLimits, type RawEntry } from './bundle.js';
import { BundleError, setuidError, specialFileError } from './bundle-error.js';
import { normalizeEntryPath } from './bundle-paths.js';
import { BLOCK, isZeroBlock, paddedSize, readHeader, readPaxRecords, TarFormatError, TarType } from './tar-format.js';

const gunzip = promisify(zlib.gunzip);

/** Decompresses a .tar.gz, stopping at the limit rather than after it. */
export async function decompressBundle(archive: Buffer, limits: BundleLimits): Promise<Buffer> {
  if (archive.length > limits.maxCompressedBytes) {
    throw new BundleError('compressed-size', `the archive is ${formatSize(archive.length)}, over the limit of ${formatSize(limits.maxCompressedBytes)}`);
  }
  if (archive.length < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) throw new BundleError('not-gzip', 'not a gzip-compressed file (a bundle is a .tar.gz)');
  try {
    return await gunzip(archive, { maxOutputLength: limits.maxUncompressedBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw contentSizeError(limits);
    throw new BundleError('not-gzip', `the gzip data is damaged: ${(error as Error).message}`);
  }
}

/** Reads a .tar.gz bundle; throws BundleError. */
export async function readBundleArchive(archive: Buffer, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Promise<Bundle> {
  return readBundleTar(await decompressBundle(archive, limits), limits);
}

/** Reads an uncompressed tar; throws BundleError. */
export function readBundleTar(tar: Buffer, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Bundle {
  if (tar.length > limits.maxUncompressedBytes) throw contentSizeError(limits);
  const entries: RawEntry[] = [];
  // What the next entry takes from the headers before it (pax "x", GNU "L"/"K").
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  let paxSize: number | undefined;
  let offset = 0;
  let headers = 0;
  for (;;) {
    if (offset + BLOCK > tar.length) {
      // Some writers end with a single zero block, or none when the data ends exactly.
      if (offset === tar.length && headers > 0 && longName === undefined && longLink === undefined) break;
      throw new BundleError('truncated', 'the archive ends in the middle of an entry (truncated)');
    }
    const block = tar.subarray(offset, offset + BLOCK);
    if (isZeroBlock(block)) {
      if (headers === 0) throw new BundleError('not-tar', 'the archive is empty');
      break;
    }
    let header;
    try {
      header = readHeader(block);
    } catch (error) {
      if (!(error instanceof TarFormatError)) throw error;
      throw new BundleError(headers === 0 ? 'not-tar' : 'truncated', `${headers === 0 ? 'not a tar archive' : 'damaged tar header'}: ${error.message}`);
    }
    headers++;
    const size = paxSize ?? header.size;
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) throw new BundleError('truncated', 'the archive ends in the middle of an entry (truncated)');
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + paddedSize(size);

    if (header.type === TarType.PaxHeader || header.type === TarType.PaxGlobal) {
      let records;
      try {
        records = readPaxRecords(data);
      } catch (error) {
        throw new BundleError('not-tar', (error as Error).message);
      }
      // A global header's keys would apply to every later entry; fnjail's archives never need one (git puts a comment there).
      if (header.type === TarType.PaxHeader) {
        longName = records.get('path') ?? longName;
        longLink = records.get('linkpath') ?? longLink;
        const sizeRecord = records.get('size')?.toString('latin1');
        if (sizeRecord !== undefined) {
          if (!/^\d+$/.test(sizeRecord)) throw new BundleError('not-tar', 'malformed size in a pax extended header');
          paxSize = Number(sizeRecord);
        }
      }
      continue;
    }
    if (header.type === TarType.GnuLongName || header.type === TarType.GnuLongLink) {
      const value = data.subarray(0, data.indexOf(0) === -1 ? data.length : data.indexOf(0));
      if (header.type === TarType.GnuLongName) longName = Buffer.from(value);
      else longLink = Buffer.from(value);
      continue;
    }

    const rawName = longName ?? header.name;
    const rawLink = longLink ?? header.linkName;
    longName = longLink = paxSize = undefined;
    const path = normalizeEntryPath(rawName);
    if (entries.length >= limits.maxEntries) throw entryCountError(limits);

    switch (header.type) {
      case TarType.File:
      case TarType.OldFile:
      case TarType.Contiguous:
        if (path === '') throw new BundleError('bad-name', 'a file entry has an empty name');
        const setuid = setuidError(header.mode, path);
        if (setuid) throw setuid;
        entries.push({ path, type: 'file', mode: header.mode, data: Buffer.from(data) });
        break;
      case TarType.Directory:
        if (path !== '') entries.push({ path, type: 'directory' });
        break;
      case TarType.Symlink:
        if (path === '') throw new BundleError('bad-name', 'a link entry has an empty name');
        entries.push({ path, type: 'symlink', target: normalizeLinkText(rawLink, path) });
        break;
      case TarType.HardLink:
        if (path === '') throw new BundleError('bad-name', 'a link entry has an empty name');
        entries.push({ path, type: 'hardlink', target: normalizeEntryPath(rawLink, 'hardlink-escape', 'hard link target') });
        break;
      case TarType.CharDevice:
      case TarType.BlockDevice:
        throw specialFileError('device', path);
      case TarType.Fifo:
        throw specialFileError('fifo', path);
      default:
        throw new BundleError('unsupported-type', `has tar entry type '${header.type.replace('\0', '\\0')}', which bundles do not use (only files, directories and links)`, path);
    }
  }
  return makeBundle(entries, limits);
}

/** A symbolic link's target as text (checked later, against the whole bundle). */
function normalizeLinkText(raw: Buffer, path: string): string {
  const text = raw.toString('utf8');
  if (Buffer.compare(Buffer.from(text), raw) !== 0) throw new BundleError('bad-name', 'symbolic link target is not valid UTF-8', path);
  if (text.includes('\0')) throw new BundleError('bad-name', 'symbolic link target holds a NUL', path);
  return text;
}
