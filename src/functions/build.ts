// The deploy side of a build: a bundle whose manifest asks for one ("build")
// is built where it is deployed, once, and what the build leaves is stored as
// a version of its own (content-hashed like any bundle, recording the sources
// it came from), so that nodes fetch the built version and never build.
//
// The build runs in the launcher's build sandbox (docs/programs.md: no
// network, its own limits, the sources writable only in a private copy on a
// file system of their own whose size is the build's disk limit), through a
// BuildRunner (build-runner.ts). What it leaves is read back as a directory
// bundle: every bundle rule applies again (links out, devices, setuid files,
// the size limits), and the manifest's entry must be there. A build that
// fails keeps its log, and the error shows its end.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { prepareStateDir } from '../config/state-dir.js';
import { FnjailError } from '../errors.js';
import type { Classification } from '../executor/classify.js';
import { createWorkDir } from '../launcher/work-dir.js';
import type { Tenant } from '../policy/decide.js';
import type { TenantPolicy } from '../policy/policy.js';
import type { LauncherFilter } from '../seccomp/launcher-filter.js';
import type { Bundle } from './bundle.js';
import { readBundleDirectory } from './bundle-directory.js';
import { extractBundle } from './bundle-extract.js';
import { checkEntry } from './bundle-manifest.js';
import type { Manifest } from './manifest.js';

export interface BuildRequest {
  /** The manifest's build command. */
  command: string[];
  /** The private, writable copy of the bundle (the build's cwd). */
  workDir: string;
  /** The size of its file system: the build's disk limit. */
  workBytes: number;
  /** The build's stdout and stderr. */
  log: string;
  /** Who deploys: the build runs as a sandbox uid, with their credentials for what it opens. */
  tenant: Tenant;
  /** The policy's tenant that deploys: its sandbox slots (maxConcurrent) are the build's. */
  admittedAs: TenantPolicy;
  /** The deploying tenant's profile for programs and builds. */
  seccomp: LauncherFilter;
  /** Stops it (a job cancelled): the sandbox is killed. */
  signal?: AbortSignal;
  /** A wall-clock limit tighter than the server's build timeout (a job's). */
  timeoutMs?: number;
}

/** Runs a build in the launcher's build sandbox and says how it ended. */
export type BuildRunner = (request: BuildRequest) => Promise<Classification>;

export interface BuildOptions {
  runner: BuildRunner;
  /** Where builds run: /var/lib/fnjail/builds (root's, 0700). */
  buildsDir: string;
  /** The build's disk limit (its work directory's size). */
  diskBytes: number;
  tenant: Tenant;
  admittedAs: TenantPolicy;
  seccomp: LauncherFilter;
}

/** The lines of the build log shown in an error, at most. */
const LOG_TAIL_LINES = 20;

export async function buildBundle(source: Bundle, manifest: Manifest, options: BuildOptions): Promise<Bundle> {
  const command = manifest.build;
  if (!command) return source;
  prepareStateDir(options.buildsDir, 0o700, 'the builds directory');
  const id = `${source.hash.slice(0, 16)}-${randomBytes(6).toString('hex')}`;
  const staging = path.join(options.buildsDir, `.sources-${id}`);
  const log = path.join(options.buildsDir, `${id}.log`);
  let work;
  try {
    extractBundle(source, staging);
    work = createWorkDir({ parent: options.buildsDir, source: staging, bytes: options.diskBytes });
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  try {
    fs.writeFileSync(log, '', { mode: 0o600 });
    const verdict = await options.runner({ command, workDir: work.path, workBytes: work.bytes, log, tenant: options.tenant, admittedAs: options.admittedAs, seccomp: options.seccomp });
    if (verdict.kind === 'busy') {
      fs.rmSync(log, { force: true });
      throw new FnjailError('FNJ_SERVER_BUSY', `the build of '${manifest.name}' could not start: ${verdict.reasons.join('; ')}`, 'deploy again in a moment');
    }
    if (verdict.kind !== 'ok') {
      const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES);
      throw new FnjailError(
        'FNJ_BUILD_FAILED',
        [`the build of '${manifest.name}' (${command.join(' ')}) failed: ${verdict.reasons.join('; ')}`, 'the end of its log:', ...tail].join('\n'),
        `fix the build; its whole log is kept in ${log} on the server`,
      );
    }
    const built = readBundleDirectory(work.path);
    checkEntry(built, manifest, 'after the build');
    fs.rmSync(log, { force: true });
    return built;
  } finally {
    work.release();
  }
}
