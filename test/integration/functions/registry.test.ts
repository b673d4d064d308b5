// The function registry (src/functions/registry.ts) on a real nats-server
// (the private one, in the test's own directory): deploy, get, list, remove;
// versions by content hash, unpacked into a root-owned tree where the phase-1
// library checks hold; a redeploy never touching a version in use; owners,
// quotas and concurrent deploys checked atomically; bundles verified by hash
// when fetched; everything still there after the nats-server is killed or
// stopped and started again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { PrivateNatsServer, type PrivateNatsEndpoint } from '../../../src/cluster/private-nats.js';
import { compressBundle, makeBundle, type Bundle } from '../../../src/functions/bundle.js';
import { readBundleDirectory } from '../../../src/functions/bundle-directory.js';
import { FunctionRegistry, REGISTRY_BUCKETS } from '../../../src/functions/registry.js';
import { FnjailError } from '../../../src/errors.js';
import { libraryProblem } from '../../../src/policy/library-checks.js';
import { createTestArea, fixturesBuild, HANG_GUARD_MS, type TestArea } from '../../helpers/environment.js';

let area: TestArea;
let server: PrivateNatsServer;
let endpoint: PrivateNatsEndpoint;
let nats: NatsSystem;
let registry: FunctionRegistry;
let dirs = 0;

const connect = (at: PrivateNatsEndpoint) =>
  NatsSystem.connect({ servers: [at.url], nkeySeed: at.credentials.nkeySeed, tls: { ca: at.credentials.caCert }, reconnectWaitMs: 50 });
const functionsDir = () => path.join(area.root, `functions-${++dirs}`);

before(async () => {
  area = createTestArea();
  server = new PrivateNatsServer({ stateDir: path.join(area.root, 'nats'), restartDelaysMs: [50] });
  endpoint = await server.start();
  nats = await connect(endpoint);
  registry = await FunctionRegistry.open(nats, { functionsDir: functionsDir(), keepVersions: 3 });
});
after(async () => {
  await nats.close();
  await server.stop();
  area.cleanup();
});

/** A library bundle from a real directory: libbasic.so and its manifest, plus a note that makes versions differ. */
function libraryBundle(name: string, note = ''): Bundle {
  const dir = fs.mkdtempSync(path.join(area.root, 'bundle-'));
  fs.mkdirSync(path.join(dir, 'lib'));
  fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), path.join(dir, 'lib', 'libbasic.so'));
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name, kind: 'library', functions: ['run', 'cat'], entry: 'lib/libbasic.so' }));
  fs.writeFileSync(path.join(dir, 'NOTE'), note);
  return readBundleDirectory(dir);
}

function programBundle(name: string, body: string): Bundle {
  return makeBundle([
    { path: 'fnjail.json', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify({ name, kind: 'program', mode: 'per-request', entry: 'run.sh' })) },
    { path: 'run.sh', type: 'file', mode: 0o755, data: Buffer.from(`#!/bin/sh\n${body}\n`) },
  ]);
}

/** Waits (at most HANG_GUARD_MS, a hang guard) until check() resolves to true. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${HANG_GUARD_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The version a checkout finds now (released at once), or the error's code. */
async function checkedOutVersion(node: FunctionRegistry, name: string): Promise<string> {
  try {
    const checkedOut = await node.checkout(name);
    checkedOut.release();
    return checkedOut.record.version;
  } catch (error) {
    return (error as FnjailError).code;
  }
}

const coded = (code: string, pattern = /./) => (error: unknown) => error instanceof FnjailError && error.code === code && pattern.test(error.message);

describe('the function registry', () => {
  it('deploys a bundle under its manifest name, owned by the tenant that deployed it, and lists it', async () => {
    assert.deepEqual(await registry.list(), [], 'a new registry is empty');
    assert.deepEqual(await registry.collectGarbage(), []);
    const bundle = libraryBundle('basic');
    const { record, created, unchanged } = await registry.deploy({ bundle, owner: 'alice', deployedBy: 'alice (uid 1000)' });
    assert.equal(created, true);
    assert.equal(unchanged, false);
    assert.equal(record.name, 'basic');
    assert.equal(record.owner, 'alice');
    assert.equal(record.kind, 'library');
    assert.equal(record.version, bundle.hash);
    assert.equal(record.deployedBy, 'alice (uid 1000)');
    assert.deepEqual(record.manifest.functions, ['run', 'cat']);
    assert.equal(record.versions.length, 1);
    assert.deepEqual(await registry.get('basic'), record);
    assert.ok((await registry.list()).some((r) => r.name === 'basic'));
    assert.deepEqual((await registry.list({ owner: 'bob' })).map((r) => r.name), []);
    assert.equal(await registry.get('no-such-function'), undefined);
    assert.equal(await registry.get('../etc'), undefined);
  });

  it('unpacks a version into a root-owned tree where the library checks of phase 1 hold', async () => {
    const checkedOut = await registry.checkout('basic');
    try {
      assert.equal(checkedOut.dir, path.join(registry.unpacked.dir, checkedOut.record.version));
      assert.equal(checkedOut.entry, path.join(checkedOut.dir, 'lib', 'libbasic.so'));
      assert.equal(libraryProblem(checkedOut.entry, new Set([0])), undefined);
      assert.ok(fs.readFileSync(checkedOut.entry).equals(fs.readFileSync(path.join(fixturesBuild, 'libbasic.so'))));
    } finally {
      checkedOut.release();
    }
  });

  it('a redeploy makes a new version beside the old one, which calls still running keep until they release it', async () => {
    const running = await registry.checkout('basic');
    const oldFile = running.entry;
    const { record } = await registry.deploy({ bundle: libraryBundle('basic', 'v2'), owner: 'alice', deployedBy: 'alice (uid 1000)' });
    assert.notEqual(record.version, running.record.version);
    assert.deepEqual(record.versions.map((v) => v.version), [record.version, running.record.version]);
    const next = await registry.checkout('basic');
    assert.notEqual(next.dir, running.dir);
    assert.deepEqual(await registry.collectGarbage(), [], 'the old version is in use');
    assert.ok(fs.existsSync(oldFile));
    running.release();
    assert.deepEqual(await registry.collectGarbage(), [running.record.version]);
    assert.equal(fs.existsSync(running.dir), false);
    assert.ok(fs.existsSync(next.entry), 'the current version stays');
    next.release();

    const again = await registry.deploy({ bundle: libraryBundle('basic', 'v2'), owner: 'alice', deployedBy: 'alice (uid 1000)' });
    assert.equal(again.unchanged, true, 'the same content is the same version');
  });

  it('keeps a bounded history and drops the archives of versions nobody keeps', async () => {
    const versions: string[] = [];
    for (let i = 0; i < 5; i++) versions.push((await registry.deploy({ bundle: programBundle('history', `echo ${i}`), owner: 'alice', deployedBy: 'alice' })).record.version);
    const record = (await registry.get('history'))!;
    assert.deepEqual(record.versions.map((v) => v.version), versions.slice(-3).reverse());
    const store = await nats.objectStore(REGISTRY_BUCKETS.bundles);
    for (const dropped of versions.slice(0, 2)) assert.ok(!(await store.getBlob(dropped)), `archive of ${dropped} still stored`);
    for (const kept of versions.slice(-3)) assert.ok(await store.getBlob(kept));
  });

  it("a name belongs to its owner: a deploy or removal expecting another owner is refused, and a redeploy keeps the owner", async () => {
    await assert.rejects(
      registry.deploy({ bundle: libraryBundle('basic', 'bob was here'), owner: 'bob', deployedBy: 'bob', expectOwner: 'bob' }),
      coded('FNJ_FUNCTION_CONFLICT', /belongs to tenant 'alice'/),
    );
    await assert.rejects(registry.remove('basic', { expectOwner: 'bob' }), coded('FNJ_FUNCTION_CONFLICT'));
    // An admin (no expectOwner) redeploys: the function stays alice's.
    const { record } = await registry.deploy({ bundle: libraryBundle('basic', 'by root'), owner: 'root', deployedBy: 'root (uid 0)' });
    assert.equal(record.owner, 'alice');
    assert.equal(record.deployedBy, 'root (uid 0)');
  });

  it('takes the name given over the manifest\'s, and refuses names that are not DNS labels', async () => {
    const { record } = await registry.deploy({ bundle: programBundle('whatever', 'cat'), name: 'renamed', owner: 'carol', deployedBy: 'carol' });
    assert.equal(record.name, 'renamed');
    await assert.rejects(registry.deploy({ bundle: programBundle('x', 'cat'), name: 'Not_A_Label', owner: 'carol', deployedBy: 'carol' }), coded('FNJ_USAGE'));
  });

  it('holds an owner to the quota given: number of functions and bytes', async () => {
    const usage = await registry.usage('carol');
    assert.equal(usage.functions, 1);
    await assert.rejects(
      registry.deploy({ bundle: programBundle('second', 'cat'), owner: 'carol', deployedBy: 'carol', quota: { maxFunctions: 1 } }),
      coded('FNJ_QUOTA_EXCEEDED', /has 1 functions already, its quota is 1/),
    );
    // A redeploy of the one it has is within a count quota of 1.
    await registry.deploy({ bundle: programBundle('whatever', 'cat -n'), name: 'renamed', owner: 'carol', deployedBy: 'carol', quota: { maxFunctions: 1 } });
    const bytes = (await registry.usage('carol')).bytes;
    await assert.rejects(
      registry.deploy({ bundle: programBundle('third', 'cat'), owner: 'carol', deployedBy: 'carol', quota: { maxBytes: bytes + 10 } }),
      coded('FNJ_QUOTA_EXCEEDED', /its quota is/),
    );
    assert.equal(await registry.get('third'), undefined);
  });

  it('concurrent deploys of one name all land, one after the other', async () => {
    const results = await Promise.all([1, 2, 3, 4].map((i) => registry.deploy({ bundle: programBundle('busy', `echo ${i}`), owner: 'dave', deployedBy: `deployer ${i}` })));
    assert.equal(results.filter((r) => r.created).length, 1, 'one created it, the others redeployed it');
    const record = (await registry.get('busy'))!;
    assert.equal(record.versions.length, 3, 'all four kept, up to the history bound');
    assert.ok(results.some((r) => r.record.version === record.version));
  });

  it('removes a function and the archives only it used', async () => {
    const record = (await registry.get('busy'))!;
    const removed = await registry.remove('busy');
    assert.equal(removed.version, record.version);
    assert.equal(await registry.get('busy'), undefined);
    const store = await nats.objectStore(REGISTRY_BUCKETS.bundles);
    for (const v of record.versions) assert.ok(!(await store.getBlob(v.version)));
    await assert.rejects(registry.checkout('busy'), coded('FNJ_FUNCTION_NOT_FOUND'));
    await assert.rejects(registry.remove('busy'), coded('FNJ_FUNCTION_NOT_FOUND'));
    // The name is free again.
    assert.equal((await registry.deploy({ bundle: programBundle('busy', 'true'), owner: 'erin', deployedBy: 'erin' })).created, true);
  });

  it("a node's calls read a record they have seen from its cache (no NATS round trip), kept current by a watch: another node's redeploy and removal reach it, its own at once", async () => {
    const otherNats = await connect(endpoint);
    try {
      const other = await FunctionRegistry.open(otherNats, { functionsDir: functionsDir() });
      const first = await registry.deploy({ bundle: programBundle('cached', 'echo one'), owner: 'alice', deployedBy: 'alice' });
      assert.equal(await checkedOutVersion(other, 'cached'), first.record.version, 'a function deployed on another node is found at once (read from the bucket)');
      const sent = otherNats.connection.stats().outMsgs;
      for (let i = 0; i < 20; i++) assert.equal(await checkedOutVersion(other, 'cached'), first.record.version);
      assert.equal(otherNats.connection.stats().outMsgs, sent, 'the checkouts of a known function sent nothing to NATS');
      const second = await registry.deploy({ bundle: programBundle('cached', 'echo two'), owner: 'alice', deployedBy: 'alice' });
      assert.equal(await checkedOutVersion(registry, 'cached'), second.record.version, 'the deploying node runs the new version from its next call on');
      await until('the redeploy reaches the other node', async () => (await checkedOutVersion(other, 'cached')) === second.record.version);
      await registry.remove('cached');
      assert.equal(await checkedOutVersion(registry, 'cached'), 'FNJ_FUNCTION_NOT_FOUND', 'the removing node knows at once');
      await until('the removal reaches the other node', async () => (await checkedOutVersion(other, 'cached')) === 'FNJ_FUNCTION_NOT_FOUND');
      const again = await registry.deploy({ bundle: programBundle('cached', 'echo three'), owner: 'alice', deployedBy: 'alice' });
      assert.equal(await checkedOutVersion(other, 'cached'), again.record.version, 'a name removed then deployed again is read from the bucket, not taken for absent');
    } finally {
      await otherNats.close();
    }
  });

  it('verifies a bundle by its hash when a node fetches it, and leaves nothing of a bad one', async () => {
    const { record } = await registry.deploy({ bundle: programBundle('tampered', 'echo genuine'), owner: 'alice', deployedBy: 'alice' });
    const store = await nats.objectStore(REGISTRY_BUCKETS.bundles);
    const forged = await compressBundle(programBundle('tampered', 'echo forged'));
    await store.putBlob({ name: record.version }, forged);
    const dir = functionsDir();
    const node = await FunctionRegistry.open(nats, { functionsDir: dir });
    await assert.rejects(node.checkout('tampered'), coded('FNJ_BUNDLE_CORRUPT', /has the content of/));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

describe('the registry across nats-server restarts', () => {
  it('killed mid-run, the private nats-server comes back and the registry goes on', async () => {
    const restarted = new Promise((resolve) => server.once('restarted', resolve));
    process.kill(server.pid!, 'SIGKILL');
    await restarted;
    await nats.whenConnected();
    assert.equal((await registry.get('basic'))?.owner, 'alice');
    const { record } = await registry.deploy({ bundle: programBundle('after-kill', 'cat'), owner: 'alice', deployedBy: 'alice' });
    assert.equal((await registry.get('after-kill'))?.version, record.version);
  });

  it('stopped and started again (new credentials), it still has every function and bundle', async () => {
    const before = await registry.list();
    await nats.close();
    await server.stop();
    endpoint = await server.start();
    nats = await connect(endpoint);
    // A node that never unpacked anything: every bundle comes from JetStream's file store.
    registry = await FunctionRegistry.open(nats, { functionsDir: functionsDir() });
    assert.deepEqual(await registry.list(), before);
    const checkedOut = await registry.checkout('basic');
    try {
      assert.equal(libraryProblem(checkedOut.entry, new Set([0])), undefined);
    } finally {
      checkedOut.release();
    }
  });
});
