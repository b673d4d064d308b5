// A real fnjail-launcher driven through LauncherProcess, without a server: for
// the tests of programs, connections and builds (the executor's wiring of
// functions is tested with the server). Fixture programs are installed in the
// test area (root-owned, as the registry's tree is), outputs made as the
// executor makes them.
import fs from 'node:fs';
import path from 'node:path';
import { AuditLog } from '../../src/audit/audit-log.js';
import { createOutputFile } from '../../src/executor/output-file.js';
import { LauncherProcess } from '../../src/launcher/launcher-process.js';
import { ExecFlag, type LaunchResult, type Limits } from '../../src/launcher/protocol.js';
import type { ExecCommon, RunSpec } from '../../src/launcher/run-spec.js';
import { launcherFilter, type LauncherFilter } from '../../src/seccomp/launcher-filter.js';
import { createLog } from '../../src/log.js';
import { launcherBinary } from '../../src/paths.js';
import { createTestArea, fixturesBuild, nextUidRange, type TestArea } from './environment.js';

export interface TestLauncher {
  launcher: LauncherProcess;
  area: TestArea;
  /** The operational log (the launcher's stderr lines land there). */
  logFile: string;
  stop(): Promise<void>;
}

export interface LauncherTestOptions {
  hostname?: string;
  maxSandboxes?: number;
  prepared?: number;
  reuse?: number;
}

export async function startLauncher(options: LauncherTestOptions = {}): Promise<TestLauncher> {
  const area = createTestArea();
  fs.mkdirSync(area.outputDir, { mode: 0o711 });
  const logFile = path.join(area.root, 'server.log');
  const log = createLog({ file: logFile, format: 'json' });
  const launcher = new LauncherProcess({
    binary: launcherBinary,
    uidRange: nextUidRange(),
    maxSandboxes: options.maxSandboxes ?? 16,
    prepared: options.prepared ?? 2,
    tmpBytes: 16 << 20,
    freshNetns: false,
    reuse: options.reuse ?? 64,
    hostname: options.hostname,
    logger: log.logger,
    audit: new AuditLog(log),
  });
  try {
    await launcher.start();
  } catch (error) {
    area.cleanup();
    throw error;
  }
  return {
    launcher,
    area,
    logFile,
    stop: async () => {
      await launcher.stop();
      area.cleanup();
    },
  };
}

/** A fixture program (fixtures/build or fixtures/programs), copied into the area: root-owned, 0755. */
export function installProgram(area: TestArea, name: string): string {
  const source = fs.existsSync(path.join(fixturesBuild, name)) ? path.join(fixturesBuild, name) : path.join(fixturesBuild, '..', 'programs', name);
  const dir = path.join(area.root, 'bin');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const target = path.join(dir, name);
  fs.copyFileSync(source, target);
  fs.chmodSync(target, 0o755);
  return target;
}

export const TEST_LIMITS: Limits = {
  timeoutMs: 10_000,
  cpuMs: 10_000,
  memoryBytes: 512 << 20,
  maxProcs: 64,
  maxFiles: 256,
  outputBytes: 4 << 20,
  tmpBytes: 64 << 20,
};

/** The flags the executor gives a call under this profile (stderr to the output, refusals named, shared namespaces when the profile allows nothing that needs its own). */
export function flagsFor(filter: LauncherFilter): number {
  let flags = ExecFlag.StderrToOutput;
  if (filter.allowsSockets) flags |= ExecFlag.FreshNetns;
  if (filter.notify === 'refusals') flags |= ExecFlag.SeccompNotify;
  if (!filter.allowsIpc) flags |= ExecFlag.SharedIpc;
  return flags;
}

/** What every execution of a test has: a fresh output file, the `program` profile (or another), root as the tenant. */
export function common(area: TestArea, options: { limits?: Partial<Limits>; profile?: string } = {}): ExecCommon {
  const filter = launcherFilter(options.profile ?? 'program');
  return {
    flags: flagsFor(filter),
    limits: { ...TEST_LIMITS, ...options.limits },
    output: createOutputFile(area.outputDir, 'out-XXXXXX', 0, 0),
    filter: filter.program,
    tenant: { uid: 0, gid: 0, groups: [] },
  };
}

/** Runs a spec; returns the result and what the output file holds. */
export async function runAndRead(t: TestLauncher, spec: RunSpec): Promise<{ result: LaunchResult; output: string }> {
  const result = await t.launcher.run(spec);
  return { result, output: fs.readFileSync(spec.output, 'utf8') };
}
