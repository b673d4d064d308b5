// What the integration tests stand on: root, real fixture libraries in a
// root-owned directory, and an isolated place for each test server.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const fixturesBuild = path.join(packageRoot, 'fixtures', 'build');
export const clientsBuild = path.join(packageRoot, 'clients', 'c', 'build');
export const cliMain = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** Tests wait for events, not for time: this bound only keeps a broken test
 * from hanging for ever, far beyond what any call takes on a loaded machine. */
export const HANG_GUARD_MS = 120_000;

/** The sandbox needs root (namespaces, mounts, uid switching): say so loudly rather than skip. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('these tests need root: they exercise real namespaces, mounts, seccomp and uid switching; run npm test as root');
  }
}

export interface TestArea {
  root: string;
  libDir: string;
  dataDir: string;
  outputDir: string;
  /** Removes everything the test made. */
  cleanup(): void;
}

/** A fresh root-owned area under /var/lib (not /tmp: the sandbox has its own
 * /tmp, and policies will want root-owned, non-writable parent directories). */
export function createTestArea(): TestArea {
  requireRoot();
  const base = '/var/lib/fnjail-tests';
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  const root = path.join(base, `t-${process.pid}-${randomBytes(4).toString('hex')}`);
  const libDir = path.join(root, 'lib');
  const dataDir = path.join(root, 'data');
  const outputDir = path.join(root, 'output');
  fs.mkdirSync(libDir, { recursive: true, mode: 0o755 });
  fs.mkdirSync(dataDir, { mode: 0o755 });
  for (const file of fs.readdirSync(fixturesBuild)) {
    if (file.endsWith('.so')) fs.copyFileSync(path.join(fixturesBuild, file), path.join(libDir, file));
  }
  return { root, libDir, dataDir, outputDir, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** The sandbox uids of this test process: a block of 1000 of its own, so that
 * concurrent test processes never share sandbox uids (fnjail refuses a range
 * another server on the host uses). */
export function uidRangeForThisProcess(): { first: number; last: number } {
  const first = 2_000_000 + (process.pid % 8000) * 1000;
  return { first, last: first + 999 };
}

let nextSlice = 0;
/** A range of 200 uids of this process's block for one server: up to five
 * servers of one test process may run at once. */
export function nextUidRange(): { first: number; last: number } {
  const first = uidRangeForThisProcess().first + (nextSlice++ % 5) * 200;
  return { first, last: first + 199 };
}

export function writeData(area: TestArea, name: string, content: string | Buffer, mode = 0o644): string {
  const file = path.join(area.dataDir, name);
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  return file;
}

export function writePolicy(area: TestArea, policy: object, name = 'policy.json'): string {
  const file = path.join(area.root, name);
  fs.writeFileSync(file, JSON.stringify(policy, null, 2));
  return file;
}

/** The usual test policy: the area's libraries and data, a short timeout. */
export function defaultTestPolicy(area: TestArea, timeoutMs = 2000): object {
  return { defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs } } };
}
