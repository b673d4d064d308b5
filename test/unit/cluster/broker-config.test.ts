// The nats-server configs `fnjail cluster config` writes (src/cluster/
// broker-config.ts), read as the broker will enforce them: each node's
// certificate is a user that may publish only under its own name and read
// only its own calls, replies and inboxes; JetStream only on the cluster's
// streams and never deleting one; routes to the other servers only, with TLS
// and a password.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { brokerConfigs, clientUrls, natsUserOf, nodePermissions, CLUSTER_STORES, type BrokerSpec } from '../../../src/cluster/broker-config.js';
import { parseNodes } from '../../../src/cli/cluster.js';
import { SUBJECTS } from '../../../src/cluster/subjects.js';

const spec: BrokerSpec = {
  nodes: [{ name: 'a', host: '10.0.0.1' }, { name: 'b', host: 'b.example.org' }, { name: 'c', host: 'fd00::3' }, { name: 'd' }],
  routePassword: 'p@ss/word',
  confDir: '/etc/x/{node}',
};

/** A NATS subject matches a pattern (* one token, > the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allowed = (patterns: string[], subject: string) => patterns.some((pattern) => matches(pattern, subject));

describe('broker config', () => {
  const configs = brokerConfigs(spec);
  const a = configs.get('a') as Record<string, any>;

  it('one config per node with a host; a node without one is a user of every server', () => {
    assert.deepEqual([...configs.keys()], ['a', 'b', 'c']);
    const users = (a.authorization.users as Array<{ user: string }>).map((u) => u.user);
    assert.deepEqual(users, ['CN=a', 'CN=b', 'CN=c', 'CN=d']);
    assert.equal(natsUserOf('d'), 'CN=d');
    assert.deepEqual(clientUrls(spec), ['tls://10.0.0.1:4222', 'tls://b.example.org:4222', 'tls://[fd00::3]:4222']);
  });

  it('clients: mutual TLS mapped to users, files from the node\'s directory', () => {
    assert.deepEqual(a.tls, { cert_file: '/etc/x/a/broker.pem', key_file: '/etc/x/a/broker.key', ca_file: '/etc/x/a/ca.pem', verify_and_map: true, timeout: 5 });
    assert.equal(a.listen, '10.0.0.1:4222');
    assert.equal(configs.get('b')!.listen, '0.0.0.0:4222', 'a name: every interface');
    assert.equal(configs.get('c')!.listen, '[fd00::3]:4222');
    assert.equal(a.server_name, 'a');
    assert.ok(a.jetstream.store_dir);
  });

  it('routes: to every other server, over TLS with verification and a password', () => {
    assert.equal(a.cluster.name, 'fnjail');
    assert.deepEqual(a.cluster.routes, ['nats-route://route:p%40ss%2Fword@b.example.org:6222', 'nats-route://route:p%40ss%2Fword@[fd00::3]:6222']);
    assert.equal(a.cluster.tls.verify, true);
    assert.deepEqual(a.cluster.authorization, { user: 'route', password: 'p@ss/word', timeout: 5 });
  });

  it('a node publishes under its own name only, and sends calls only as itself', () => {
    const { publish } = nodePermissions('a');
    for (const own of [SUBJECTS.heartbeat('a'), SUBJECTS.leave('a'), SUBJECTS.members('a'), SUBJECTS.reply('a', 'b', 'x'), SUBJECTS.call('b', 'a'), SUBJECTS.relay('a', 'b', 'x')]) assert.ok(allowed(publish.allow, own), own);
    for (const other of [SUBJECTS.heartbeat('b'), SUBJECTS.leave('b'), SUBJECTS.members('b'), SUBJECTS.reply('b', 'a', 'x'), SUBJECTS.call('c', 'b'), SUBJECTS.relay('b', 'a', 'x'), SUBJECTS.relay('b', 'c', 'x'), 'fnjail.anything', '_INBOX.b.x']) {
      assert.ok(!allowed(publish.allow, other), other);
    }
  });

  it("a node reads everyone's heartbeats, but only its own calls, replies, relayed connections and inboxes", () => {
    const { subscribe } = nodePermissions('a');
    for (const ok of [SUBJECTS.heartbeat('b'), SUBJECTS.leave('c'), SUBJECTS.members('b'), SUBJECTS.call('a', 'b'), SUBJECTS.reply('b', 'a', 'x'), SUBJECTS.relay('b', 'a', 'x'), SUBJECTS.relaysFor('a'), '_INBOX.a.x.1']) assert.ok(allowed(subscribe.allow, ok), ok);
    for (const no of [SUBJECTS.call('b', 'a'), SUBJECTS.reply('a', 'b', 'x'), '_INBOX.b.x', '_INBOX.x', '$JS.API.INFO', 'fnjail.node.b.reply.c.x', SUBJECTS.relay('a', 'b', 'x'), SUBJECTS.relay('b', 'c', 'x'), SUBJECTS.relaysFor('b')]) assert.ok(!allowed(subscribe.allow, no), no);
  });

  it('JetStream: the cluster\'s streams only, created, read and written, never deleted', () => {
    const { publish } = nodePermissions('a');
    for (const store of CLUSTER_STORES) {
      const stream = store.kind === 'stream' ? store.stream : store.kind === 'kv' ? `KV_${store.bucket}` : `OBJ_${store.bucket}`;
      for (const api of [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.CONSUMER.CREATE.${stream}.x.y`, `$JS.API.DIRECT.GET.${stream}.$KV.x.y`]) assert.ok(allowed(publish.allow, api), api);
      assert.ok(!allowed(publish.allow, `$JS.API.STREAM.DELETE.${stream}`), `no deleting ${stream}`);
    }
    assert.ok(allowed(publish.allow, '$KV.fnjail-members.a'));
    assert.ok(allowed(publish.allow, '$O.fnjail-bundles.C.x'));
    // The jobs: their records, their data, their queue (one subject per tenant), their cancels.
    for (const ok of ['$KV.fnjail-jobs.alice.t1', '$O.fnjail-job-data.C.x', 'fnjail.jobs.queue.alice', '$JS.API.CONSUMER.MSG.NEXT.FNJAIL_JOBS.fnjail-job-workers', '$JS.ACK.FNJAIL_JOBS.x.y', 'fnjail.jobs.cancel.t1']) assert.ok(allowed(publish.allow, ok), ok);
    assert.ok(allowed(nodePermissions('a').subscribe.allow, 'fnjail.jobs.cancel.t1'));
    assert.ok(!allowed(publish.allow, '$JS.API.STREAM.DELETE.FNJAIL_JOBS'));
    for (const no of ['$JS.API.STREAM.CREATE.OTHER', '$JS.API.STREAM.LIST', '$KV.other.x', '$JS.API.ACCOUNT.PURGE.x']) assert.ok(!allowed(publish.allow, no), no);
    assert.equal(nodePermissions('a').allow_responses, true);
  });

  it('parses --nodes', () => {
    assert.deepEqual(parseNodes('a=10.0.0.1, b=host.example,c'), [{ name: 'a', host: '10.0.0.1' }, { name: 'b', host: 'host.example' }, { name: 'c' }]);
    assert.throws(() => parseNodes('a,a'), /listed twice/);
    assert.throws(() => parseNodes('A=1.2.3.4'), /not a usable node name/);
    assert.throws(() => parseNodes('a.b=1.2.3.4'), /not a usable node name/);
    assert.throws(() => parseNodes('a=1=2'), /NAME or NAME=HOST/);
    assert.throws(() => parseNodes('a='), /NAME or NAME=HOST/);
  });
});
