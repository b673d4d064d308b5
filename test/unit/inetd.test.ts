// The pieces of per-connection services (src/inetd) that decide without a
// server: what --expose accepts, the connection limits, the settings that do
// not go together, and who a client of an exposed function is for the policy
// (it acts as the tenant named, else the owner; never as an admin).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveSettings, SettingsConflict } from '../../src/config/serve-settings.js';
import { readOption } from '../../src/config/serve-options.js';
import { ConnectionLimits } from '../../src/inetd/connection-limits.js';
import { parseExposeSpec } from '../../src/inetd/expose-spec.js';
import { adminRule, functionAccess } from '../../src/policy/function-access.js';
import { loadPolicy, type Policy } from '../../src/policy/policy.js';
import { describePeer, matchTenant, servicePeer } from '../../src/policy/tenants.js';
import { createTestArea, type TestArea } from '../helpers/environment.js';

describe('--expose NAME=HOST:PORT[@TENANT]', () => {
  it('reads a function, an address and an optional tenant', () => {
    assert.deepEqual(parseExposeSpec('toupper=127.0.0.1:8888'), { name: 'toupper', host: '127.0.0.1', port: 8888, tenant: undefined, text: 'toupper=127.0.0.1:8888' });
    assert.deepEqual(parseExposeSpec('toupper=0.0.0.0:0@alice'), { name: 'toupper', host: '0.0.0.0', port: 0, tenant: 'alice', text: 'toupper=0.0.0.0:0@alice' });
    assert.deepEqual(parseExposeSpec('up-2=[::1]:7000@default'), { name: 'up-2', host: '::1', port: 7000, tenant: 'default', text: 'up-2=[::1]:7000@default' });
  });

  it('refuses what is not one, saying what is expected', () => {
    const cases: Array<[string, RegExp]> = [
      ['toupper', /'toupper': expected NAME=HOST:PORT or NAME=HOST:PORT@TENANT/],
      ['ToUpper=127.0.0.1:1', /'ToUpper' is not a function name/],
      ['toupper=8888', /the address needs a host and a port/],
      ['toupper=127.0.0.1:99999', /port 99999 is above 65535/],
      ['toupper=127.0.0.1:1@', /'' is not a tenant name of the policy/],
      ['toupper=127.0.0.1:1@a b', /'a b' is not a tenant name/],
    ];
    for (const [text, expected] of cases) assert.throws(() => parseExposeSpec(text), expected, text);
    assert.throws(() => readOption('expose', ['toupper=1']), /the address needs a host and a port/);
  });

  it('needs the registry, and its limits need it', () => {
    const conflict = (flags: Parameters<typeof serveSettings>[1]) => {
      try {
        serveSettings({}, flags);
      } catch (error) {
        if (error instanceof SettingsConflict) return error.message;
        throw error;
      }
      return undefined;
    };
    const expose = readOption('expose', ['toupper=127.0.0.1:8888']);
    assert.equal(conflict({ expose, nats: 'off' }), '--expose (expose) serves functions of the registry: it needs one (not --nats (nats) off)');
    assert.equal(conflict({ exposeMaxPerClient: 4, exposeIdleTimeout: 1000 }), '--expose-max-per-client (exposeMaxPerClient), --expose-idle-timeout (exposeIdleTimeout) are for --expose (expose)');
    const settings = serveSettings({ expose }, { exposeMaxConnections: 5 });
    assert.deepEqual(settings.expose, { services: expose, maxConnections: 5, maxPerClient: 8, idleMs: 60_000 });
  });
});

describe('connection limits', () => {
  it('counts per function and per client address, and refuses beyond either until one ends', () => {
    const limits = new ConnectionLimits({ maxPerFunction: 3, maxPerClient: 2 });
    assert.equal(limits.admit('f', 'a'), undefined);
    assert.equal(limits.admit('f', 'a'), undefined);
    assert.equal(limits.admit('f', 'a'), '2 connections from a at once already (exposeMaxPerClient)');
    assert.equal(limits.admit('f', 'b'), undefined);
    assert.equal(limits.admit('f', 'c'), '3 connections to f at once already (exposeMaxConnections)');
    assert.equal(limits.admit('g', 'c'), undefined, 'another function has its own count');
    assert.equal(limits.open, 4);
    limits.release('f', 'a');
    assert.equal(limits.admit('f', 'c'), undefined);
    for (const [f, c] of [['f', 'a'], ['f', 'b'], ['f', 'c'], ['g', 'c']] as const) limits.release(f, c);
    assert.equal(limits.open, 0);
  });
});

describe('a client of an exposed function, for the policy', () => {
  let area: TestArea;
  let policy: Policy;
  before(() => {
    area = createTestArea();
    const file = path.join(area.root, 'policy.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        admins: { tlsClients: ['ops'] },
        defaults: { libraryDirs: [area.libDir] },
        tenants: [
          { name: 'alice', match: { uids: [5201] } },
          { name: 'carol', match: { uids: [5203] }, callFunctionsOf: ['alice'] },
        ],
      }),
    );
    policy = loadPolicy(file);
  });
  after(() => area.cleanup());

  const client = (tenant: string | undefined) => servicePeer(policy, '192.0.2.7:40000', { function: 'toupper', listen: '0.0.0.0:8888', tenant });

  it('acts as the tenant it is exposed for, with no account: as nobody', () => {
    const peer = client('alice');
    assert.deepEqual([peer.uid, peer.gid, peer.pid], [65534, 65534, 0]);
    const match = matchTenant(policy, peer);
    assert.equal(match.tenant?.name, 'alice');
    assert.equal((match as { by: string }).by, "client of function 'toupper' exposed on 0.0.0.0:8888");
    assert.equal(matchTenant(policy, client('default')).tenant?.name, 'default');
    assert.equal(describePeer(peer), "client 192.0.2.7:40000 of function 'toupper' exposed on 0.0.0.0:8888");
  });

  it("is allowed a call as its tenant would be, and nothing of an admin's", () => {
    assert.ok(functionAccess(policy, client('alice'), 'call', 'toupper', 'alice').allowed, 'its own');
    assert.ok(functionAccess(policy, client('carol'), 'call', 'toupper', 'alice').allowed, 'callFunctionsOf alice');
    assert.equal(functionAccess(policy, client('default'), 'call', 'toupper', 'alice').allowed, false);
    assert.equal(adminRule(policy, client('alice')), undefined);
  });

  it('is refused when its tenant is unknown or not in the policy', () => {
    assert.deepEqual(matchTenant(policy, client('zed')), {
      tenant: undefined,
      rule: 'tenants',
      reason: "client of function 'toupper' exposed on 0.0.0.0:8888: its clients act as tenant 'zed' (--expose), which is not in the policy",
    });
    assert.match((matchTenant(policy, client(undefined)) as { reason: string }).reason, /the function's owner, whom its clients act as, is not known$/);
    assert.equal(functionAccess(policy, client('zed'), 'call', 'toupper', 'alice').allowed, false);
  });
});
