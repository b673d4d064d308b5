// Reading a bundle from a directory (fnjail deploy DIR), with the same rules
// as an archive: what cannot be put in a bundle (device nodes, fifos, sockets,
// setuid/setgid files, links leaving the directory) is refused, not skipped,
// so what is deployed is exactly what the directory holds. Run by the person
// deploying (the CLI), with their own rights to read the files.
import fs from 'node:fs';
import path from 'node:path';
import { contentSizeError, DEFAULT_BUNDLE_LIMITS, entryCountError, makeBundle, type Bundle, type BundleLimits, type RawEntry } from './bundle.js';
import { BundleError, setuidError, specialFileError } from './bundle-error.js';
import { normalizeEntryPath } from './bundle-paths.js';

/** The contents of a file, opened without following links, checked to be what lstat saw. */
function readRegularFile(file: string, seen: fs.Stats, entry: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.ino !== seen.ino || st.dev !== seen.dev) {
      throw new BundleError('unsupported-type', 'changed while the bundle was being read', entry);
    }
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readBundleDirectory(dir: string, limits: BundleLimits = DEFAULT_BUNDLE_LIMITS): Bundle {
  const top = fs.statSync(dir);
  if (!top.isDirectory()) throw new BundleError('not-a-directory', `${dir} is not a directory`);
  const entries: RawEntry[] = [];
  let contentBytes = 0;
  const pending = [''];
  while (pending.length) {
    const relative = pending.pop()!;
    for (const name of fs.readdirSync(path.join(dir, relative), { encoding: 'buffer' })) {
      const raw = relative === '' ? name : Buffer.concat([Buffer.from(`${relative}/`), name]);
      const entry = normalizeEntryPath(raw);
      const file = path.join(dir, entry);
      const st = fs.lstatSync(file);
      if (entries.length >= limits.maxEntries) throw entryCountError(limits);
      if (st.isDirectory()) {
        entries.push({ path: entry, type: 'directory' });
        pending.push(entry);
      } else if (st.isFile()) {
        const setuid = setuidError(st.mode, entry);
        if (setuid) throw setuid;
        contentBytes += st.size;
        if (contentBytes > limits.maxUncompressedBytes) throw contentSizeError(limits);
        entries.push({ path: entry, type: 'file', mode: st.mode, data: readRegularFile(file, st, entry) });
      } else if (st.isSymbolicLink()) {
        entries.push({ path: entry, type: 'symlink', target: fs.readlinkSync(file) });
      } else {
        throw specialFileError(st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device', entry);
      }
    }
  }
  return makeBundle(entries, limits);
}
