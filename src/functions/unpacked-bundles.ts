// The bundles unpacked on this node, one directory per version:
// /var/lib/fnjail/functions/<sha256>/, root-owned, nothing in it or above it
// writable by anyone else (so the library checks of src/policy hold for what
// is loaded from there). A version is fetched and verified by its hash the
// first time it is used, unpacked into a staging directory and renamed into
// place (so a half-unpacked version is never seen), then kept. A version in
// use is never removed; a new version is a new directory, so a redeploy never
// touches a version that calls are running on.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_STATE_DIR, prepareStateDir } from '../config/state-dir.js';
import { FnjailError } from '../errors.js';
import { DEFAULT_BUNDLE_LIMITS, type BundleLimits } from './bundle.js';
import { decompressBundle, readBundleTar } from './bundle-archive.js';
import { extractBundle } from './bundle-extract.js';

export const DEFAULT_FUNCTIONS_DIR = path.join(DEFAULT_STATE_DIR, 'functions');
const VERSION = /^[0-9a-f]{64}$/;
const STAGING_PREFIX = '.staging-';

export interface UnpackedBundlesOptions {
  /** Default /var/lib/fnjail/functions. */
  dir?: string;
  /** The stored .tar.gz of a version, or undefined if the store has none. */
  fetch: (version: string) => Promise<Buffer | undefined>;
  limits?: BundleLimits;
  logger?: Logger;
}

export interface UnpackedBundle {
  version: string;
  dir: string;
  /** Says this user is done with it (it may be collected once nobody uses it). */
  release(): void;
}

export class UnpackedBundles {
  readonly dir: string;
  private readonly users = new Map<string, number>();
  private readonly unpacking = new Map<string, Promise<void>>();

  constructor(private readonly options: UnpackedBundlesOptions) {
    prepareStateDir(options.dir ?? DEFAULT_FUNCTIONS_DIR, 0o755, 'the functions directory');
    // Canonical (no symlink, absolute): a version's directory is then a canonical path, which
    // the policy takes as the bundle's without resolving it on every call (policy/decide-function.ts).
    this.dir = fs.realpathSync.native(options.dir ?? DEFAULT_FUNCTIONS_DIR);
    // Left by a crash in the middle of an unpacking.
    for (const name of fs.readdirSync(this.dir)) {
      if (name.startsWith(STAGING_PREFIX)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    }
  }

  /** The version's directory, unpacked first if needed; release it when done. */
  async acquire(version: string): Promise<UnpackedBundle> {
    if (!VERSION.test(version)) throw new FnjailError('FNJ_BUNDLE_CORRUPT', `'${version}' is not a bundle version (a sha256 in hex)`);
    // Counted before waiting, so a collection meanwhile keeps it.
    this.users.set(version, (this.users.get(version) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.users.get(version) ?? 1) - 1;
      if (left > 0) this.users.set(version, left);
      else this.users.delete(version);
    };
    const dir = path.join(this.dir, version);
    try {
      if (!fs.existsSync(dir)) {
        let pending = this.unpacking.get(version);
        if (!pending) {
          pending = this.unpack(version, dir).finally(() => this.unpacking.delete(version));
          this.unpacking.set(version, pending);
        }
        await pending;
      }
    } catch (error) {
      release();
      throw error;
    }
    return { version, dir, release };
  }

  /** Versions in use on this node now. */
  inUse(): Set<string> {
    return new Set(this.users.keys());
  }

  /** Removes every unpacked version that is neither in keep nor in use; returns those removed. */
  collect(keep: Iterable<string>): string[] {
    const kept = new Set(keep);
    const removed: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (!VERSION.test(name) || kept.has(name) || this.users.has(name) || this.unpacking.has(name)) continue;
      fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
      removed.push(name);
    }
    if (removed.length) this.options.logger?.info({ removed }, 'unused function versions removed');
    return removed;
  }

  private async unpack(version: string, dir: string): Promise<void> {
    const limits = this.options.limits ?? DEFAULT_BUNDLE_LIMITS;
    const archive = await this.options.fetch(version);
    if (!archive) throw new FnjailError('FNJ_BUNDLE_CORRUPT', `version ${version} is not in the bundle store`, 'deploy the function again');
    const tar = await decompressBundle(archive, limits);
    const actual = createHash('sha256').update(tar).digest('hex');
    if (actual !== version) throw new FnjailError('FNJ_BUNDLE_CORRUPT', `the stored bundle of version ${version} has the content of ${actual}`, 'deploy the function again');
    // Read again with every check, as any archive: the store is not trusted more than the deployer.
    const bundle = readBundleTar(tar, limits);
    if (bundle.hash !== version) throw new FnjailError('FNJ_BUNDLE_CORRUPT', `the stored bundle of version ${version} is not in canonical form`);
    const staging = path.join(this.dir, `${STAGING_PREFIX}${version.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    extractBundle(bundle, staging);
    try {
      fs.renameSync(staging, dir);
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      // Another fnjail process on this node unpacked it first: the same bytes.
      if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    this.options.logger?.info({ version, dir, bytes: bundle.contentBytes }, 'function version unpacked');
  }
}
