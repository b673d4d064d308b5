// The cluster's settings of fnjail serve: on with --nats URL only, timings
// that cannot work refused, node names a cluster can use.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveSettings, SettingsConflict } from '../../../src/config/serve-settings.js';
import { DEFAULT_TIMINGS } from '../../../src/cluster/member-table.js';

const nats = ['tls://10.0.0.1:4222', 'tls://10.0.0.2:4222'];

describe('cluster settings', () => {
  it('--nats URL joins a cluster, with the default balance, timings and one replica; no --nats: no cluster', () => {
    const settings = serveSettings({}, { nats, nodeName: 'node-a' });
    assert.deepEqual(settings.cluster, { balance: 'least-loaded', timings: DEFAULT_TIMINGS, replicas: 1 });
    assert.equal(serveSettings({}, {}).cluster, undefined);
    assert.equal(serveSettings({}, { nats: 'off' }).cluster, undefined);
  });

  it('takes the balance, timings and replicas from the file and the flags', () => {
    const settings = serveSettings({ balance: 'round-robin', natsReplicas: 3 }, { nats, nodeName: 'node-a', heartbeat: 200, suspectAfter: 600, downAfter: 1000 });
    assert.deepEqual(settings.cluster, { balance: 'round-robin', timings: { heartbeatMs: 200, suspectAfterMs: 600, downAfterMs: 1000, leaseMs: 600 }, replicas: 3 });
  });

  it('refuses cluster settings without --nats URL, timings that would mark nodes suspect between heartbeats, and names a cluster cannot use', () => {
    assert.throws(() => serveSettings({}, { balance: 'round-robin' }), (e: Error) => e instanceof SettingsConflict && /--balance \(balance\) is for --nats \(nats\) URL/.test(e.message));
    assert.throws(() => serveSettings({}, { nats: 'off', heartbeat: 500 }), /--heartbeat \(heartbeat\) is for --nats/);
    assert.throws(() => serveSettings({}, { nats, nodeName: 'node-a', heartbeat: 2000, suspectAfter: 3000 }), /suspect-after must be at least two heartbeat intervals/);
    assert.throws(() => serveSettings({}, { nats, nodeName: 'node-a', suspectAfter: 6000, downAfter: 5000 }), /down-after must be longer than suspect-after/);
    assert.throws(() => serveSettings({}, { nats, nodeName: 'Node.A' }), /'Node\.A' cannot name a cluster's node/);
    assert.equal(serveSettings({}, { nodeName: 'Node.A' }).nodeName, 'Node.A', 'a single node keeps any host name');
  });
});
