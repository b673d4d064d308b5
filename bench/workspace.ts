// The bench's own directories: libraries, data, policy, sockets, output
// directories, logs. Root-owned, under /var/lib (not /tmp: sandboxes have a
// private /tmp), removed at the end. Output directories are on a tmpfs of the
// bench's own by default: both servers create a file per call, and what that
// costs on a disk depends on the file system's state more than on the server
// (measured here: 30 us per file on a quiet ext4 without journal, over 1 ms
// within seconds of deleting thousands, as every run's cleanup does), so it
// would measure the disk, not the servers. --output-on-disk measures it anyway.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/paths.js';
import { onCleanup } from './cleanup.js';

export const BENCH_BASE = '/var/lib/fnjail-bench';
export const CHECKER_FILES = 250;

/** The content of the checker burst's input file i: 128 bytes, its own. */
export function checkerFileContent(i: number): string {
  return `file ${i} `.padEnd(127, String.fromCharCode(97 + (i % 26))) + '\n';
}
export const fixturesBuild = path.join(packageRoot, 'fixtures', 'build');

export interface Workspace {
  root: string;
  libDir: string;
  dataDir: string;
  policyFile: string;
  /** The 128-byte input file of the burst, and its content. */
  file128: { path: string; content: string };
  /** A library path inside the workspace. */
  lib(name: string): string;
  /** A fresh subdirectory (for a server's socket, output and logs). */
  subdir(name: string): string;
  /** A fresh output directory for a server: on the bench's tmpfs, or on disk. */
  outputDir(name: string): string;
  /** Where output directories are: 'tmpfs' or 'disk'. */
  outputs: 'tmpfs' | 'disk';
}

export function createWorkspace(options: { keep?: boolean; outputOnDisk?: boolean } = {}): Workspace {
  if (process.getuid?.() !== 0) throw new Error('the bench starts fnjail servers and must run as root');
  fs.mkdirSync(BENCH_BASE, { recursive: true, mode: 0o755 });
  const root = path.join(BENCH_BASE, `run-${process.pid}-${randomBytes(3).toString('hex')}`);
  fs.mkdirSync(root, { mode: 0o755 });
  onCleanup(`remove ${root}`, () => {
    if (options.keep) {
      process.stderr.write(`bench: kept ${root} (--keep)\n`);
      return;
    }
    fs.rmSync(root, { recursive: true, force: true });
    try {
      fs.rmdirSync(BENCH_BASE); // only if no other run is using it
    } catch {
      // not empty: another run, or leftovers that are not ours
    }
  });
  const outputsRoot = path.join(root, 'outputs');
  fs.mkdirSync(outputsRoot, { mode: 0o755 });
  if (!options.outputOnDisk) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g,mode=0755', 'fnjail-bench-outputs', outputsRoot]);
    // Registered after the removal of root: cleanups run last first.
    onCleanup(`unmount ${outputsRoot}`, () => void execFileSync('umount', ['-l', outputsRoot]));
  }
  const libDir = path.join(root, 'lib');
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(libDir, { mode: 0o755 });
  fs.mkdirSync(dataDir, { mode: 0o755 });
  for (const name of ['libbasic.so', 'libcounter.so', 'libsleepy.so']) {
    const from = path.join(fixturesBuild, name);
    if (!fs.existsSync(from)) throw new Error(`${from} is missing: run bash scripts/build.sh`);
    fs.copyFileSync(from, path.join(libDir, name));
    fs.chmodSync(path.join(libDir, name), 0o755);
  }
  const content = 'x'.repeat(127) + '\n';
  // Not named file<N>.txt: the checker's inputs below would overwrite it (file128.txt is one of them).
  const file128 = path.join(dataDir, 'input128.txt');
  fs.writeFileSync(file128, content, { mode: 0o644 });
  // The checker burst's 250 distinct 128-byte inputs (bench/checker-burst.ts).
  for (let i = 0; i < CHECKER_FILES; i++) fs.writeFileSync(path.join(dataDir, `file${i}.txt`), checkerFileContent(i), { mode: 0o644 });
  const policyFile = path.join(root, 'policy.json');
  fs.writeFileSync(
    policyFile,
    JSON.stringify({ defaults: { libraryDirs: [libDir], inputDirs: [dataDir], limits: { timeoutMs: 5000 } } }, null, 2),
  );
  return {
    root,
    libDir,
    dataDir,
    policyFile,
    file128: { path: file128, content },
    lib: (name) => path.join(libDir, name),
    subdir(name) {
      const dir = path.join(root, name);
      fs.mkdirSync(dir, { mode: 0o755 });
      return dir;
    },
    outputDir(name) {
      const dir = path.join(outputsRoot, name);
      fs.mkdirSync(dir, { mode: 0o755 });
      return dir;
    },
    outputs: options.outputOnDisk ? 'disk' : 'tmpfs',
  };
}

/** Removes the files a run left in an output directory (between runs, so that
 * every run starts with an equally empty directory). */
export function emptyDir(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) fs.rmSync(path.join(dir, entry), { force: true, recursive: true });
}

/** The bundle of the program function: its manifest and the upcase binary. */
export function upcaseBundle(ws: Workspace): string {
  const dir = ws.subdir('upcase-bundle');
  const binary = path.join(fixturesBuild, 'upcase');
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run bash scripts/build.sh`);
  fs.copyFileSync(binary, path.join(dir, 'upcase'));
  fs.chmodSync(path.join(dir, 'upcase'), 0o755);
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name: 'upcase', kind: 'program', mode: 'per-request', entry: 'upcase' }));
  return dir;
}

/** The bundle of the library function: libbasic.so, whose exports are called by the name basic. */
export function basicBundle(ws: Workspace): string {
  const dir = ws.subdir('basic-bundle');
  fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), path.join(dir, 'libbasic.so'));
  fs.chmodSync(path.join(dir, 'libbasic.so'), 0o755);
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name: 'basic', kind: 'library', functions: ['run'], entry: 'libbasic.so' }));
  return dir;
}
