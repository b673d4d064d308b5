// Why a bundle is refused: a code from the registry (src/errors.ts) for the
// kind of problem, a rule naming exactly which check failed, and the entry
// (path inside the bundle) it failed on.
import { FnjailError, type ErrorCode } from '../errors.js';

const RULES = {
  // FNJ_BUNDLE_INVALID: not something we can read as a bundle.
  'not-gzip': 'FNJ_BUNDLE_INVALID',
  'not-tar': 'FNJ_BUNDLE_INVALID',
  truncated: 'FNJ_BUNDLE_INVALID',
  'unsupported-type': 'FNJ_BUNDLE_INVALID',
  'bad-name': 'FNJ_BUNDLE_INVALID',
  'duplicate-entry': 'FNJ_BUNDLE_INVALID',
  'path-conflict': 'FNJ_BUNDLE_INVALID',
  'bad-link': 'FNJ_BUNDLE_INVALID',
  'link-loop': 'FNJ_BUNDLE_INVALID',
  'no-manifest': 'FNJ_BUNDLE_INVALID',
  'missing-entry': 'FNJ_BUNDLE_INVALID',
  'not-a-directory': 'FNJ_BUNDLE_INVALID',
  // FNJ_BUNDLE_UNSAFE: would write, or point, outside the bundle, or carry privileges.
  'absolute-path': 'FNJ_BUNDLE_UNSAFE',
  'parent-segment': 'FNJ_BUNDLE_UNSAFE',
  'through-symlink': 'FNJ_BUNDLE_UNSAFE',
  'link-escape': 'FNJ_BUNDLE_UNSAFE',
  'hardlink-escape': 'FNJ_BUNDLE_UNSAFE',
  device: 'FNJ_BUNDLE_UNSAFE',
  fifo: 'FNJ_BUNDLE_UNSAFE',
  socket: 'FNJ_BUNDLE_UNSAFE',
  setuid: 'FNJ_BUNDLE_UNSAFE',
  // FNJ_BUNDLE_TOO_LARGE: the limits (tar bombs included).
  'compressed-size': 'FNJ_BUNDLE_TOO_LARGE',
  'uncompressed-size': 'FNJ_BUNDLE_TOO_LARGE',
  entries: 'FNJ_BUNDLE_TOO_LARGE',
} as const satisfies Record<string, ErrorCode>;

export type BundleRule = keyof typeof RULES;

export class BundleError extends FnjailError {
  constructor(
    readonly rule: BundleRule,
    message: string,
    /** The path inside the bundle, when one entry is at fault. */
    readonly entry?: string,
  ) {
    super(RULES[rule], entry === undefined ? message : `${entry}: ${message}`);
    this.name = 'BundleError';
  }
}

/** An entry that is no file, directory or link. */
export function specialFileError(rule: 'device' | 'fifo' | 'socket', entry: string): BundleError {
  const what = { device: 'a device node', fifo: 'a fifo', socket: 'a socket' }[rule];
  return new BundleError(rule, `is ${what}: bundles hold files, directories and links only`, entry);
}

/** A file with the setuid or setgid bit, or undefined. */
export function setuidError(mode: number, entry: string): BundleError | undefined {
  if (!(mode & 0o6000)) return undefined;
  return new BundleError('setuid', `has the ${mode & 0o4000 ? 'setuid' : 'setgid'} bit: a bundle grants no privileges`, entry);
}
