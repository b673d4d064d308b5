// A build's work directory, as the launcher wants it (sandbox/work-dir.c): a
// private copy of the bundle on a file system of its own, mounted nosuid and
// nodev, whose size is the build's disk limit. A tmpfs of that size, mounted
// in a fresh root-only directory; the launcher makes it writable for the
// sandbox (an idmapped mount), and what the build leaves there is owned by
// root. Release it once the build's results are taken.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface WorkDir {
  /** Where the copy is: give it to the build (RunSpec's workDir). */
  path: string;
  /** The size of its file system: the build's disk limit. */
  bytes: number;
  /** Unmounts it, with everything the build left there. */
  release(): void;
}

export interface WorkDirOptions {
  /** A root-owned directory others cannot write; the work directory is made in it. */
  parent: string;
  /** The bundle to copy in (a directory). */
  source: string;
  /** Disk limit of the build (the tmpfs's size; tmpfs pages count as the memory of whoever writes them). */
  bytes: number;
  /** Files and directories the build may make; default: one per 4 KiB of the size. */
  inodes?: number;
}

export function createWorkDir(options: WorkDirOptions): WorkDir {
  const dir = path.join(options.parent, `build-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const inodes = options.inodes ?? Math.max(64, Math.floor(options.bytes / 4096));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${options.bytes},nr_inodes=${inodes},mode=0700,nosuid,nodev`, 'fnjail-build', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    fs.rmdirSync(dir);
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a tmpfs for a build at ${dir}: ${stderr || (error as Error).message}`);
  }
  const release = () => {
    execFileSync('umount', ['--lazy', dir], { stdio: 'ignore' });
    fs.rmdirSync(dir);
  };
  try {
    // Links are copied as links, never followed: the copy is the bundle as it is.
    fs.cpSync(options.source, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  } catch (error) {
    release();
    throw new Error(`cannot copy ${options.source} into the build's work directory: ${(error as Error).message}`);
  }
  return { path: dir, bytes: options.bytes, release };
}
