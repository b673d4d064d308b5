// What front ends (the HTTP API) may do with jobs, for whom: submit, look,
// list, fetch an output, cancel, close; and the sweeper that closes the
// tickets nobody closed once their retention is over.
//
// A submit is refused at once, never accepted and lost: a function that does
// not exist or that the peer may not call (function-access.ts, as a call by
// name), a bundle from a tenant without "deploy" (a bundle job builds and
// runs it, as a deploy's build), a bundle without a Makefile, a queue full
// for the tenant or for every one. An accepted job is stored (its input or
// bundle, its work items, then its record, written once: queued, with the
// items' sequences), so that whatever takes an item finds its job (a node
// that takes one before the record is there waits for it). Every submit,
// accepted or refused, is an audit record; so is every change of state and
// every closing.
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { peerFields } from '../audit/audit-event.js';
import type { NatsLink } from '../cluster/nats-link.js';
import { formatDuration } from '../config/duration.js';
import { FnjailError } from '../errors.js';
import { DEFAULT_FUNCTION } from '../executor/command.js';
import { readBundleArchive } from '../functions/bundle-archive.js';
import { adminRule, deployAccess, functionAccess } from '../policy/function-access.js';
import type { Tenant } from '../policy/decide.js';
import type { Policy } from '../policy/policy.js';
import { describePeer, matchTenant } from '../policy/tenants.js';
import type { JobBackend, JobEnv } from './job-backend.js';
import { isTicket, jobKey, jobObjects, newTicket, ownerOf, queueToken } from './job-identity.js';
import { QueueFull } from './job-queue.js';
import { hasMakefile } from './make-outcome.js';
import { cancelJob, isEnded, newJob, setQueued, type Change, type JobRecord, type JobTarget } from './job-record.js';
import { jobView, type JobView } from './job-view.js';

export interface JobServiceOptions {
  backend: JobBackend;
  link: NatsLink;
  policy: () => Policy;
  audit: AuditLog;
  logger: Logger;
  /** How long a request waits for an unavailable NATS system. */
  waitMs: number;
  /** An ended ticket nobody closed is closed this long after it ended. */
  retentionMs: number;
}

export interface SubmitRequest {
  /** A registered function... */
  name?: string;
  /** ...and, for a library, its function (default run). */
  function?: string;
  /** Or a bundle (.tar.gz) whose Makefile's run target builds and runs a program. */
  bundle?: Buffer;
  /** The function's input (a library's input file, a program's stdin). */
  input?: Buffer;
  replicas: number;
  timeoutMs?: number;
}

export const MAX_REPLICAS = 100;

/** Objects the sweeper finds without a job are removed once this old (a submit that failed half-way). */
const ORPHAN_AGE_MS = 60 * 60_000;


export class JobService {
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly options: JobServiceOptions) {}

  private env(): Promise<JobEnv> {
    return this.options.backend.env(this.options.waitMs);
  }

  /** Operations that fail because NATS went away say so. */
  private async onQueue<T>(operation: (env: JobEnv) => Promise<T>): Promise<T> {
    const env = await this.env();
    try {
      return await operation(env);
    } catch (error) {
      if (error instanceof FnjailError) throw error;
      throw this.options.backend.unavailable(error);
    }
  }

  async submit(peer: Tenant, request: SubmitRequest): Promise<JobView> {
    const { backend } = this.options;
    try {
      const view = await this.accept(peer, request);
      backend.stats.submitted++;
      this.options.audit.job(
        'job-submit',
        { peer: peerFields(peer), ticket: view.ticket, tenant: view.tenant, kind: view.kind, function: view.function ?? null, replicas: view.replicas.length, inputBytes: view.inputBytes, timeoutMs: view.timeoutMs ?? null, outcome: 'ok' },
        `job ${view.ticket} submitted by ${describePeer(peer)}: ${view.kind === 'function' ? `function '${view.function}'` : 'a bundle'}, ${view.replicas.length} replica${view.replicas.length === 1 ? '' : 's'}`,
      );
      return view;
    } catch (error) {
      backend.stats.refused++;
      const code = error instanceof FnjailError ? error.code : 'FNJ_INTERNAL';
      const reason = (error as Error).message;
      this.options.audit.job(
        'job-submit',
        { peer: peerFields(peer), ticket: null, kind: request.bundle ? 'bundle' : 'function', function: request.name ?? null, replicas: request.replicas, outcome: code === 'FNJ_DENIED' ? 'denied' : 'error', code, reason },
        `job submitted by ${describePeer(peer)} refused: ${reason}`,
        'warn',
      );
      throw error;
    }
  }

  private async accept(peer: Tenant, request: SubmitRequest): Promise<JobView> {
    const { replicas, timeoutMs } = request;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new FnjailError('FNJ_USAGE', `replicas must be an integer from 1 to ${MAX_REPLICAS}, not ${replicas}`);
    if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1)) throw new FnjailError('FNJ_USAGE', 'the timeout must be at least 1 ms');
    const owner = ownerOf(peer);
    if (owner === undefined) throw new FnjailError('FNJ_DENIED', `${describePeer(peer)} has no identity to own a job (a client certificate names one)`);
    const policy = this.options.policy();
    const match = matchTenant(policy, peer);
    if (!match.tenant) throw new FnjailError('FNJ_DENIED', `denied by policy '${policy.path}', rule ${match.rule}: ${match.reason}`);
    const target = request.bundle ? await this.bundleTarget(policy, peer, request.bundle) : await this.functionTarget(policy, peer, request);
    const ticket = newTicket();
    const input = target.kind === 'function' && request.input?.length ? request.input : undefined;
    const record = newJob(
      {
        ticket,
        owner,
        tenant: match.tenant.name,
        peer,
        submittedBy: describePeer(peer),
        node: this.options.backend.node,
        target,
        ...(input ? { input: { bytes: input.length } } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        queued: false,
      },
      replicas,
      new Date(),
    );
    const key = jobKey(owner, ticket);
    const objects = [...(input ? [jobObjects.input(ticket)] : []), ...(request.bundle ? [jobObjects.bundle(ticket)] : [])];
    return this.onQueue(async ({ store, queue }) => {
      if (input) await store.putObject(jobObjects.input(ticket), input);
      if (request.bundle) await store.putObject(jobObjects.bundle(ticket), request.bundle);
      // The work items first, then the record, whole (queued, with their
      // sequences): one write. A node that takes an item before its record is
      // there waits for it (job-worker.ts); an item whose record never comes
      // (the submit failed after the publish) is dropped.
      let seqs: number[];
      try {
        seqs = await queue.publish(queueToken(record.tenant), record.replicas.map((r) => ({ key, replica: r.replica })), ticket);
      } catch (error) {
        await Promise.all(objects.map((name) => store.deleteObject(name))).catch(() => undefined);
        if (!(error instanceof QueueFull)) throw error;
        const { perTenant, total } = queue.limits;
        throw error.scope === 'tenant'
          ? new FnjailError('FNJ_JOBS_FULL', `the job queue is full for tenant '${record.tenant}': it has ${perTenant} replicas waiting or running, its limit (--job-queue-per-tenant)`, 'wait for some of them to end, or cancel some')
          : new FnjailError('FNJ_JOBS_FULL', `the job queue is full: ${total} replicas are waiting or running, its limit (--job-queue-length)`, 'try again later');
      }
      setQueued(record, seqs);
      try {
        await store.create(record);
      } catch (error) {
        await queue.withdraw(seqs).catch(() => undefined);
        await Promise.all(objects.map((name) => store.deleteObject(name))).catch(() => undefined);
        throw error;
      }
      this.options.backend.stats.recent.noteRecord(record, true);
      return jobView(record);
    });
  }

  /** A registered function the peer may call, checked as a call by name is (the run checks it again, under the policy then). */
  private async functionTarget(policy: Policy, peer: Tenant, request: SubmitRequest): Promise<JobTarget> {
    const name = request.name;
    if (name === undefined) throw new FnjailError('FNJ_USAGE', 'a job needs a function name or a bundle');
    let registry;
    try {
      registry = await this.options.link.registry(this.options.waitMs);
    } catch (error) {
      throw this.options.backend.unavailable(error);
    }
    // As a call by name reads it (the watch's cache): the run checks again.
    const record = await registry.current(name).catch((error: Error) => {
      throw this.options.backend.unavailable(error);
    });
    if (!record) throw new FnjailError('FNJ_FUNCTION_NOT_FOUND', `no function named '${name}' is registered (fnjail functions lists them)`);
    const access = functionAccess(policy, peer, 'call', name, record.owner);
    if (!access.allowed) throw new FnjailError('FNJ_DENIED', access.reason);
    if (record.kind === 'library') {
      const fn = request.function ?? DEFAULT_FUNCTION;
      const listed = record.manifest.functions ?? [];
      if (!listed.includes(fn)) throw new FnjailError('FNJ_FUNCTION_NOT_FOUND', `function '${fn}' is not one that '${name}' offers (its manifest lists: ${listed.join(', ')})`);
    } else if (request.function !== undefined) {
      throw new FnjailError('FNJ_USAGE', `'${name}' is a program: it has no functions to name ('${request.function}')`);
    }
    return { kind: 'function', name, owner: record.owner, ...(request.function !== undefined ? { function: request.function } : {}) };
  }

  /** A bundle the peer may build and run: read with every bundle rule, with a Makefile at its top. */
  private async bundleTarget(policy: Policy, peer: Tenant, archive: Buffer): Promise<JobTarget> {
    const access = deployAccess(policy, peer);
    if (!access.allowed) throw new FnjailError('FNJ_DENIED', `a bundle job builds and runs its bundle, as a deploy builds one: ${access.reason}`, 'ask the admin for "deploy" in your tenant\'s policy (docs/policy.md)');
    const bundle = await readBundleArchive(archive);
    if (!hasMakefile(bundle)) throw new FnjailError('FNJ_BUNDLE_INVALID', 'the bundle has no Makefile at its top: a bundle job runs make run', 'see docs/jobs.md');
    return { kind: 'bundle', hash: bundle.hash, bytes: archive.length };
  }

  /** The peer's job (or, for root and admins, anyone's); FNJ_JOB_NOT_FOUND for a ticket of someone else's, as for one that never existed. */
  private async find(env: JobEnv, peer: Tenant, ticket: string): Promise<{ key: string; record: JobRecord }> {
    const missing = () => new FnjailError('FNJ_JOB_NOT_FOUND', `no job of yours has ticket ${ticket}`, 'fnjail jobs list shows yours');
    if (!isTicket(ticket)) throw missing();
    const owner = ownerOf(peer);
    if (owner !== undefined) {
      const key = jobKey(owner, ticket);
      const found = await env.store.get(key);
      if (found) return { key, record: found.record };
    }
    if (adminRule(this.options.policy(), peer)) {
      for (const key of await env.store.keysOfTicket(ticket)) {
        const found = await env.store.get(key);
        if (found) return { key, record: found.record };
      }
    }
    throw missing();
  }

  /** The job; with waitMs, once it has ended (or the wait is over). */
  status(peer: Tenant, ticket: string, waitMs = 0): Promise<JobView> {
    return this.onQueue(async (env) => {
      const { key, record } = await this.find(env, peer, ticket);
      if (waitMs <= 0 || isEnded(record.state)) return jobView(record);
      const last = await env.store.watch(key, (r) => r === undefined || isEnded(r.state), waitMs);
      return jobView(last ?? record);
    });
  }

  /** The peer's jobs (all = every one's, for root and admins), oldest first. */
  list(peer: Tenant, all = false): Promise<JobView[]> {
    return this.onQueue(async ({ store }) => {
      if (all && !adminRule(this.options.policy(), peer)) throw new FnjailError('FNJ_DENIED', `${describePeer(peer)} may list only its own jobs (root and the policy's admins may list all)`);
      const owner = ownerOf(peer);
      if (!all && owner === undefined) return [];
      const records = await store.records(await store.keys(all ? '>' : `${owner}.*`));
      return records.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt)).map(jobView);
    });
  }

  /** A replica's output, once it has ended. */
  output(peer: Tenant, ticket: string, replica: number): Promise<{ view: JobView; replica: JobView['replicas'][number]; output: Readable | undefined }> {
    return this.onQueue(async (env) => {
      const { record } = await this.find(env, peer, ticket);
      const r = record.replicas[replica - 1];
      if (!r) throw new FnjailError('FNJ_USAGE', `job ${ticket} has no replica ${replica} (it has ${record.replicas.length}, numbered from 1)`);
      if (!isEnded(r.state)) throw new FnjailError('FNJ_JOB_NOT_DONE', `replica ${replica} of job ${ticket} is ${r.state}: its output is there once it has ended`, `fnjail jobs wait ${ticket}`);
      const view = jobView(record);
      const output = !r.output ? undefined : 'inline' in r.output ? Readable.from([Buffer.from(r.output.inline, 'base64')]) : (await env.store.getObject(r.output.object))?.stream;
      return { view, replica: view.replicas[replica - 1]!, output };
    });
  }

  /** Cancels the replicas not ended yet: those waiting leave the queue, those running are stopped. */
  cancel(peer: Tenant, ticket: string): Promise<{ view: JobView; cancelled: boolean }> {
    return this.onQueue(async (env) => {
      const { key, record } = await this.find(env, peer, ticket);
      const cancelled = await this.cancelIn(env, key, peer);
      return { view: jobView(cancelled?.record ?? record), cancelled: (cancelled?.changes.length ?? 0) > 0 };
    });
  }

  private async cancelIn(env: JobEnv, key: string, peer: Tenant): Promise<{ record: JobRecord; changes: Change[] } | undefined> {
    const applied = await env.store.update(key, (record) => {
      const changes = cancelJob(record, describePeer(peer), new Date());
      return { write: changes.length > 0, result: changes };
    });
    if (!applied) return undefined;
    this.options.backend.applied(env, applied.record, applied.result);
    return { record: applied.record, changes: applied.result };
  }

  /** Frees the job's storage (cancelling it first if it has not ended). */
  close(peer: Tenant, ticket: string): Promise<JobView> {
    return this.onQueue(async (env) => {
      const found = await this.find(env, peer, ticket);
      const record = isEnded(found.record.state) ? found.record : ((await this.cancelIn(env, found.key, peer))?.record ?? found.record);
      await this.remove(env, record, `closed by ${describePeer(peer)}`);
      return jobView(record);
    });
  }

  private async remove(env: JobEnv, record: JobRecord, why: string): Promise<void> {
    const objects = [
      ...(record.input ? [jobObjects.input(record.ticket)] : []),
      ...(record.target.kind === 'bundle' ? [jobObjects.bundle(record.ticket)] : []),
      ...record.replicas.flatMap((r) => (r.output && 'object' in r.output ? [r.output.object] : [])),
    ];
    await env.store.remove(record, objects);
    this.options.audit.job('job-close', { ticket: record.ticket, tenant: record.tenant, state: record.state, reason: why }, `job ${record.ticket} closed (${why}); its storage is freed`);
  }

  /** Closes, every interval, the ended tickets past their retention, and objects left by submits that failed half-way. */
  startSweeper(): void {
    const { retentionMs } = this.options;
    const interval = Math.min(10 * 60_000, Math.max(1000, Math.floor(retentionMs / 4)));
    this.sweeper = setInterval(() => void this.sweep(), interval);
    this.sweeper.unref();
  }

  stopSweeper(): void {
    clearInterval(this.sweeper);
  }

  /** One sweep (exposed for the tests of retention). */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const env = await this.env();
      const now = Date.now();
      const keys = await env.store.keys();
      const tickets = new Set(keys.map((key) => key.slice(key.lastIndexOf('.') + 1)));
      for (const record of await env.store.records(keys)) {
        if (!isEnded(record.state) || record.endedAt === undefined) continue;
        if (Date.parse(record.endedAt) + this.options.retentionMs > now) continue;
        await this.remove(env, record, `expired: ended ${formatDuration(now - Date.parse(record.endedAt))} ago, its retention is ${formatDuration(this.options.retentionMs)}`);
      }
      for (const object of await env.store.objects()) {
        const ticket = object.name.split('/')[0]!;
        if (!tickets.has(ticket) && now - Date.parse(object.mtime) > ORPHAN_AGE_MS) await env.store.deleteObject(object.name);
      }
    } catch (error) {
      this.options.logger.warn({ component: 'jobs', err: (error as Error).message }, 'the sweep of expired jobs failed; the next one tries again');
    } finally {
      this.sweeping = false;
    }
  }
}
