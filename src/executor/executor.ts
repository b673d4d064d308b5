// The seam every front end uses: execute(command, tenant) -> result. It
// decides (policy), prepares (output file), launches (sandbox), classifies
// (result -> error lines) and records. Front ends only frame and answer.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { Stats } from '../metrics/stats.js';
import { ExecFlag, type LaunchResult } from '../launcher/protocol.js';
import type { LauncherProcess } from '../launcher/launcher-process.js';
import { decide, type Decision, type Tenant } from '../policy/decide.js';
import type { Policy } from '../policy/policy.js';
import { classify, refused, type Classification, type LimitName, type OutcomeKind } from './classify.js';
import { Admission, type AdmissionOptions } from './admission.js';
import { displayCommand, parseCommand } from './command.js';
import { parseJsonRequest } from './json-request.js';
import type { LauncherFilter } from '../seccomp/launcher-filter.js';
import { syscallName } from '../seccomp/syscalls.js';
import { Semaphore } from './concurrency.js';
import { appendLines, createOutputFile, replaceContent } from './output-file.js';

export type CompatMode = 'classic' | undefined;

export interface ExecutorOptions {
  launcher: LauncherProcess;
  /** The policy in force (a function: policies can be replaced while running). */
  policy: () => Policy;
  outputDir: string;
  outputTemplate: string;
  compat: CompatMode;
  maxConcurrent: number;
  /** The line of calls waiting for a sandbox. */
  queue: AdmissionOptions;
  logger: Logger;
  audit: AuditLog;
  stats: Stats;
  /** Network namespaces: 'auto' gives a call its own only when its seccomp
   * profile lets socket() through (else sandboxes share one empty namespace);
   * 'fresh' and 'shared' are the launcher's, whatever the profile. */
  netns: 'auto' | 'fresh' | 'shared';
}

export interface ExecutionResult {
  /** Unique across restarts: this server's random id, then the request's number in its life. */
  request: string;
  /** The command as received, made printable. */
  received: string;
  /** The command's words joined by single spaces (for error lines). */
  command: string;
  /** The policy's answer; none: the request was refused before (malformed, no output file). */
  decision: 'allowed' | 'denied' | 'none';
  /** The output file, or undefined when none could be created. */
  outputPath: string | undefined;
  /** From the classifier (classify.ts), and only from it. */
  kind: OutcomeKind;
  reasons: string[];
  limitsHit: LimitName[];
  library: string | undefined;
  function: string | undefined;
  input: string | undefined;
  rule: string | undefined;
  /** The policy's tenant the peer matched. */
  tenant: string | undefined;
  /** A JSON request's id, echoed in its reply. */
  id: string | number | undefined;
  /** A JSON request's "return": "content": the reply carries the output's content. */
  returnContent: boolean;
  launch: LaunchResult | undefined;
  queueMs: number;
  totalMs: number;
}

export class Executor {
  private readonly slots: Semaphore;
  /** Per tenant with a maxConcurrent, by tenant name. */
  private readonly tenantSlots = new Map<string, Semaphore>();
  private requests = 0;
  /** Names this server's requests in the audit log. */
  private readonly serverId = randomBytes(4).toString('hex');
  private readonly admission: Admission;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  /** Output files from their creation until their reply is sent: retention leaves them alone. */
  readonly outputsInUse = new Set<string>();

  constructor(private readonly options: ExecutorOptions) {
    this.slots = new Semaphore(options.maxConcurrent);
    this.admission = new Admission(options.queue);
  }

  get running(): number {
    return this.slots.running;
  }

  get queued(): number {
    return this.admission.length;
  }

  /** Resolves when no command is being handled (for a graceful shutdown). */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Handles a classic command (`format` text) or a JSON request; the audit
   * record is written before this returns, so before the reply is sent. */
  async execute(raw: string, tenant: Tenant, format: 'text' | 'json' = 'text'): Promise<ExecutionResult> {
    this.active++;
    // What handle() made and was asked before it failed, for unexpected().
    const output: { path?: string; returnContent?: boolean } = {};
    try {
      const result = await this.handle(raw, tenant, format, output).catch((error: Error) => this.unexpected(raw, error, output));
      this.options.stats.finished(result);
      this.options.audit.execution(result, tenant);
      return result;
    } finally {
      if (output.path) this.released(output.path);
      if (--this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** The call is over: the file's age, for retention, counts from now (its
   * client is about to read it), however long the call ran. */
  private released(file: string): void {
    this.outputsInUse.delete(file);
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // removed meanwhile: nothing to keep
    }
  }

  private async handle(raw: string, tenant: Tenant, format: 'text' | 'json', output: { path?: string; returnContent?: boolean }): Promise<ExecutionResult> {
    const started = performance.now();
    const parsed = format === 'json' ? parseJsonRequest(raw) : parseCommand(raw);
    const result = this.newResult(raw, parsed.text, parsed as { id?: string | number; returnContent?: boolean });
    output.returnContent = result.returnContent;
    const finish = () => {
      result.totalMs = performance.now() - started;
      return result;
    };
    const { outputDir, outputTemplate } = this.options;
    try {
      result.outputPath = createOutputFile(outputDir, outputTemplate, tenant.uid, tenant.gid);
      this.outputsInUse.add(result.outputPath);
      output.path = result.outputPath;
    } catch (error) {
      this.options.logger.error({ err: error, outputDir }, 'cannot create an output file');
      this.conclude(result, refused('server-error', `cannot create an output file in ${outputDir}: ${(error as Error).message}`));
      return finish();
    }

    if (!parsed.ok) {
      this.conclude(result, refused('bad-request', parsed.reason));
      return finish();
    }
    const command = parsed.command;
    let policy = this.options.policy();
    let decision = this.decided(result, decide(policy, command, tenant));
    if (!decision) return finish();

    const { stats } = this.options;
    const tenantName = decision.tenant.name;
    const queuedAt = performance.now();
    const tenantSlots = this.tenantSemaphore(tenantName, decision.tenant.grant.maxConcurrent);
    // Only a call that has to wait joins the line (and may find it full).
    const waits = !this.slots.free || tenantSlots?.free === false;
    if (waits && !(await this.admission.join())) {
      result.queueMs = performance.now() - queuedAt;
      this.conclude(result, refused('busy', this.admission.refusal()));
      return finish();
    }
    stats.enqueued(tenantName);
    await tenantSlots?.acquire();
    await this.slots.acquire();
    stats.dequeued(tenantName);
    if (waits) this.admission.leave();
    result.queueMs = performance.now() - queuedAt;
    // The policy may have changed while the call waited (a tenant revoked):
    // what runs is what the policy in force allows now.
    if (this.options.policy() !== policy) {
      policy = this.options.policy();
      decision = this.decided(result, decide(policy, command, tenant));
    }
    // No call runs without its record.
    const unaudited = decision && this.options.audit.beforeRun(result, tenant);
    if (!decision || unaudited) {
      this.slots.release();
      tenantSlots?.release();
      if (unaudited) this.conclude(result, refused('server-error', unaudited));
      return finish();
    }
    stats.started({ request: result.request, tenant: tenantName, uid: tenant.uid, library: decision.library, function: decision.function, startedAt: Date.now() });
    let launch: LaunchResult;
    try {
      launch = await this.options.launcher.run({
        flags: this.flags(decision.seccomp),
        limits: decision.limits,
        library: decision.library,
        function: decision.function,
        input: decision.input,
        output: result.outputPath,
        filter: decision.seccomp.program,
        tenant: { uid: tenant.uid, gid: tenant.gid, groups: tenant.groups },
      });
    } catch (error) {
      this.conclude(result, refused('server-error', (error as Error).message));
      return finish();
    } finally {
      stats.ended(result.request);
      this.slots.release();
      tenantSlots?.release();
    }
    result.launch = launch;
    this.conclude(result, classify(launch, {
      library: decision.library,
      function: decision.function,
      limits: decision.limits,
      seccompProfile: decision.seccomp.name,
      syscallName,
    }));
    return finish();
  }

  /** A request the executor could not handle (a bug): answered and recorded as a server error, never left without a record. */
  private unexpected(raw: string, error: Error, made: { path?: string; returnContent?: boolean }): ExecutionResult {
    this.options.logger.error({ err: error }, 'execution failed unexpectedly');
    const result = this.newResult(raw, displayCommand(raw), { returnContent: made.returnContent });
    result.outputPath = made.path;
    this.conclude(result, refused('server-error', `the server failed to handle the request: ${error.message}`));
    return result;
  }

  private newResult(raw: string, command: string, asked: { id?: string | number; returnContent?: boolean }): ExecutionResult {
    return {
      request: `${this.serverId}-${++this.requests}`,
      received: displayCommand(raw),
      command,
      decision: 'none',
      outputPath: undefined,
      kind: 'ok',
      reasons: [],
      limitsHit: [],
      library: undefined,
      function: undefined,
      input: undefined,
      rule: undefined,
      tenant: undefined,
      id: asked.id,
      returnContent: asked.returnContent === true,
      launch: undefined,
      queueMs: 0,
      totalMs: 0,
    };
  }

  /** Records the policy's decision in the result; a refusal is written to the output file (and undefined returned). */
  private decided(result: ExecutionResult, decision: Decision): Extract<Decision, { allowed: true }> | undefined {
    result.rule = decision.rule;
    result.tenant = decision.tenant?.name;
    result.decision = decision.allowed ? 'allowed' : decision.kind === 'denied' ? 'denied' : 'none';
    if (!decision.allowed) {
      result.library = result.function = result.input = undefined;
      this.conclude(result, refused(decision.kind, decision.reason));
      return undefined;
    }
    result.library = decision.library;
    result.function = decision.function;
    result.input = decision.input;
    return decision;
  }

  /** The tenant's own limit on calls at once: waiting on it first keeps one
   * tenant's burst from filling every sandbox. */
  private tenantSemaphore(name: string, limit: number | undefined): Semaphore | undefined {
    if (limit === undefined) return undefined;
    let semaphore = this.tenantSlots.get(name);
    if (!semaphore) {
      semaphore = new Semaphore(limit);
      this.tenantSlots.set(name, semaphore);
    } else {
      semaphore.setLimit(limit);
    }
    return semaphore;
  }

  private flags(seccomp: LauncherFilter): number {
    let flags = 0;
    // Classic servers left the function's stderr out of the output file.
    if (this.options.compat !== 'classic') flags |= ExecFlag.StderrToOutput;
    if (this.options.netns === 'auto' && seccomp.allowsSockets) flags |= ExecFlag.FreshNetns;
    if (seccomp.notify === 'refusals') flags |= ExecFlag.SeccompNotify;
    if (seccomp.notify === 'logs') flags |= ExecFlag.SeccompLearn;
    if (!seccomp.allowsIpc) flags |= ExecFlag.SharedIpc;
    return flags;
  }

  /** Takes the classifier's verdict; for a failure, writes the error lines:
   * "Error: <command> could not be executed." then the reasons, after whatever
   * the function printed; in classic mode byte-exact classic files (the line
   * alone before the function ran, nothing added after). */
  private conclude(result: ExecutionResult, verdict: Classification): void {
    const { kind, reasons, limitsHit, functionRan } = verdict;
    Object.assign(result, { kind, reasons, limitsHit });
    const file = result.outputPath;
    if (kind === 'ok' || !file) return;
    const errorLine = `Error: ${result.command} could not be executed.`;
    try {
      if (this.options.compat === 'classic') {
        if (!functionRan) replaceContent(file, [errorLine]);
      } else {
        appendLines(file, [errorLine, ...reasons.map((r) => `Reason: ${r}`)]);
      }
    } catch (error) {
      this.options.logger.error({ err: error, file }, 'cannot write the error lines to the output file');
    }
  }
}

