// The seam every front end uses: execute(command, tenant) -> result. It
// decides (policy), prepares (output file), launches (sandbox), classifies
// (result -> error lines) and records. Front ends only frame and answer.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { Stats } from '../metrics/stats.js';
import type { LaunchResult } from '../launcher/protocol.js';
import type { LauncherProcess } from '../launcher/launcher-process.js';
import { decide, type Decision, type RegisteredFunction, type Tenant } from '../policy/decide.js';
import { decideFunction } from '../policy/decide-function.js';
import { FnjailError } from '../errors.js';
import type { CalledFunction, CheckedOut } from '../functions/registry.js';
import { classifyTarget, execFlags, launchSpec } from './launch-spec.js';
import type { Policy, TenantPolicy } from '../policy/policy.js';
import { classify, refused, type Classification, type LimitName, type OutcomeKind } from './classify.js';
import { Admission, type AdmissionOptions } from './admission.js';
import { displayCommand, parseRequest, type NamedCall, type ParsedRequest, type Target } from './command.js';
import { parseJsonRequest } from './json-request.js';
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
  /** Registered functions, for calls by name; undefined: this server has no registry. */
  functions?: FunctionSource | undefined;
  /** The cluster, for calls by name; undefined: every call runs here. */
  routing?: CallRouting | undefined;
}

/** Where a call by name runs when this node is one of a cluster's
 * (cluster/call-routing.ts): on another node when this one has no free slot
 * (or always in turn, with --balance round-robin). Only calls whose input
 * can travel (a request body, or none) go: a file the tenant names is on
 * this machine. */
export interface CallRouting {
  /** As a call that may go arrives, before its checkout and decision: its
   * node may be found meanwhile (a slot reserved there). undefined: nothing to do yet. */
  prepare?(call: { slotFree: boolean }): PreparedRoute | undefined;
  /** The outcome of the call on another node, or undefined: run it here. */
  route(call: RoutableCall, prepared?: PreparedRoute): Promise<RoutedOutcome | undefined>;
}

/** What prepare() began: given to route(), or cancelled when the call does not get that far. */
export interface PreparedRoute {
  cancel(): void;
}

export interface RoutableCall {
  name: string;
  /** The version checked out here: the node that runs the call runs this one. */
  pinned: CalledFunction;
  function: string | undefined;
  /** The request body (read only if the call goes). */
  input: () => Buffer | undefined;
  timeoutMs: number;
  tenant: string;
  peer: Tenant;
  /** Whether this node has a free slot now. */
  slotFree: boolean;
  /** A per-connection program's connection (it stays here; its bytes are relayed to the node that runs it). */
  connection?: { socket: net.Socket; idleMs: number };
}

export interface RoutedOutcome {
  node: string;
  kind: OutcomeKind;
  reasons: string[];
  limitsHit: LimitName[];
  /** What the function printed (the error lines are written here, as for a call run here). */
  output: Buffer;
  functionRan: boolean;
}

/** Where calls by name find their function: a version checked out (unpacked
 * on this node) for the length of the call, so that a redeploy meanwhile
 * never touches it. Throws FnjailError (FNJ_FUNCTION_NOT_FOUND,
 * FNJ_REGISTRY_UNAVAILABLE, ...). */
export interface FunctionSource {
  checkout(name: string): Promise<CheckedOut>;
  /** A version another node resolved (a call it sent). */
  checkoutVersion(fn: CalledFunction): Promise<CheckedOut>;
}

/** What a front end that framed the request itself asks for (HTTP, jobs). */
export interface CallOptions {
  id?: string | number;
  returnContent?: boolean;
  /** Run here whatever the cluster's routing says (a call another node sent). */
  here?: boolean;
  /** The version to run, as the node that sent the call resolved it (with here). */
  pinned?: CalledFunction;
  /** Stops the call (waiting or running): its sandbox is killed, and it ends cancelled (a job stopped). */
  signal?: AbortSignal;
  /** A wall-clock limit that only tightens the one the policy gives (a job's timeout). */
  timeoutMs?: number;
  /** The caller reads the output file and removes it at once (HTTP, jobs): its age for retention is not refreshed (a system call saved). */
  removesOutput?: boolean;
}

/** What run() needs of the call's options. */
type RunOptions = Pick<CallOptions, 'signal' | 'timeoutMs' | 'removesOutput'>;

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
  /** A call by name: the registered function, the version checked out and its owner. */
  registered: Pick<RegisteredFunction, 'name' | 'version' | 'owner'> | undefined;
  /** The output file's size before error lines were added: what the function itself printed. */
  printedBytes: number | undefined;
  /** The output file's size once the call is concluded (error lines included), for its audit record. */
  outputBytes: number | undefined;
  /** The cluster's node that ran the call, when it is not this one. */
  ranOn: string | undefined;
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
  /** Told of every request once it is answered (the dashboard). */
  private readonly finishedListeners = new Set<(result: ExecutionResult) => void>();

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

  /** Calls this node runs at once at most (--max-concurrent). */
  get capacity(): number {
    return this.options.maxConcurrent;
  }

  /** Calls the listener with every request once it is answered (after its audit record); returns what stops it. */
  onFinished(listener: (result: ExecutionResult) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Resolves when no command is being handled (for a graceful shutdown). */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Handles a classic command (`format` text: a library's, or `@name ...`
   * for a registered function) or a JSON request; the audit record is
   * written before this returns, so before the reply is sent. */
  execute(raw: string, tenant: Tenant, format: 'text' | 'json' = 'text'): Promise<ExecutionResult> {
    return this.perform(raw, tenant, () => (format === 'json' ? parseJsonRequest(raw) : parseRequest(raw)));
  }

  /** A call of a registered function framed by its front end (HTTP): the
   * same steps, policy and audit as any other request. */
  call(call: NamedCall, tenant: Tenant, asked: CallOptions = {}): Promise<ExecutionResult> {
    const { here, pinned, signal, timeoutMs, removesOutput, ...framed } = asked;
    return this.perform(call.text, tenant, () => ({ ok: true, text: call.text, target: { kind: 'function', call, here, pinned }, ...framed }), { signal, timeoutMs, removesOutput });
  }

  /** Work that needs a sandbox but is not a call (a deploy's build): it
   * takes a slot as a call does, through the same line and under the
   * tenant's maxConcurrent, so that it never waits for the launcher past what
   * the server admitted; refused ("busy", with the reason) when the line is
   * full. The server's shutdown waits for it as for a call. */
  async withSandbox<T>(tenant: TenantPolicy, work: () => Promise<T>): Promise<{ admitted: true; value: T } | { admitted: false; reason: string }> {
    this.active++;
    try {
      const release = await this.slot(tenant.name, tenant.grant.maxConcurrent);
      if (!release) return { admitted: false, reason: this.admission.refusal() };
      try {
        return { admitted: true, value: await work() };
      } finally {
        release();
      }
    } finally {
      this.idle();
    }
  }

  private async perform(raw: string, tenant: Tenant, parse: () => ParsedRequest, runOptions: RunOptions = {}): Promise<ExecutionResult> {
    this.active++;
    // What handle() made and was asked before it failed, for unexpected().
    const output: { path?: string; returnContent?: boolean } = {};
    try {
      const result = await this.handle(raw, tenant, parse, output, runOptions).catch((error: Error) => this.unexpected(raw, error, output));
      this.options.stats.finished(result);
      this.options.audit.execution(result, tenant);
      for (const listener of this.finishedListeners) listener(result);
      return result;
    } finally {
      if (output.path) this.released(output.path, runOptions.removesOutput === true);
      this.idle();
    }
  }

  /** One handling less; wakes whenIdle() at the last. */
  private idle(): void {
    if (--this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A sandbox slot: the tenant's own first (its maxConcurrent), then the
   * server's. Only what has to wait joins the line (and may find it full:
   * undefined). Resolves to the slot's release. */
  private async slot(tenantName: string, limit: number | undefined): Promise<(() => void) | undefined> {
    const { stats } = this.options;
    const tenantSlots = this.tenantSemaphore(tenantName, limit);
    const waits = !this.slots.free || tenantSlots?.free === false;
    if (waits && !(await this.admission.join())) return undefined;
    stats.enqueued(tenantName);
    await tenantSlots?.acquire();
    await this.slots.acquire();
    stats.dequeued(tenantName);
    if (waits) this.admission.leave();
    return () => {
      this.slots.release();
      tenantSlots?.release();
    };
  }

  /** The call is over: the file's age, for retention, counts from now (its
   * client is about to read it), however long the call ran. */
  private released(file: string, removedByCaller: boolean): void {
    this.outputsInUse.delete(file);
    if (removedByCaller) return;
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // removed meanwhile: nothing to keep
    }
  }

  private async handle(raw: string, tenant: Tenant, parse: () => ParsedRequest, output: { path?: string; returnContent?: boolean }, runOptions: RunOptions): Promise<ExecutionResult> {
    const started = performance.now();
    const parsed = parse();
    // A call by name that may go to another node: the cluster looks for its node (a
    // round trip) while this one creates the output file, checks out and decides.
    const prepared = parsed.ok && parsed.target.kind === 'function' && !this.stays(parsed.target, runOptions) ? this.options.routing?.prepare?.({ slotFree: this.slots.free }) : undefined;
    try {
      // The NATS client writes at the next microtask: let the reservation go out now, not after the output file is made.
      if (prepared) await Promise.resolve();
      return await this.handleParsed(raw, tenant, parsed, output, runOptions, started, prepared);
    } finally {
      // Not routed after all (refused, or its checkout failed): a slot reserved elsewhere is given back.
      prepared?.cancel();
    }
  }

  /** Runs here: a call another node sent; a file the tenant names (it is on this
   * machine); a call that may be cancelled (a job's replica: its queue gives it
   * to a node that has room). A connection may go: its bytes are relayed. */
  private stays(target: Extract<Target, { kind: 'function' }>, runOptions: RunOptions): boolean {
    return target.here === true || target.call.input?.kind === 'path' || runOptions.signal !== undefined;
  }

  private async handleParsed(raw: string, tenant: Tenant, parsed: ParsedRequest, output: { path?: string; returnContent?: boolean }, runOptions: RunOptions, started: number, prepared: PreparedRoute | undefined): Promise<ExecutionResult> {
    const result = this.newResult(raw, parsed.text, parsed);
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
    const { target } = parsed;
    if (target.kind === 'library') {
      await this.run(result, tenant, (policy) => decide(policy, target.command, tenant), runOptions);
      return finish();
    }
    // A call by name: the version checked out now is the one that runs, whatever is deployed meanwhile.
    const checkedOut = await this.checkout(result, target.call.name, target.pinned);
    if (!checkedOut) return finish();
    const { name, version, owner } = checkedOut.record;
    result.registered = { name, version, owner };
    try {
      const routable = this.stays(target, runOptions) ? undefined : { call: target.call, pinned: checkedOut.record, prepared };
      await this.run(result, tenant, (policy) => decideFunction(policy, target.call, checkedOut, tenant), runOptions, routable);
    } finally {
      checkedOut.release();
    }
    return finish();
  }

  /** The function's current version (or the one pinned), or undefined with the reason concluded. */
  private async checkout(result: ExecutionResult, name: string, pinned: CalledFunction | undefined): Promise<CheckedOut | undefined> {
    const functions = this.options.functions;
    if (!functions) {
      this.conclude(result, refused('server-error', `this server has no function registry (--nats off): '${name}' cannot be called by name`));
      return undefined;
    }
    try {
      return await (pinned ? functions.checkoutVersion(pinned) : functions.checkout(name));
    } catch (error) {
      const code = error instanceof FnjailError ? error.code : undefined;
      if (code === 'FNJ_FUNCTION_NOT_FOUND') this.conclude(result, refused('missing-function', `no function named '${name}' is registered (fnjail functions lists them)`));
      else this.conclude(result, refused('server-error', (error as Error).message));
      return undefined;
    }
  }

  /** Decides (again when the policy changed while the call waited), admits, runs and classifies. */
  private async run(result: ExecutionResult, tenant: Tenant, decideNow: (policy: Policy) => Decision, runOptions: RunOptions, routable?: Routable): Promise<void> {
    let policy = this.options.policy();
    const decideWith = (p: Policy) => tightened(decideNow(p), runOptions.timeoutMs);
    let decision = this.decided(result, decideWith(policy));
    if (!decision) return;
    if (routable && this.options.routing && (await this.routed(result, tenant, decision, routable))) return;

    const { stats } = this.options;
    const tenantName = decision.tenant.name;
    const queuedAt = performance.now();
    const release = await this.slot(tenantName, decision.tenant.grant.maxConcurrent);
    result.queueMs = performance.now() - queuedAt;
    if (!release) {
      this.conclude(result, refused('busy', this.admission.refusal()));
      return;
    }
    // The policy may have changed while the call waited (a tenant revoked):
    // what runs is what the policy in force allows now.
    if (this.options.policy() !== policy) {
      policy = this.options.policy();
      decision = this.decided(result, decideWith(policy));
    }
    // No call runs without its record.
    const unaudited = decision && this.options.audit.beforeRun(result, tenant);
    if (!decision || unaudited) {
      release();
      if (unaudited) this.conclude(result, refused('server-error', unaudited));
      return;
    }
    stats.started({ request: result.request, tenant: tenantName, uid: tenant.uid, library: decision.library, function: decision.function, startedAt: Date.now() });
    let launch: LaunchResult;
    try {
      launch = await this.options.launcher.run(launchSpec(decision, result.outputPath!, execFlags(decision.seccomp, this.options), tenant), runOptions.signal);
    } catch (error) {
      this.conclude(result, refused('server-error', (error as Error).message));
      return;
    } finally {
      stats.ended(result.request);
      release();
    }
    result.launch = launch;
    // Object.assign, not `{ ...target, more }`: a literal that starts with a spread is slow in V8 (launch-spec.ts).
    this.conclude(result, classify(launch, Object.assign(classifyTarget(decision), { limits: decision.limits, seccompProfile: decision.seccomp.name, syscallName })));
  }

  /** Offers the call to the cluster; true when it ran (or was lost) on another node. */
  private async routed(result: ExecutionResult, tenant: Tenant, decision: Extract<Decision, { allowed: true }>, { call, pinned, prepared }: Routable): Promise<boolean> {
    const spool = call.input?.kind === 'spool' ? call.input.path : undefined;
    const connection = call.input?.kind === 'connection' ? { socket: call.input.socket, idleMs: call.input.idleMs } : undefined;
    const remote = await this.options.routing!.route({
      name: call.name,
      pinned,
      function: call.function,
      input: () => (spool === undefined ? undefined : fs.readFileSync(spool)),
      timeoutMs: decision.limits.timeoutMs,
      tenant: decision.tenant.name,
      peer: tenant,
      slotFree: this.slots.free,
      ...(connection ? { connection } : {}),
    }, prepared);
    if (!remote) return false;
    result.ranOn = remote.node;
    try {
      fs.appendFileSync(result.outputPath!, remote.output);
    } catch (error) {
      this.conclude(result, refused('server-error', `the call ran on node ${remote.node}, but its output cannot be written here: ${(error as Error).message}`));
      return true;
    }
    const { kind, reasons, limitsHit, functionRan } = remote;
    this.conclude(result, { kind, reasons, limitsHit, functionRan });
    return true;
  }

  /** A request the executor could not handle (a bug): answered and recorded as a server error, never left without a record. */
  private unexpected(raw: string, error: Error, made: { path?: string; returnContent?: boolean }): ExecutionResult {
    this.options.logger.error({ err: error }, 'execution failed unexpectedly');
    const result = this.newResult(raw, displayCommand(raw), { returnContent: made.returnContent });
    result.outputPath = made.path;
    this.conclude(result, refused('server-error', `the server failed to handle the request: ${error.message}`));
    return result;
  }

  private newResult(raw: string, command: string, asked: CallOptions): ExecutionResult {
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
      registered: undefined,
      printedBytes: undefined,
      outputBytes: undefined,
      ranOn: undefined,
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


  /** Takes the classifier's verdict; for a failure, writes the error lines:
   * "Error: <command> could not be executed." then the reasons, after whatever
   * the function printed; in classic mode byte-exact classic files (the line
   * alone before the function ran, nothing added after). */
  private conclude(result: ExecutionResult, verdict: Classification): void {
    const { kind, reasons, limitsHit, functionRan } = verdict;
    Object.assign(result, { kind, reasons, limitsHit });
    const file = result.outputPath;
    if (!file) return;
    result.printedBytes = result.outputBytes = fileSize(file);
    if (kind === 'ok') return;
    const errorLine = `Error: ${result.command} could not be executed.`;
    try {
      if (this.options.compat === 'classic') {
        if (!functionRan) result.outputBytes = replaceContent(file, [errorLine]);
      } else {
        result.outputBytes = appendLines(file, [errorLine, ...reasons.map((r) => `Reason: ${r}`)]);
      }
    } catch (error) {
      result.outputBytes = fileSize(file);
      this.options.logger.error({ err: error, file }, 'cannot write the error lines to the output file');
    }
  }
}

/** A call by name that may run on another node, and what the cluster prepared for it as it arrived. */
interface Routable {
  call: NamedCall;
  pinned: CalledFunction;
  prepared: PreparedRoute | undefined;
}

/** A decision whose wall-clock limit is tightened to timeoutMs, if that is stricter. */
function tightened(decision: Decision, timeoutMs: number | undefined): Decision {
  if (!decision.allowed || timeoutMs === undefined || timeoutMs >= decision.limits.timeoutMs) return decision;
  // Object.assign, not `{ ...decision, more }`: a literal that starts with a spread is slow in V8 (launch-spec.ts).
  return Object.assign({}, decision, { limits: Object.assign({}, decision.limits, { timeoutMs }) });
}

function fileSize(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}
