// The deploy side of a build: a bundle whose manifest asks for one ("build")
// is built where it is deployed, once, and what the build leaves is stored as
// a version of its own (content-hashed like any bundle, recording the sources
// it came from), so that nodes fetch the built version and never build.
//
// The build runs in the launcher's build sandbox (no network, its own limits,
// the sources writable only in a private copy): BuildRunner is that launcher
// mode. Until the launcher has it, there is no runner, and a bundle that
// needs a build is refused with FNJ_BUILD_UNAVAILABLE before anything is
// written: the server never builds outside a sandbox.
//
// With a runner: the sources are unpacked into a private directory of their
// own under the builds directory (root-owned, 0700 above it), the command
// runs there with stdout and stderr in a log file, and what it leaves is read
// back as a directory bundle (every bundle rule applies again: links out,
// devices, setuid files and the size limits are refused), its entry checked.
// A failure keeps the log and shows its end in the error.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { prepareStateDir } from '../config/state-dir.js';
import { FnjailError } from '../errors.js';
import type { LaunchResult, Limits } from '../launcher/protocol.js';
import { Outcome } from '../launcher/protocol.js';
import type { Tenant } from '../policy/decide.js';
import type { Bundle } from './bundle.js';
import { readBundleDirectory } from './bundle-directory.js';
import { extractBundle } from './bundle-extract.js';
import { checkEntry } from './bundle-manifest.js';
import type { Manifest } from './manifest.js';

/** What the launcher's build mode runs: `command` in `workDir` (the private,
 * writable copy of the bundle at `bundleDir`'s place), stdout and stderr to `log`. */
export interface BuildSpec {
  kind: 'build';
  command: string[];
  workDir: string;
  bundleDir: string;
  log: string;
  limits: Limits;
  tenant: { uid: number; gid: number; groups: number[] };
}

export type BuildRunner = (spec: BuildSpec) => Promise<LaunchResult>;

export interface BuildOptions {
  runner: BuildRunner | undefined;
  /** Where builds run: /var/lib/fnjail/builds. */
  buildsDir: string;
  limits: Limits;
  /** Who deploys: the build runs with the rights the launcher gives a sandbox, never theirs or root's. */
  tenant: Tenant;
}

/** The lines of the build log shown in an error, at most. */
const LOG_TAIL_LINES = 20;

export async function buildBundle(source: Bundle, manifest: Manifest, options: BuildOptions): Promise<{ bundle: Bundle; log: string }> {
  const command = manifest.build;
  if (!command) return { bundle: source, log: '' };
  if (!options.runner) {
    throw new FnjailError(
      'FNJ_BUILD_UNAVAILABLE',
      `function '${manifest.name}' asks for a build ("build" in fnjail.json: ${command.join(' ')}), and this server's sandbox launcher cannot run builds yet`,
      'build it yourself and deploy the result, with "build" left out of fnjail.json',
    );
  }
  prepareStateDir(options.buildsDir, 0o700, 'the builds directory');
  const dir = path.join(options.buildsDir, `${source.hash.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const workDir = path.join(dir, 'work');
  const log = path.join(dir, 'build.log');
  try {
    extractBundle(source, workDir);
    fs.writeFileSync(log, '', { mode: 0o600 });
    const { uid, gid, groups } = options.tenant;
    const result = await options.runner({ kind: 'build', command, workDir, bundleDir: workDir, log, limits: options.limits, tenant: { uid, gid, groups } });
    const text = fs.readFileSync(log, 'utf8');
    if (result.outcome !== Outcome.Completed || result.exitCode !== 0 || result.signal !== null) {
      const how = result.outcome === Outcome.TimedOut ? `timed out after ${options.limits.timeoutMs} ms` : result.signal !== null ? `was killed by signal ${result.signal}` : `exited with status ${result.exitCode ?? '?'}`;
      const tail = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES);
      throw new FnjailError('FNJ_BUILD_FAILED', [`the build of '${manifest.name}' (${command.join(' ')}) ${how}; the end of its log:`, ...tail].join('\n'), 'fix the build; the whole log is kept in ' + log);
    }
    const built = readBundleDirectory(workDir);
    checkEntry(built, manifest, 'after the build');
    fs.rmSync(dir, { recursive: true, force: true });
    return { bundle: built, log: text };
  } catch (error) {
    // The log stays, for the person who reads the error.
    fs.rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
}
