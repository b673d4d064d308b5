// A bundle: the files of one function version, validated and in canonical
// form whatever it came from (a .tar.gz, a directory). Canonical means sorted
// paths, every directory listed, modes reduced to 0755/0644, owner root,
// mtime 0, hard links turned into copies: the same content always gives the
// same tar bytes, and the sha256 of those bytes is the version.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { formatSize } from '../config/size.js';
import { BundleError } from './bundle-error.js';
import { resolveLink, type PathKind } from './bundle-paths.js';
import { END_OF_ARCHIVE, writeEntry } from './tar-format.js';

export interface BundleLimits {
  /** Size of a .tar.gz as received. */
  maxCompressedBytes: number;
  /** Size of the tar stream once decompressed, and of all files' contents together. */
  maxUncompressedBytes: number;
  /** Files, directories and links, the directories implied by paths included. */
  maxEntries: number;
}

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = {
  maxCompressedBytes: 64 * 1024 * 1024,
  maxUncompressedBytes: 256 * 1024 * 1024,
  maxEntries: 10_000,
};

export type BundleEntry =
  | { path: string; type: 'file'; executable: boolean; data: Buffer }
  | { path: string; type: 'directory' }
  | { path: string; type: 'symlink'; target: string };

/** An entry as a reader found it, its path normalized (bundle-paths.ts), not yet checked against the others. */
export type RawEntry =
  | { path: string; type: 'file'; mode: number; data: Buffer }
  | { path: string; type: 'directory' }
  | { path: string; type: 'symlink'; target: string }
  /** target: a normalized bundle path. */
  | { path: string; type: 'hardlink'; target: string };

export interface Bundle {
  /** In canonical order: parents before children. */
  entries: BundleEntry[];
  /** The canonical tar (uncompressed). */
  tar: Buffer;
  /** sha256 of tar, in hex: the version. */
  hash: string;
  /** All files' contents together. */
  contentBytes: number;
}

export function compareBundlePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function entryCountError(limits: BundleLimits): BundleError {
  return new BundleError('entries', `the bundle has more than ${limits.maxEntries} entries`);
}

export function contentSizeError(limits: BundleLimits): BundleError {
  return new BundleError('uncompressed-size', `the bundle is over ${formatSize(limits.maxUncompressedBytes)} uncompressed (a tar bomb?)`);
}

/** Checks the entries against each other and the limits, and builds the canonical bundle. */
export function makeBundle(raw: RawEntry[], limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Bundle {
  const byPath = new Map<string, RawEntry>();
  const add = (entry: RawEntry) => {
    const earlier = byPath.get(entry.path);
    if (earlier) {
      if (earlier.type === 'directory' && entry.type === 'directory') return;
      throw new BundleError('duplicate-entry', 'appears twice in the bundle (a later entry would replace an earlier one)', entry.path);
    }
    byPath.set(entry.path, entry);
    if (byPath.size > limits.maxEntries) throw entryCountError(limits);
  };
  for (const entry of raw) add(entry);

  // Every parent is a directory: listed, or implied (and then added).
  for (const entry of [...byPath.values()]) {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const found = byPath.get(parent);
      if (found?.type === 'symlink') throw new BundleError('through-symlink', `its parent ${parent} is a symbolic link: it would be written wherever the link points`, entry.path);
      if (found && found.type !== 'directory') throw new BundleError('path-conflict', `its parent ${parent} is a file, not a directory`, entry.path);
      if (!found) add({ path: parent, type: 'directory' });
    }
  }

  const kindOf = (path: string): PathKind => {
    const entry = byPath.get(path);
    if (!entry) return undefined;
    return entry.type === 'symlink' ? entry : { type: entry.type === 'directory' ? 'directory' : 'file' };
  };
  const entries: BundleEntry[] = [];
  let contentBytes = 0;
  const pushFile = (path: string, { mode, data }: { mode: number; data: Buffer }) => {
    contentBytes += data.length;
    if (contentBytes > limits.maxUncompressedBytes) throw contentSizeError(limits);
    entries.push({ path, type: 'file', executable: (mode & 0o111) !== 0, data });
  };
  for (const entry of byPath.values()) {
    if (entry.type === 'file') pushFile(entry.path, entry);
    else if (entry.type === 'directory') entries.push(entry);
    else if (entry.type === 'symlink') {
      resolveLink(entry.path, entry.target, kindOf);
      entries.push(entry);
    } else {
      // A copy: the same bytes, counted again (hard links cannot multiply what is written unseen).
      const file = byPath.get(entry.target);
      if (file?.type !== 'file') throw new BundleError('bad-link', `hard link to ${entry.target}, which is not a file of the bundle`, entry.path);
      pushFile(entry.path, file);
    }
  }
  entries.sort((a, b) => compareBundlePaths(a.path, b.path));

  const blocks: Buffer[] = [];
  for (const entry of entries) {
    if (entry.type === 'file') blocks.push(...writeEntry({ path: entry.path, type: 'file', mode: entry.executable ? 0o755 : 0o644, data: entry.data }));
    else if (entry.type === 'directory') blocks.push(...writeEntry({ path: entry.path, type: 'directory', mode: 0o755 }));
    else blocks.push(...writeEntry({ path: entry.path, type: 'symlink', mode: 0o777, target: entry.target }));
  }
  blocks.push(END_OF_ARCHIVE);
  const tar = Buffer.concat(blocks);
  return { entries, tar, hash: createHash('sha256').update(tar).digest('hex'), contentBytes };
}

/** A file of the bundle by path, or undefined. */
export function bundleFile(bundle: Bundle, path: string): Buffer | undefined {
  const entry = bundle.entries.find((e) => e.path === path);
  return entry?.type === 'file' ? entry.data : undefined;
}

const gzip = promisify(zlib.gzip);

/** The canonical tar, gzip-compressed: what is stored and sent. Its hash is not
 * the version (compressors differ); the tar's inside is. */
export async function compressBundle(bundle: Bundle): Promise<Buffer> {
  return gzip(bundle.tar, { level: 9 });
}
