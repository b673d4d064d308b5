// matchTenant (src/policy/tenants.ts) on policies loaded from real files: a
// match by uid (or user name) beats one by group; groups match as primary or
// supplementary gid, or by group name; two tenants matching through groups is
// an ambiguity that is refused, naming both; else the defaults; else refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decide, type Decision, type Tenant } from '../../../src/policy/decide.js';
import { loadPolicy, type Policy } from '../../../src/policy/policy.js';
import { matchTenant } from '../../../src/policy/tenants.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';

let area: TestArea;
let file: string;
let policy: Policy;
before(() => {
  area = createTestArea();
  file = path.join(area.root, 'policy.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      defaults: { libraryDirs: [area.libDir] },
      tenants: [
        { name: 'alice', match: { uids: [5001] } },
        { name: 'builders', match: { gids: [6001] } },
        { name: 'daemons', match: { users: ['daemon'] } },
        { name: 'staff', match: { groups: ['staff'] } },
        { name: 'ops', match: { gids: [6002] } },
      ],
    }),
  );
  policy = loadPolicy(file);
});
after(() => area.cleanup());

const peer = (uid: number, gid: number, groups: number[] = []): Tenant => ({ uid, gid, pid: 0, groups });
const matched = (p: Tenant) => {
  const match = matchTenant(policy, p);
  return match.tenant ? { name: match.tenant.name, by: match.by } : match;
};

describe('which tenant a peer is', () => {
  it('by uid, even when a group of the peer matches another tenant', () => {
    assert.deepEqual(matched(peer(5001, 6001, [6002])), { name: 'alice', by: 'uid 5001' });
  });

  it('by primary gid', () => {
    assert.deepEqual(matched(peer(5009, 6001)), { name: 'builders', by: 'gid 6001' });
  });

  it('by supplementary group', () => {
    assert.deepEqual(matched(peer(5009, 7000, [7001, 6002])), { name: 'ops', by: 'gid 6002' });
  });

  it('by user name and by group name', () => {
    assert.deepEqual(matched(peer(1, 1)), { name: 'daemons', by: 'uid 1' });
    assert.deepEqual(matched(peer(5009, 7000, [50])), { name: 'staff', by: 'gid 50' });
  });

  it('none when two tenants match through groups: refused, naming both', () => {
    assert.deepEqual(matchTenant(policy, peer(5009, 6001, [6002])), {
      tenant: undefined,
      rule: 'tenants[1].match and tenants[4].match',
      reason:
        `uid 5009 (gid 6001, groups 6002) matches tenant 'builders' (gid 6001, ${file}) and tenant 'ops' (gid 6002, ${file}) ` +
        'through its groups; give the user a tenant of its own (by uid or name), or remove the overlap',
    });
  });

  it('the defaults when no tenant matches', () => {
    assert.deepEqual(matched(peer(5009, 7000, [7001])), { name: 'default', by: 'no tenant matched' });
  });

  it("refused with rule 'tenants' when no tenant matches and there are no defaults", () => {
    const noDefaults = path.join(area.root, 'no-defaults.json');
    fs.writeFileSync(noDefaults, JSON.stringify({ tenants: [{ name: 'alice', match: { uids: [5001] } }] }));
    const strict = loadPolicy(noDefaults);
    assert.deepEqual(matchTenant(strict, peer(5009, 7000)), {
      tenant: undefined,
      rule: 'tenants',
      reason: 'no tenant matches uid 5009 (gid 7000), and the policy has no defaults',
    });
    const decision: Decision = decide(strict, { text: 'libbasic.so', library: 'libbasic.so', function: 'run', functionGiven: false, input: undefined }, peer(5009, 7000));
    assert.deepEqual(decision, {
      allowed: false,
      kind: 'denied',
      rule: 'tenants',
      tenant: undefined,
      reason: `denied by policy '${noDefaults}', rule tenants: no tenant matches uid 5009 (gid 7000), and the policy has no defaults`,
    });
  });

  it('two tenants of different files matching through groups are told apart by the rule', () => {
    const dir = path.join(area.root, 'policy.d');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ tenants: [{ name: 'builders', match: { gids: [6001] } }] }));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ tenants: [{ name: 'ops', match: { gids: [6002] } }] }));
    const match = matchTenant(loadPolicy(dir), peer(5009, 6001, [6002]));
    assert.equal(match.tenant, undefined);
    assert.ok(!match.tenant);
    // Both are tenants[0] of their file: the rule must still say which is which.
    const [first, second] = match.rule.split(' and ');
    assert.ok(first && second && first !== second, `the rule '${match.rule}' does not tell the two tenants apart`);
    assert.match(first, /\.match\b/);
    assert.match(second, /\.match\b/);
  });
});
