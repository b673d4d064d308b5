// Who may do what with registered functions (src/policy/function-access.ts)
// and the decision for a call by name (src/policy/decide-function.ts), on
// policies loaded from real files and a real unpacked bundle: a tenant's own
// functions, others' through callFunctionsOf / manageFunctionsOf ("*" for
// all), root and admins, deploy with its quota; a call runs under the
// calling tenant's limits tightened by the manifest, only for a function the
// manifest lists, and the library checks hold on the unpacked tree.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FunctionRecord } from '../../../src/functions/registry.js';
import { type Tenant } from '../../../src/policy/decide.js';
import { decideFunction } from '../../../src/policy/decide-function.js';
import { deployAccess, functionAccess } from '../../../src/policy/function-access.js';
import { loadPolicy, type Policy } from '../../../src/policy/policy.js';
import { createTestArea, fixturesBuild, type TestArea } from '../../helpers/environment.js';

let area: TestArea;
let policy: Policy;
const peer = (uid: number, groups: number[] = []): Tenant => ({ uid, gid: uid, pid: 0, groups });
const ALICE = peer(5101);
const BOB = peer(5102);
const CAROL = peer(5103);
const OPS = peer(5104, [6100]);
const ROOT = peer(0);

before(() => {
  area = createTestArea();
  const file = path.join(area.root, 'policy.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      admins: { gids: [6100] },
      defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 4000, memory: '64 MiB' } },
      tenants: [
        { name: 'alice', match: { uids: [5101] }, deploy: { maxFunctions: 3, maxBytes: '1 MiB' } },
        { name: 'bob', match: { uids: [5102] }, callFunctionsOf: ['*'], deploy: true },
        { name: 'carol', match: { uids: [5103] }, manageFunctionsOf: ['alice'] },
      ],
    }),
  );
  policy = loadPolicy(file);
});
after(() => area.cleanup());

const allowed = (access: { allowed: boolean }) => access.allowed;

describe('who may do what with a function', () => {
  it("lets a tenant do everything with its own, others' only as the policy grants", () => {
    for (const action of ['call', 'show', 'manage'] as const) assert.ok(allowed(functionAccess(policy, ALICE, action, 'f', 'alice')), action);
    assert.deepEqual(
      (['call', 'show', 'manage'] as const).map((a) => allowed(functionAccess(policy, BOB, a, 'f', 'alice'))),
      [true, true, false],
      'bob: callFunctionsOf *',
    );
    assert.deepEqual(
      (['call', 'show', 'manage'] as const).map((a) => allowed(functionAccess(policy, CAROL, a, 'f', 'alice'))),
      [false, true, true],
      'carol: manageFunctionsOf alice (seeing comes with it, calling does not)',
    );
    assert.equal(allowed(functionAccess(policy, CAROL, 'show', 'f', 'bob')), false);
    const denied = functionAccess(policy, ALICE, 'call', 'f', 'bob');
    assert.deepEqual(denied, {
      allowed: false,
      rule: 'defaults.callFunctionsOf',
      reason: `denied by policy '${path.join(area.root, 'policy.json')}', rule defaults.callFunctionsOf: function 'f' belongs to tenant 'bob'; tenant 'alice' may call its own functions only`,
    });
  });

  it('lets root and admins do everything with every function', () => {
    for (const who of [ROOT, OPS]) for (const action of ['call', 'show', 'manage'] as const) assert.ok(allowed(functionAccess(policy, who, action, 'f', 'alice')));
    assert.equal((functionAccess(policy, OPS, 'call', 'f', 'alice') as { rule: string }).rule, 'admins');
  });

  it('lets tenants with deploy deploy, with their quota; admins without one', () => {
    const alice = deployAccess(policy, ALICE);
    assert.ok(alice.allowed);
    assert.deepEqual([alice.quota?.maxFunctions, alice.quota?.maxBytes], [3, 1024 * 1024]);
    const bob = deployAccess(policy, BOB);
    assert.ok(bob.allowed && bob.quota?.maxFunctions === undefined);
    const carol = deployAccess(policy, CAROL);
    assert.equal(carol.allowed, false);
    assert.match((carol as { reason: string }).reason, /rule defaults\.deploy: tenant 'carol' may not deploy functions/);
    const ops = deployAccess(policy, OPS);
    assert.ok(ops.allowed && ops.admin && ops.quota === undefined && ops.tenant.name === 'default');
  });
});

describe('the decision for a call by name', () => {
  /** A version unpacked as the registry does: root-owned, 0755 directories. */
  function unpacked(limits?: object): { record: FunctionRecord; dir: string; entry: string } {
    const dir = fs.mkdtempSync(path.join(area.root, 'version-'));
    fs.chmodSync(dir, 0o755);
    fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), path.join(dir, 'libbasic.so'));
    const manifest = { name: 'basic', kind: 'library' as const, functions: ['run', 'cat'], entry: 'libbasic.so', ...(limits ? { limits } : {}) };
    const record: FunctionRecord = { name: 'basic', owner: 'alice', kind: 'library', manifest, version: 'a'.repeat(64), deployedAt: '', deployedBy: '', versions: [] };
    return { record, dir, entry: path.join(dir, 'libbasic.so') };
  }
  const call = (fn?: string) => ({ text: '@basic', name: 'basic', function: fn, input: undefined });

  it("runs under the caller's limits tightened by the manifest, field by field, and the caller's profile", () => {
    const decision = decideFunction(policy, call(), unpacked({ timeoutMs: 1000, memory: '1 GiB' }), BOB);
    assert.ok(decision.allowed);
    assert.equal(decision.limits.timeoutMs, 1000, 'the manifest is stricter');
    assert.equal(decision.limits.memoryBytes, 64 * 1024 * 1024, 'the policy is stricter: the manifest cannot loosen it');
    assert.equal(decision.registered?.limitSources.timeoutMs, 'manifest');
    assert.equal(decision.registered?.limitSources.memoryBytes, 'policy');
    assert.equal(decision.tenant.name, 'bob', "the calling tenant's grant");
    assert.match(decision.rule, /limits from its manifest: timeoutMs/);
  });

  it('calls only a function the manifest lists, and only for who may', () => {
    const missing = decideFunction(policy, call('echo_arg'), unpacked(), ALICE);
    assert.deepEqual(missing.allowed ? undefined : [missing.kind, missing.reason], ['missing-function', "function 'echo_arg' is not one that 'basic' offers (its manifest lists: run, cat)"]);
    const denied = decideFunction(policy, call(), unpacked(), CAROL);
    assert.equal(denied.allowed ? undefined : denied.kind, 'denied');
  });

  it('holds the library checks on the unpacked tree', () => {
    const version = unpacked();
    fs.chmodSync(version.entry, 0o666);
    const refused = decideFunction(policy, call(), version, ALICE);
    assert.equal(refused.allowed ? undefined : refused.kind, 'denied');
    assert.match(refused.allowed ? '' : refused.reason, /^refused whatever the policy says: library \S+ is writable by/);
    const escaping = unpacked();
    fs.rmSync(escaping.entry);
    fs.symlinkSync(path.join(area.libDir, 'libbasic.so'), escaping.entry);
    const out = decideFunction(policy, call(), escaping, ALICE);
    assert.match(out.allowed ? '' : out.reason, /resolves to .*, outside its bundle$/);
  });
});
