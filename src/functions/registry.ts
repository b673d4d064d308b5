// The function registry, on NATS JetStream so that every node sees the same:
//   KV bucket fnjail-functions: name → record (owner tenant, kind, manifest,
//     current version, who deployed it when, the versions kept)
//   object store fnjail-bundles: version (sha256 of the canonical tar) → .tar.gz
// and, on each node, the versions unpacked where calls load them from
// (unpacked-bundles.ts). It decides nothing about who may do what: the
// caller (the policy) does, and passes what the registry must hold to
// (expectOwner, quota), which it checks atomically with the change.
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NatsSystem } from '../cluster/nats-connection.js';
import { formatSize } from '../config/size.js';
import { FnjailError } from '../errors.js';
import { compressBundle, DEFAULT_BUNDLE_LIMITS, type Bundle, type BundleLimits } from './bundle.js';
import { manifestOf } from './bundle-manifest.js';
import { FUNCTION_NAME } from './function-name.js';
import type { ManifestDocument } from './manifest.js';
import { RecordCache } from './record-cache.js';
import { UnpackedBundles } from './unpacked-bundles.js';

export const REGISTRY_BUCKETS = { functions: 'fnjail-functions', bundles: 'fnjail-bundles' } as const;

export interface VersionRecord {
  /** sha256 of the canonical tar. */
  version: string;
  deployedAt: string;
  deployedBy: string;
  /** The stored .tar.gz. */
  archiveBytes: number;
  /** All files together, unpacked: what quotas count. */
  contentBytes: number;
  /** A built version: the version of the sources it was built from (a deploy of the same sources is not built again). */
  builtFrom?: string;
}

export interface FunctionRecord {
  name: string;
  /** The tenant it belongs to. */
  owner: string;
  kind: 'library' | 'program';
  /** As written in the current version's fnjail.json. */
  manifest: ManifestDocument;
  /** The current version. */
  version: string;
  deployedAt: string;
  deployedBy: string;
  /** Newest first, the current one included; older ones may be rolled back to. */
  versions: VersionRecord[];
}

export interface Quota {
  /** Functions the owner may have. */
  maxFunctions?: number;
  /** Bytes (unpacked) of all the owner's kept versions together. */
  maxBytes?: number;
}

export interface DeployRequest {
  bundle: Bundle;
  /** The tenant a new function belongs to (a redeploy keeps the function's owner). */
  owner: string;
  /** Who deployed it, for the record ("alice (uid 1000)"). */
  deployedBy: string;
  /** Overrides the manifest's name. */
  name?: string;
  /** If the function exists, it must belong to this tenant (else FNJ_FUNCTION_CONFLICT). */
  expectOwner?: string;
  /** The owner's quota, checked with the change (FNJ_QUOTA_EXCEEDED). */
  quota?: Quota;
  /** The bundle was built from these sources (their version). */
  builtFrom?: string;
}

export interface DeployResult {
  record: FunctionRecord;
  /** A new name. */
  created: boolean;
  /** The same version as the current one: nothing changed. */
  unchanged: boolean;
}

/** What a call needs of a function's record: whose it is, and the version
 * that runs with its manifest. A call another node sent carries it (the
 * version that node resolved), so both run the same whatever is deployed
 * meanwhile. */
export type CalledFunction = Pick<FunctionRecord, 'name' | 'owner' | 'kind' | 'manifest' | 'version'>;

export interface CheckedOut {
  record: CalledFunction;
  /** The unpacked version. */
  dir: string;
  /** The manifest's entry inside it. */
  entry: string;
  release(): void;
}

export interface RegistryOptions {
  /** Where versions are unpacked on this node (default /var/lib/fnjail/functions). */
  functionsDir?: string;
  /** Replicas of the bucket and the store (default: the connection's). */
  replicas?: number;
  /** Versions kept per function, the current one included (default 5). */
  keepVersions?: number;
  limits?: BundleLimits;
  logger?: Logger;
}

/** Attempts of a change that lost a race with another change of the same name. */
const MAX_ATTEMPTS = 10;

function isConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error).message ?? '');
}

export class FunctionRegistry {
  private constructor(
    private readonly nats: NatsSystem,
    private readonly kv: KV,
    private readonly store: ObjectStore,
    readonly unpacked: UnpackedBundles,
    private readonly options: RegistryOptions,
    /** The records calls by name read (record-cache.ts); absent: every call reads the bucket. */
    private readonly records?: RecordCache,
  ) {}

  /** Opens the registry, creating the bucket and the store if missing. */
  static async open(nats: NatsSystem, options: RegistryOptions = {}): Promise<FunctionRegistry> {
    const replicas = options.replicas;
    const kv = await nats.kv(REGISTRY_BUCKETS.functions, { replicas, description: 'fnjail functions: name → owner, kind, manifest, versions' });
    const store = await nats.objectStore(REGISTRY_BUCKETS.bundles, { replicas, description: 'fnjail bundles by version (sha256 of the canonical tar)' });
    const unpacked = new UnpackedBundles({
      dir: options.functionsDir,
      limits: options.limits,
      logger: options.logger,
      fetch: async (version) => {
        const blob = await store.getBlob(version);
        return blob ? Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength) : undefined;
      },
    });
    return new FunctionRegistry(nats, kv, store, unpacked, options, new RecordCache(kv, nats, options.logger));
  }

  async get(name: string): Promise<FunctionRecord | undefined> {
    return (await this.read(name))?.record;
  }

  async list(filter: { owner?: string } = {}): Promise<FunctionRecord[]> {
    const names = await this.nats.kvKeys(REGISTRY_BUCKETS.functions);
    const records: FunctionRecord[] = [];
    for (const name of names.sort()) {
      const record = await this.get(name);
      if (record && (filter.owner === undefined || record.owner === filter.owner)) records.push(record);
    }
    return records;
  }

  /** What the owner holds: functions, and bytes of their kept versions (each version once). */
  async usage(owner: string): Promise<{ functions: number; bytes: number }> {
    const records = await this.list({ owner });
    return { functions: records.length, bytes: bytesOf(records) };
  }

  /** Stores the bundle and makes it the function's current version. */
  async deploy(request: DeployRequest): Promise<DeployResult> {
    const { bundle } = request;
    const manifest = manifestOf(bundle);
    const name = request.name ?? manifest.name;
    if (!FUNCTION_NAME.test(name)) {
      throw new FnjailError('FNJ_USAGE', `'${name}' is not a function name: lowercase letters, digits and dashes, at most 63, starting and ending with a letter or digit`);
    }
    const archive = await compressBundle(bundle);
    const limits = this.options.limits ?? DEFAULT_BUNDLE_LIMITS;
    if (archive.length > limits.maxCompressedBytes) {
      throw new FnjailError('FNJ_BUNDLE_TOO_LARGE', `the bundle is ${formatSize(archive.length)} compressed, over the limit of ${formatSize(limits.maxCompressedBytes)}`);
    }
    // Stored first: a record never names a version the store does not have.
    await this.storeArchive(bundle.hash, archive, name);
    const now: VersionRecord = {
      version: bundle.hash,
      deployedAt: new Date().toISOString(),
      deployedBy: request.deployedBy,
      archiveBytes: archive.length,
      contentBytes: bundle.contentBytes,
      ...(request.builtFrom !== undefined ? { builtFrom: request.builtFrom } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(name);
      const existing = current?.record;
      if (existing && request.expectOwner !== undefined && existing.owner !== request.expectOwner) {
        throw new FnjailError('FNJ_FUNCTION_CONFLICT', `function '${name}' belongs to tenant '${existing.owner}'`, 'choose another name (--name)');
      }
      if (existing?.version === bundle.hash) return { record: existing, created: false, unchanged: true };
      const keep = this.options.keepVersions ?? 5;
      const record: FunctionRecord = {
        name,
        owner: existing?.owner ?? request.owner,
        kind: manifest.kind,
        manifest: manifest.document,
        version: now.version,
        deployedAt: now.deployedAt,
        deployedBy: now.deployedBy,
        versions: [now, ...(existing?.versions ?? []).filter((v) => v.version !== now.version)].slice(0, keep),
      };
      if (request.quota) await this.checkQuota(record, !existing, request.quota);
      try {
        const revision = current ? await this.kv.update(name, JSON.stringify(record), current.revision) : await this.kv.create(name, JSON.stringify(record));
        // The next call here runs this version, whenever the watch delivers the change.
        this.records?.learn(name, record, revision);
      } catch (error) {
        if (isConflict(error) && attempt < MAX_ATTEMPTS) continue;
        if (isConflict(error)) throw new FnjailError('FNJ_FUNCTION_CONFLICT', `function '${name}' kept changing while it was being deployed`, 'try again');
        throw error;
      }
      // A removal running at the same time may have taken the archive meanwhile.
      await this.storeArchive(bundle.hash, archive, name);
      const dropped = (existing?.versions ?? []).filter((v) => !record.versions.some((k) => k.version === v.version));
      await this.dropArchives(dropped.map((v) => v.version));
      this.options.logger?.info({ function: name, version: record.version, owner: record.owner, by: request.deployedBy }, existing ? 'function redeployed' : 'function deployed');
      return { record, created: !existing, unchanged: false };
    }
  }

  /** Removes the function and the archives only it used; throws FNJ_FUNCTION_NOT_FOUND. */
  async remove(name: string, options: { expectOwner?: string } = {}): Promise<FunctionRecord> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(name);
      if (!current) throw notFound(name);
      if (options.expectOwner !== undefined && current.record.owner !== options.expectOwner) {
        throw new FnjailError('FNJ_FUNCTION_CONFLICT', `function '${name}' belongs to tenant '${current.record.owner}'`);
      }
      try {
        await this.kv.delete(name, { previousSeq: current.revision });
        // The delete's own revision is not returned: the record goes, and the next read says what is there.
        this.records?.learn(name, undefined, current.revision + 1);
      } catch (error) {
        if (isConflict(error) && attempt < MAX_ATTEMPTS) continue;
        throw error;
      }
      await this.dropArchives(current.record.versions.map((v) => v.version));
      this.options.logger?.info({ function: name, owner: current.record.owner }, 'function removed');
      return current.record;
    }
  }

  /** The function's record as calls by name see it: from the watch's cache (no round trip), else from the bucket. */
  async current(name: string): Promise<FunctionRecord | undefined> {
    const cached = FUNCTION_NAME.test(name) ? this.records?.lookup(name)?.record : undefined;
    return cached ?? (await this.get(name));
  }

  /** The function's current version, unpacked on this node; release() when the call is over.
   * The record comes from the cache that the bucket's watch keeps up to date
   * (record-cache.ts), else from the bucket: a call by name costs no round
   * trip to NATS for a function it has seen. */
  async checkout(name: string): Promise<CheckedOut> {
    const record = await this.current(name);
    if (!record) throw notFound(name);
    const unpacked = await this.unpacked.acquire(record.version);
    return { record, dir: unpacked.dir, entry: path.join(unpacked.dir, record.manifest.entry), release: unpacked.release };
  }

  /** That version of the function, as the record given says (the one another
   * node resolved), unpacked on this node: fetched from the store and its hash
   * checked the first time. No read of the function's record here. */
  async checkoutVersion(fn: CalledFunction): Promise<CheckedOut> {
    const unpacked = await this.unpacked.acquire(fn.version);
    return { record: fn, dir: unpacked.dir, entry: path.join(unpacked.dir, fn.manifest.entry), release: unpacked.release };
  }

  /** Removes the unpacked versions that are no function's current one and that no call uses. */
  async collectGarbage(): Promise<string[]> {
    const current = (await this.list()).map((r) => r.version);
    return this.unpacked.collect(current);
  }

  private async read(name: string): Promise<{ record: FunctionRecord; revision: number } | undefined> {
    if (!FUNCTION_NAME.test(name)) return undefined;
    const entry = await this.kv.get(name);
    if (!entry || entry.operation !== 'PUT') {
      if (entry) this.records?.learn(name, undefined, entry.revision);
      return undefined;
    }
    const record = entry.json<FunctionRecord>();
    this.records?.learn(name, record, entry.revision);
    return { record, revision: entry.revision };
  }

  private async storeArchive(version: string, archive: Buffer, name: string): Promise<void> {
    const info = await this.store.info(version);
    if (info && !info.deleted) return;
    await this.store.putBlob({ name: version, description: `first deployed as ${name}` }, archive);
  }

  /** Deletes the archives of these versions that no function keeps any more. */
  private async dropArchives(versions: string[]): Promise<void> {
    if (!versions.length) return;
    const kept = new Set((await this.list()).flatMap((r) => r.versions.map((v) => v.version)));
    for (const version of new Set(versions)) {
      if (!kept.has(version)) await this.store.delete(version).catch(() => undefined);
    }
  }

  private async checkQuota(record: FunctionRecord, isNew: boolean, quota: Quota): Promise<void> {
    const others = (await this.list({ owner: record.owner })).filter((r) => r.name !== record.name);
    if (isNew && quota.maxFunctions !== undefined && others.length + 1 > quota.maxFunctions) {
      throw new FnjailError('FNJ_QUOTA_EXCEEDED', `tenant '${record.owner}' has ${others.length} functions already, its quota is ${quota.maxFunctions}`, 'remove a function first (fnjail functions rm NAME)');
    }
    const bytes = bytesOf([...others, record]);
    if (quota.maxBytes !== undefined && bytes > quota.maxBytes) {
      throw new FnjailError('FNJ_QUOTA_EXCEEDED', `tenant '${record.owner}' would hold ${formatSize(bytes)} of functions, its quota is ${formatSize(quota.maxBytes)}`, 'remove a function first (fnjail functions rm NAME)');
    }
  }
}

function bytesOf(records: FunctionRecord[]): number {
  const sizes = new Map<string, number>();
  for (const record of records) for (const v of record.versions) sizes.set(v.version, v.contentBytes);
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

function notFound(name: string): FnjailError {
  return new FnjailError('FNJ_FUNCTION_NOT_FOUND', `no function named '${name}'`, 'fnjail functions lists them');
}
