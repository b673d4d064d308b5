// Paths inside a bundle: an entry's name made canonical (or refused), and
// where a symbolic link leads, resolved the way the kernel will resolve it
// once the bundle is unpacked — through the bundle's own links, ".." after a
// link going up from where the link points — so that no chain of individually
// harmless links can reach outside the bundle.
import { BundleError, type BundleRule } from './bundle-error.js';

const MAX_PATH_BYTES = 4095;
const MAX_NAME_BYTES = 255;
/** As the kernel's MAXSYMLINKS. */
const MAX_LINK_HOPS = 40;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * "./a//b/" → "a/b"; "" for the bundle's top itself. Refuses absolute paths and
 * ".." segments (under escapeRule: what leaving the bundle means for this name),
 * names that are not UTF-8 or hold control characters, and names too long for
 * the file system.
 */
export function normalizeEntryPath(raw: Buffer | string, escapeRule: BundleRule = 'absolute-path', what = 'entry'): string {
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : utf8.decode(raw);
  } catch {
    throw new BundleError('bad-name', `${what} name is not valid UTF-8`, Buffer.from(raw).toString('latin1'));
  }
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new BundleError('bad-name', `${what} name holds a control character`, JSON.stringify(text));
  if (text.startsWith('/')) throw new BundleError(escapeRule, `${what} is an absolute path: it would leave the bundle`, text);
  const parts: string[] = [];
  for (const part of text.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new BundleError(escapeRule === 'absolute-path' ? 'parent-segment' : escapeRule, `${what} has a '..' segment: it could leave the bundle`, text);
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw new BundleError('bad-name', `a name in the ${what} path is over ${MAX_NAME_BYTES} bytes`, text);
    parts.push(part);
  }
  const path = parts.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new BundleError('bad-name', `${what} path is over ${MAX_PATH_BYTES} bytes`, text.slice(0, 80) + '...');
  return path;
}

/** What a path is in the bundle, as far as resolving links needs. */
export type PathKind = { type: 'symlink'; target: string } | { type: 'directory' | 'file' } | undefined;

/**
 * The bundle path a symbolic link at linkPath with this target resolves to
 * (following the bundle's links; a name that does not exist ends the walk
 * harmlessly, since nothing can be created in the unpacked, root-owned bundle).
 * Throws link-escape if any step leaves the bundle, link-loop on a cycle.
 */
export function resolveLink(linkPath: string, target: string, kindOf: (path: string) => PathKind): string {
  if (target === '') throw new BundleError('bad-link', 'symbolic link with an empty target', linkPath);
  if (target.startsWith('/')) throw new BundleError('link-escape', `symbolic link to the absolute path ${target}: it leaves the bundle`, linkPath);
  const resolved = linkPath.split('/').slice(0, -1);
  const pending = target.split('/');
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!resolved.length) throw new BundleError('link-escape', `symbolic link to ${target} leads outside the bundle`, linkPath);
      resolved.pop();
      continue;
    }
    resolved.push(part);
    const kind = kindOf(resolved.join('/'));
    if (kind?.type !== 'symlink') continue;
    if (++hops > MAX_LINK_HOPS) throw new BundleError('link-loop', `symbolic link to ${target} goes through more than ${MAX_LINK_HOPS} links (a cycle)`, linkPath);
    if (kind.target.startsWith('/')) throw new BundleError('link-escape', `symbolic link to ${target} goes through a link to the absolute path ${kind.target}`, linkPath);
    resolved.pop();
    pending.unshift(...kind.target.split('/'));
  }
  return resolved.join('/');
}
