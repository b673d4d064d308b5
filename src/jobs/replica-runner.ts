// Runs one replica of a job on this node, as the peer that submitted it,
// under the policy in force now:
//   - a function job: a call by name through the executor (policy, limits,
//     sandbox, audit, statistics: the same as any call), its input fetched
//     from the object store into a spool file of the peer's; the job's
//     timeout tightens the wall-clock limit;
//   - a bundle job: the bundle unpacked into a build sandbox's work directory
//     and `make -s run` run there (the launcher's build mode: no network, the
//     server's build limits, the tenant's programSeccompProfile), for a
//     tenant that may deploy.
// Either way the output file is left for the caller to store and remove.
// A result the node is to blame for (its launcher died, it was busy, it
// stops) is flagged: the replica goes back to the queue rather than being
// held against the job.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { FnjailError } from '../errors.js';
import { namedCallText, type CallInput } from '../executor/command.js';
import type { Executor } from '../executor/executor.js';
import type { BuildRunner } from '../functions/build.js';
import { readBundleArchive } from '../functions/bundle-archive.js';
import { extractBundle } from '../functions/bundle-extract.js';
import { createWorkDir } from '../launcher/work-dir.js';
import { deployAccess } from '../policy/function-access.js';
import type { Policy } from '../policy/policy.js';
import { spoolBody, unlinkQuietly } from '../server/spool.js';
import { jobObjects } from './job-identity.js';
import type { JobOutcome, JobRecord } from './job-record.js';
import type { JobStore } from './job-store.js';
import { hasMakefile, makeOutcome, MAKE_RUN } from './make-outcome.js';

export interface RunnerOptions {
  executor: Executor;
  policy: () => Policy;
  /** Inputs are spooled here (server/spool.ts). */
  spoolDir: string;
  /** Bundle jobs unpack and log here (root's, 0700). */
  workDir: string;
  buildRunner: BuildRunner;
  buildDiskBytes: number;
}

export interface RunOutcome {
  outcome: JobOutcome | 'ok';
  reasons: string[];
  /** The output file (the caller stores, then removes it). */
  outputFile: string | undefined;
  version?: string;
  request?: string;
  /** The node, not the job, is to blame: run it again elsewhere. */
  nodeFault: boolean;
}

/** Outcomes a node is to blame for. */
const NODE_FAULTS = new Set<string>(['server-error', 'busy']);


export class ReplicaRunner {
  constructor(private readonly options: RunnerOptions) {}

  async run(record: JobRecord, store: JobStore, signal: AbortSignal): Promise<RunOutcome> {
    return record.target.kind === 'function' ? this.runFunction(record, record.target, store, signal) : this.runBundle(record, store, signal);
  }

  private async runFunction(record: JobRecord, target: Extract<JobRecord['target'], { kind: 'function' }>, store: JobStore, signal: AbortSignal): Promise<RunOutcome> {
    let spooled: string | undefined;
    try {
      if (record.input) {
        const data = await store.getObjectBuffer(jobObjects.input(record.ticket));
        if (!data) return fault(`the job's input is missing from the object store`);
        spooled = await spoolBody(this.options.spoolDir, Readable.from([data]), Infinity, record.peer, () => new FnjailError('FNJ_INPUT_TOO_LARGE', 'unreachable: no limit'));
      }
      const input: CallInput | undefined = spooled === undefined ? undefined : { kind: 'spool', path: spooled };
      const call = { text: namedCallText(target.name, target.function, input), name: target.name, function: target.function, input };
      const result = await this.options.executor.call(call, record.peer, { signal, removesOutput: true, ...(record.timeoutMs !== undefined ? { timeoutMs: record.timeoutMs } : {}) });
      return {
        outcome: result.kind,
        reasons: result.reasons,
        outputFile: result.outputPath,
        request: result.request,
        ...(result.registered ? { version: result.registered.version } : {}),
        nodeFault: NODE_FAULTS.has(result.kind) && !signal.aborted,
      };
    } finally {
      if (spooled) unlinkQuietly(spooled);
    }
  }

  private async runBundle(record: JobRecord, store: JobStore, signal: AbortSignal): Promise<RunOutcome> {
    const access = deployAccess(this.options.policy(), record.peer);
    if (!access.allowed) return { outcome: 'denied', reasons: [`a bundle job runs a build: ${access.reason}`], outputFile: undefined, nodeFault: false };
    const archive = await store.getObjectBuffer(jobObjects.bundle(record.ticket));
    if (!archive) return fault(`the job's bundle is missing from the object store`);
    const bundle = await readBundleArchive(archive);
    if (!hasMakefile(bundle)) return { outcome: 'bad-request', reasons: ['the bundle has no Makefile at its top'], outputFile: undefined, nodeFault: false };
    const { workDir, buildRunner, buildDiskBytes } = this.options;
    const id = `${record.ticket}-${randomBytes(4).toString('hex')}`;
    const staging = path.join(workDir, `.sources-${id}`);
    const log = path.join(workDir, `${id}.out`);
    let work;
    try {
      extractBundle(bundle, staging);
      work = createWorkDir({ parent: workDir, source: staging, bytes: buildDiskBytes });
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
    try {
      fs.writeFileSync(log, '', { mode: 0o600 });
      const verdict = await buildRunner({
        command: MAKE_RUN,
        workDir: work.path,
        workBytes: work.bytes,
        log,
        tenant: record.peer,
        admittedAs: access.tenant,
        seccomp: access.tenant.grant.programSeccomp,
        signal,
        ...(record.timeoutMs !== undefined ? { timeoutMs: record.timeoutMs } : {}),
      });
      const { outcome, reasons } = makeOutcome(verdict, tail(log));
      return { outcome, reasons, outputFile: log, nodeFault: NODE_FAULTS.has(outcome) && !signal.aborted };
    } catch (error) {
      fs.rmSync(log, { force: true });
      throw error;
    } finally {
      work.release();
    }
  }
}

function fault(reason: string): RunOutcome {
  return { outcome: 'server-error', reasons: [reason], outputFile: undefined, nodeFault: true };
}

/** The end of a file (make's last words are there). */
function tail(file: string, bytes = 64 * 1024): string {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
