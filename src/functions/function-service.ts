// What the front ends (the API socket today, more later) may do with the
// registry, for whom: deploy, list, show, remove, each decided by the policy
// (policy/function-access.ts) and each recorded in the audit log, done or
// refused. The registry itself (registry.ts) decides nothing; this is where a
// tenant's rights and quotas are applied to it. Calls by name go through the
// executor instead (same policy module), which only checks a version out.
import type { AuditLog } from '../audit/audit-log.js';
import { peerFields } from '../audit/audit-event.js';
import { userName } from '../audit/account-names.js';
import type { NatsLink } from '../cluster/nats-link.js';
import { FnjailError } from '../errors.js';
import type { Tenant } from '../policy/decide.js';
import { deployAccess, functionAccess, type FunctionAction } from '../policy/function-access.js';
import type { Policy } from '../policy/policy.js';
import { describePeer } from '../policy/tenants.js';
import { readBundleArchive } from './bundle-archive.js';
import { manifestOf } from './bundle-manifest.js';
import { buildBundle, type BuildRunner } from './build.js';
import type { CalledFunction, CheckedOut, DeployResult, FunctionRecord, FunctionRegistry, Quota } from './registry.js';

export interface FunctionServiceOptions {
  link: NatsLink;
  policy: () => Policy;
  audit: AuditLog;
  /** How long a request waits for an unavailable registry. */
  registryWaitMs: number;
  /** Where builds run (a private copy per build). */
  buildsDir: string;
  /** The launcher's build sandbox (build-runner.ts). */
  buildRunner: BuildRunner;
  /** A build's disk limit. */
  buildDiskBytes: number;
}

export class FunctionService {
  constructor(private readonly options: FunctionServiceOptions) {}

  /** The registry, or FNJ_REGISTRY_UNAVAILABLE once the wait is over. */
  private registry(): Promise<FunctionRegistry> {
    return this.options.link.registry(this.options.registryWaitMs);
  }

  /** Registry operations that fail because NATS went away say so, not in the client library's words only. */
  private async onRegistry<T>(operation: (registry: FunctionRegistry) => Promise<T>): Promise<T> {
    const registry = await this.registry();
    try {
      return await operation(registry);
    } catch (error) {
      if (error instanceof FnjailError) throw error;
      throw this.options.link.unavailable((error as Error).message);
    }
  }

  /** A version of the function, unpacked on this node, for a call (release it after). */
  checkout(name: string): Promise<CheckedOut> {
    return this.onRegistry((registry) => registry.checkout(name));
  }

  /** The version of a function another node resolved, unpacked on this node (release it after). */
  checkoutVersion(fn: CalledFunction): Promise<CheckedOut> {
    return this.onRegistry((registry) => registry.checkoutVersion(fn));
  }

  /** The function's record, or undefined if no function has that name (for the server itself: no policy applied). */
  lookup(name: string): Promise<FunctionRecord | undefined> {
    return this.onRegistry((registry) => registry.get(name));
  }

  /** The functions the peer may see. */
  async list(peer: Tenant): Promise<FunctionRecord[]> {
    const policy = this.options.policy();
    const records = await this.onRegistry((registry) => registry.list());
    return records.filter((r) => functionAccess(policy, peer, 'show', r.name, r.owner).allowed);
  }

  /** Every function, whoever owns it: for the dashboard, which only the policy's monitors see. */
  listAll(): Promise<FunctionRecord[]> {
    return this.onRegistry((registry) => registry.list());
  }

  async show(peer: Tenant, name: string): Promise<FunctionRecord> {
    return (await this.find(peer, name, 'show')).record;
  }

  async remove(peer: Tenant, name: string): Promise<FunctionRecord> {
    const who = peerFields(peer);
    try {
      const { record } = await this.find(peer, name, 'manage');
      const removed = await this.onRegistry((registry) => registry.remove(name, { expectOwner: record.owner }));
      this.options.audit.functionChange('function-remove', { peer: who, function: name, owner: removed.owner, version: removed.version, outcome: 'ok' }, `function '${name}' removed by ${describePeer(peer)}`, true);
      return removed;
    } catch (error) {
      this.refused('function-remove', peer, name, error);
      throw error;
    }
  }

  /** Deploys a .tar.gz under `name` (else its manifest's name), for the peer's tenant. */
  async deploy(peer: Tenant, archive: Buffer, requestedName?: string): Promise<DeployResult> {
    let name = requestedName;
    try {
      const policy = this.options.policy();
      const access = deployAccess(policy, peer);
      if (!access.allowed) throw new FnjailError('FNJ_DENIED', access.reason, 'ask the admin for "deploy" in your tenant\'s policy (docs/policy.md)');
      const bundle = await readBundleArchive(archive);
      const manifest = manifestOf(bundle);
      name ??= manifest.name;
      const existing = await this.onRegistry((registry) => registry.get(name!));
      let owner = access.tenant.name;
      if (existing && existing.owner !== owner) {
        const manage = functionAccess(policy, peer, 'manage', name, existing.owner);
        if (!manage.allowed) throw new FnjailError('FNJ_FUNCTION_CONFLICT', `function '${name}' belongs to another tenant`, 'choose another name (--name)');
        owner = existing.owner;
      }
      // Built once, where it is deployed: nodes fetch the built version, they never build.
      const source = bundle;
      const unchangedSource = existing?.versions[0]?.builtFrom === source.hash;
      const { buildRunner: runner, buildsDir, buildDiskBytes: diskBytes } = this.options;
      const built = manifest.build && !unchangedSource ? await buildBundle(source, manifest, { runner, buildsDir, diskBytes, tenant: peer, admittedAs: access.tenant, seccomp: access.tenant.grant.programSeccomp }) : undefined;
      const quota = access.admin ? undefined : quotaOf(policy, owner);
      const result =
        unchangedSource && existing
          ? { record: existing, created: false, unchanged: true }
          : await this.onRegistry((registry) =>
              registry.deploy({
                bundle: built ?? source,
                owner,
                deployedBy: deployer(peer),
                name,
                expectOwner: owner,
                ...(quota ? { quota } : {}),
                ...(built ? { builtFrom: source.hash } : {}),
              }),
            );
      const { record } = result;
      this.options.audit.functionChange(
        'function-deploy',
        { peer: peerFields(peer), function: record.name, owner: record.owner, version: record.version, created: result.created, unchanged: result.unchanged, rule: access.rule, outcome: 'ok' },
        `function '${record.name}' ${result.unchanged ? 'deployed again, unchanged' : result.created ? 'deployed' : 'redeployed'} by ${describePeer(peer)} (version ${record.version.slice(0, 12)})`,
        true,
      );
      return result;
    } catch (error) {
      this.refused('function-deploy', peer, name, error);
      throw error;
    }
  }

  /** The function, if the peer may do `action` with it; FNJ_FUNCTION_NOT_FOUND or FNJ_DENIED. */
  private async find(peer: Tenant, name: string, action: FunctionAction): Promise<{ record: FunctionRecord }> {
    const record = await this.onRegistry((registry) => registry.get(name));
    if (!record) throw new FnjailError('FNJ_FUNCTION_NOT_FOUND', `no function named '${name}'`, 'fnjail functions lists them');
    const access = functionAccess(this.options.policy(), peer, action, name, record.owner);
    if (!access.allowed) throw new FnjailError('FNJ_DENIED', access.reason);
    return { record };
  }

  /** Every refused change is a record too, with why. */
  private refused(event: 'function-deploy' | 'function-remove', peer: Tenant, name: string | undefined, error: unknown): void {
    const code = error instanceof FnjailError ? error.code : 'FNJ_INTERNAL';
    const reason = (error as Error).message;
    this.options.audit.functionChange(
      event,
      { peer: peerFields(peer), function: name ?? null, outcome: code === 'FNJ_DENIED' ? 'denied' : 'error', code, reason },
      `${event === 'function-deploy' ? 'deploy' : 'removal'} of ${name ? `function '${name}'` : 'a function'} by ${describePeer(peer)} refused: ${reason}`,
      false,
    );
  }
}

/** Who deployed a version, as a person reads it: "alice (uid 1000)". */
function deployer(peer: Tenant): string {
  if (peer.remote) return describePeer(peer);
  const name = userName(peer.uid);
  return name === undefined ? `uid ${peer.uid}` : `${name} (uid ${peer.uid})`;
}

/** The quota of the tenant a function belongs to (the default tenant's for "default"). */
function quotaOf(policy: Policy, owner: string): Quota | undefined {
  const tenant = owner === 'default' ? policy.defaults : policy.tenants.find((t) => t.name === owner);
  const grant = tenant?.grant.deploy;
  if (!grant) return undefined;
  return { ...(grant.maxFunctions !== undefined ? { maxFunctions: grant.maxFunctions } : {}), ...(grant.maxBytes !== undefined ? { maxBytes: grant.maxBytes } : {}) };
}
