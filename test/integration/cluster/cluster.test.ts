// A cluster of three hosts (network namespaces, test/helpers/netns-hosts.ts),
// each with a nats-server (routes, JetStream, mutual TLS, all from `fnjail
// cluster config`) and a cluster member (test/helpers/cluster-participant.ts:
// src/cluster's modules in a process of their own, with the node's
// certificate), at the default timings (heartbeat 1 s, suspect 3 s, down 5 s,
// lease 3 s). What an operator would see: members up, their heartbeats' real
// figures, crashes noticed in order, rejoins with a new incarnation, a new
// coordinator when the old one dies, a nats-server lost without harm, calls
// routed as asked and never run twice, and nodes that cannot speak for others.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { parseMeminfo } from '../../../src/cluster/host-load.js';
import { DEFAULT_TIMINGS, type MemberRow } from '../../../src/cluster/member-table.js';
import { inboxPrefix, SUBJECTS } from '../../../src/cluster/subjects.js';
import { encodeMessage, type HeartbeatMessage, type MemberChange } from '../../../src/cluster/wire.js';
import { fnjailVersion } from '../../../src/paths.js';
import { makeBundle } from '../../../src/functions/bundle.js';
import { FunctionRegistry, REGISTRY_BUCKETS } from '../../../src/functions/registry.js';
import { createClusterLab, type ClusterLab, type Participant, type ParticipantEvent } from '../../helpers/cluster-lab.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';

const NODES = ['node-a', 'node-b', 'node-c'];
let area: TestArea;
let lab: ClusterLab;

before(async () => {
  area = createTestArea();
  lab = await createClusterLab(area.root, NODES, (name) => ({
    // node-a balances round-robin (TP7), the others by load.
    balance: name === 'node-a' ? 'round-robin' : 'least-loaded',
    capacity: 4,
    replicas: 3,
    callTimings: { ackTimeoutMs: 1000 },
  }));
  for (const name of NODES) await lab.startParticipant(name);
});
after(async () => {
  await lab?.destroy();
  area?.cleanup();
});

const p = (name: string): Participant => lab.participant(name);
const row = (rows: MemberRow[], node: string): MemberRow => {
  const found = rows.find((r) => r.node === node);
  assert.ok(found, `${node} is in the table`);
  return found;
};
const allUp = (names: string[]) => (rows: MemberRow[]) => names.every((n) => rows.some((r) => r.node === n && r.state === 'up' && r.heartbeatAgeMs !== null));
const changesOf = (participant: Participant, node: string, from = 0): MemberChange[] =>
  participant.events.slice(from).filter((e) => e.event === 'change' && (e.change as MemberChange).node === node).map((e) => e.change as MemberChange);
const output = (result: ParticipantEvent) => Buffer.from(result.output as string, 'base64').toString();

async function call(from: string, fn: string, input: string, candidates?: string[]): Promise<ParticipantEvent> {
  return p(from).send({ cmd: 'call', function: fn, input, ...(candidates ? { candidates } : {}) });
}

/** Every member sees every node up and knows who coordinates. */
async function settled(): Promise<void> {
  for (const name of NODES) await p(name).tableUntil((rs) => allUp(NODES)(rs) && rs.some((r) => r.coordinator));
}

/** Sets a member's free slots and waits until `observer` has heard it. */
async function setFreeSlots(node: string, freeSlots: number, observer: string): Promise<void> {
  await p(node).send({ cmd: 'set', freeSlots });
  await p(observer).tableUntil((rows) => rows.find((r) => r.node === node)?.calls?.freeSlots === freeSlots);
}

describe('a cluster of three hosts', { timeout: 300_000 }, () => {
  it('all three see each other up, with heartbeats carrying the machine\'s real memory and each node\'s CPU', async () => {
    // Up, and who coordinates known (each member reads the lease once per heartbeat interval).
    await settled();
    const rows = await p('node-a').table();
    const memTotal = parseMeminfo(fs.readFileSync('/proc/meminfo', 'utf8')).totalBytes;
    for (const r of rows) {
      assert.equal(r.memory?.totalBytes, memTotal, `${r.node}: MemTotal of this machine`);
      assert.ok(r.memory!.availableBytes > 0 && r.memory!.availableBytes <= memTotal);
      assert.equal(r.memory!.usedBytes, memTotal - r.memory!.availableBytes);
      assert.equal(r.load?.length, 3);
      assert.equal(r.version, fnjailVersion());
      assert.match(r.incarnation, /^[0-9a-f]{16}$/);
    }
    assert.equal(rows.filter((r) => r.coordinator).length, 1, 'one coordinator');
    // Each host is a cgroup of its own: a CPU-heavy loop on node-b shows on node-b only.
    assert.ok(lab.network.host('node-b').cgroupDir, 'this kernel gives each test host a cpuacct cgroup');
    await p('node-b').send({ cmd: 'burn', on: true });
    const busy = await p('node-a').tableUntil((rs) => (rs.find((r) => r.node === 'node-b')?.cpu?.node ?? 0) >= 0.3);
    assert.ok(row(busy, 'node-b').cpu!.host >= row(busy, 'node-b').cpu!.node! - 0.05, "the machine's CPU counts node-b's");
    for (const idle of ['node-a', 'node-c']) assert.ok(row(busy, idle).cpu!.node! < row(busy, 'node-b').cpu!.node! - 0.2, `${idle} is not busy`);
    await p('node-b').send({ cmd: 'burn', on: false });
    await p('node-a').tableUntil((rs) => (rs.find((r) => r.node === 'node-b')?.cpu?.node ?? 1) < 0.2);
  });

  it('round-robin: consecutive calls alternate between the nodes (TP7)', async () => {
    const nodes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const result = await call('node-a', 'echo', `rr-${i}`);
      assert.equal(result.outcome, 'ok');
      assert.equal(output(result), `${result.node}:rr-${i}`, 'the answer comes from the node named');
      nodes.push(result.node as string);
    }
    assert.deepEqual([...nodes.slice(0, 3)].sort(), NODES, 'the first three calls go to three different nodes');
    assert.deepEqual(nodes.slice(3), nodes.slice(0, 3), 'then again in the same order');
  });

  it('least-loaded: a node with no free slots gets no new calls', async () => {
    await setFreeSlots('node-c', 0, 'node-b');
    try {
      const nodes = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const result = await call('node-b', 'echo', `ll-${i}`);
        assert.equal(result.outcome, 'ok');
        nodes.add(result.node as string);
      }
      assert.deepEqual([...nodes].sort(), ['node-a', 'node-b'], 'spread over the nodes with free slots, never node-c');
    } finally {
      await setFreeSlots('node-c', 4, 'node-b');
    }
  });

  it('a call that did not start on its node (no answer) is run on another, and never on the first', async () => {
    await setFreeSlots('node-a', 0, 'node-b');
    const c = p('node-c');
    const mark = c.events.length;
    c.kill('SIGSTOP');
    let result: ParticipantEvent;
    try {
      result = await call('node-b', 'echo', 'frozen-target', ['node-a', 'node-c']);
    } finally {
      c.kill('SIGCONT');
    }
    assert.equal(result.outcome, 'ok');
    assert.equal(result.node, 'node-a');
    assert.equal(output(result), 'node-a:frozen-target');
    assert.deepEqual(
      (result.attempts as Array<{ node: string; outcome: string }>).map((a) => [a.node, a.outcome]),
      [['node-c', 'no-answer'], ['node-a', 'started']],
    );
    // node-c wakes up, finds the call, accepts it too late: never started, it expires there.
    await c.waitFor((e) => e.event === 'call-event' && e.type === 'expired' && e.caller === 'node-b', mark);
    assert.equal(c.events.slice(mark).filter((e) => e.event === 'handled').length, 0, 'node-c never ran it');
    await setFreeSlots('node-a', 4, 'node-b');
  });

  it('kill -9: a call that had started is "node lost", never run again; the node goes suspect, then down, at the configured silences; it rejoins with a new incarnation', async () => {
    const a = p('node-a');
    const c = p('node-c');
    const oldIncarnation = row(await a.table(), 'node-c').incarnation;
    const markA = a.events.length;
    await setFreeSlots('node-a', 0, 'node-b');
    const lost = call('node-b', 'die', 'x', ['node-a', 'node-c']);
    await c.waitFor((e) => e.event === 'handled' && e.function === 'die');
    await c.exited;
    // node-c is dead but still up in the table: a call sent there finds no one listening and goes elsewhere at once.
    const elsewhere = await call('node-b', 'echo', 'after-crash', ['node-a', 'node-c']);
    assert.equal(elsewhere.outcome, 'ok');
    assert.equal(elsewhere.node, 'node-a');
    const tried = (elsewhere.attempts as Array<{ node: string; outcome: string }>).map((t) => [t.node, t.outcome]);
    assert.ok(
      JSON.stringify(tried) === JSON.stringify([['node-c', 'no-responders'], ['node-a', 'started']]) || JSON.stringify(tried) === JSON.stringify([['node-a', 'started']]),
      `tried ${JSON.stringify(tried)}`,
    );
    const result = await lost;
    assert.equal(result.outcome, 'node-lost');
    assert.match((result.reasons as string[])[0]!, /started on node node-c.*not run again/);
    assert.deepEqual((result.attempts as Array<{ node: string; outcome: string }>).map((t) => [t.node, t.outcome]), [['node-c', 'started']]);
    assert.equal(a.events.slice(markA).filter((e) => e.event === 'handled' && e.function === 'die').length, 0, 'not run on node-a');
    await setFreeSlots('node-a', 4, 'node-b');

    // As node-a heard it from the coordinator: suspect after 3 s of silence, down after 5 s.
    await a.waitFor((e) => e.event === 'change' && (e.change as MemberChange).node === 'node-c' && (e.change as MemberChange).to === 'down', markA);
    const seen = changesOf(a, 'node-c', markA);
    assert.deepEqual(seen.map((ch) => [ch.from, ch.to]), [['up', 'suspect'], ['suspect', 'down']]);
    assert.ok(seen.every((ch) => ch.incarnation === oldIncarnation));
    assert.ok(seen[0]!.silentMs! >= DEFAULT_TIMINGS.suspectAfterMs && seen[0]!.silentMs! < DEFAULT_TIMINGS.downAfterMs, `suspect after ${seen[0]!.silentMs} ms`);
    assert.ok(seen[1]!.silentMs! >= DEFAULT_TIMINGS.downAfterMs, `down after ${seen[1]!.silentMs} ms`);
    for (const name of ['node-a', 'node-b']) assert.equal(row(await p(name).table(), 'node-c').state, 'down');

    // Calls go on through the others.
    for (let i = 0; i < 3; i++) {
      const r = await call('node-a', 'echo', `without-c-${i}`);
      assert.equal(r.outcome, 'ok');
      assert.notEqual(r.node, 'node-c');
    }

    const markRejoin = a.events.length;
    const back = await lab.startParticipant('node-c');
    const rows = await a.tableUntil(allUp(NODES));
    const newIncarnation = row(rows, 'node-c').incarnation;
    assert.notEqual(newIncarnation, oldIncarnation);
    assert.equal(newIncarnation, (back.events.find((e) => e.event === 'started')!.incarnation as string));
    // The table node-a answers with may show the node up a moment before the
    // coordinator's announcement of it reaches node-a's event stream (seen on
    // a loaded machine): wait for that announcement, then check the sequence.
    await a.waitFor((e) => e.event === 'change' && (e.change as MemberChange).node === 'node-c' && (e.change as MemberChange).to === 'up', markRejoin);
    assert.deepEqual(changesOf(a, 'node-c', markRejoin).map((ch) => [ch.incarnation, ch.from, ch.to]), [[newIncarnation, null, 'joining'], [newIncarnation, 'joining', 'up']]);
    // And it gets calls again.
    await settled();
    const nodes = new Set<string>();
    for (let i = 0; i < 3; i++) nodes.add((await call('node-a', 'echo', `rejoined-${i}`)).node as string);
    assert.ok(nodes.has('node-c'), 'round-robin reaches the node that came back');
  });

  it('kill -9 the coordinator: another node takes over, and the table stays right', async () => {
    const before = await p('node-a').table();
    const coordinator = before.find((r) => r.coordinator)!.node;
    const survivors = NODES.filter((n) => n !== coordinator);
    const observer = p(survivors[0]!);
    const mark = observer.events.length;
    p(coordinator).kill('SIGKILL');
    await p(coordinator).exited;
    const rows = await observer.tableUntil((rs) => rs.some((r) => r.coordinator && r.node !== coordinator) && row(rs, coordinator).state === 'down');
    assert.ok(survivors.includes(rows.find((r) => r.coordinator)!.node), 'a survivor coordinates');
    for (const name of survivors) assert.equal(row(rows, name).state, 'up', `${name} stays up`);
    const changes = observer.events.slice(mark).filter((e) => e.event === 'change').map((e) => e.change as MemberChange);
    assert.deepEqual(changes.map((ch) => [ch.node, ch.from, ch.to]), [[coordinator, 'up', 'suspect'], [coordinator, 'suspect', 'down']], 'only the dead coordinator changed');
    // The other survivor agrees.
    await p(survivors[1]!).tableUntil((rs) => row(rs, coordinator).state === 'down' && rs.some((r) => r.coordinator && r.node !== coordinator));
    await lab.startParticipant(coordinator);
    await settled();
  });

  it('kill -9 one nats-server: its node reconnects to another, and the cluster keeps working (replicated KV)', async () => {
    const member = p('node-c');
    // The server node-c's member is connected to (any of the three: the client picks).
    const server = ((await member.send({ cmd: 'table' })).nats as { server: string }).server;
    const victim = lab.network.hosts.find((h) => server === `${h.address}:4222`)!.name;
    const mark = member.events.length;
    lab.servers.get(victim)!.kill('SIGKILL');
    await lab.servers.get(victim)!.exited;
    const reconnected = await member.waitFor((e) => e.event === 'nats' && e.state === 'connected', mark);
    assert.notEqual(reconnected.server, server);
    // A clean stop is written to the table (a KV write, now with two servers of three) and announced.
    const observer = p('node-a');
    const markStop = observer.events.length;
    await p('node-b').send({ cmd: 'stop' });
    await observer.waitFor((e) => e.event === 'change' && (e.change as MemberChange).node === 'node-b' && (e.change as MemberChange).to === 'left', markStop);
    assert.equal(row(await member.tableUntil((rs) => row(rs, 'node-b').state === 'left'), 'node-b').state, 'left');
    await lab.startParticipant('node-b');
    await settled();
    const result = await call('node-c', 'echo', 'two-servers', ['node-a', 'node-b']);
    assert.equal(result.outcome, 'ok');
    await lab.startServer(victim);
  });

  it('carries an output larger than one NATS message, in order and whole', async () => {
    const result = await call('node-a', 'big', String(3_000_000), ['node-b']);
    assert.equal(result.outcome, 'ok', JSON.stringify(result.reasons));
    const bytes = Buffer.from(result.output as string, 'base64');
    assert.equal(bytes.length, 3_000_000);
    assert.ok(bytes.equals(Buffer.alloc(3_000_000, 'fnjail-cluster-')));
  });

  it("the function registry works within a node's permissions, replicated on three servers", async () => {
    const dir = `${lab.configDir}/node-a`;
    const nats = await NatsSystem.connect({ servers: lab.urls, tls: { caFile: `${dir}/ca.pem`, certFile: `${dir}/node.pem`, keyFile: `${dir}/node.key` }, inboxPrefix: inboxPrefix('node-a'), replicas: 3 });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nats.connection.status()) if (s.type === 'error') errors.push(s.error.message);
    })();
    try {
      const registry = await FunctionRegistry.open(nats, { functionsDir: path.join(area.root, 'functions') });
      const bundle = makeBundle([
        { path: 'fnjail.json', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify({ name: 'hello', kind: 'program', mode: 'per-request', entry: 'run.sh' })) },
        { path: 'run.sh', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hello\n') },
      ]);
      const deployed = await registry.deploy({ bundle, owner: 'alice', deployedBy: 'test' });
      assert.equal(deployed.created, true);
      const checkedOut = await registry.checkout('hello');
      assert.equal(fs.readFileSync(checkedOut.entry, 'utf8'), '#!/bin/sh\necho hello\n');
      checkedOut.release();
      assert.deepEqual((await registry.list()).map((r) => r.name), ['hello']);
      await registry.remove('hello');
      assert.deepEqual(await registry.list(), []);
      assert.deepEqual(errors, [], 'no permission violation');
      // Replicated: the stores have three replicas.
      assert.equal((await (await nats.kv(REGISTRY_BUCKETS.functions)).status()).replicas, 3);
    } finally {
      await nats.close();
    }
  });

  describe('identity: a node cannot speak for another', () => {
    let rogue: NatsSystem;
    const errors: string[] = [];
    let name: string;
    let victim: string;

    before(async () => {
      // The rogue holds a real node's certificate (not the coordinator's: its announcements would count).
      await settled();
      name = (await p('node-a').table()).find((r) => !r.coordinator)!.node;
      victim = NODES.find((n) => n !== name)!;
      const dir = `${lab.configDir}/${name}`;
      rogue = await NatsSystem.connect({ servers: lab.urls, tls: { caFile: `${dir}/ca.pem`, certFile: `${dir}/node.pem`, keyFile: `${dir}/node.key` }, inboxPrefix: inboxPrefix(name) });
      void (async () => {
        for await (const s of rogue.connection.status()) if (s.type === 'error') errors.push(s.error.message);
      })();
    });
    after(async () => rogue?.close());

    const forgedHeartbeat = (node: string): HeartbeatMessage => ({
      type: 'heartbeat', node, incarnation: 'deadbeefdeadbeef', startedAt: Date.now() + 60_000, seq: 0, sentAt: Date.now(), version: 'forged', ready: true,
      cpu: { host: 1, cores: 1 }, memory: { totalBytes: 1, availableBytes: 1, usedBytes: 0 }, load: [99, 99, 99], calls: { running: 0, freeSlots: 99, queued: 0, capacity: 99 },
    });

    it("the broker refuses another node's subjects: heartbeats, calls as that node, its calls, replies and relayed connections", async () => {
      rogue.connection.publish(SUBJECTS.heartbeat(victim), encodeMessage(forgedHeartbeat(victim)));
      rogue.connection.publish(SUBJECTS.call(name, victim), encodeMessage({ type: 'cancel', id: '0'.repeat(24) }));
      rogue.connection.subscribe(SUBJECTS.callsFor(victim));
      rogue.connection.subscribe(SUBJECTS.repliesFor(victim));
      rogue.connection.subscribe(`${inboxPrefix(victim)}.>`);
      // A relayed connection's bytes: neither written as the victim into the rogue's own, nor read from the victim's.
      rogue.connection.publish(SUBJECTS.relay(victim, name, '1'.repeat(24)), encodeMessage({ type: 'relay-data', id: '1'.repeat(24), seq: 0 }, Buffer.from('injected')));
      rogue.connection.subscribe(SUBJECTS.relaysFor(victim));
      await rogue.connection.flush();
      const expected = [
        new RegExp(`Permissions Violation for Publish to "fnjail.node.${victim}.heartbeat"`),
        new RegExp(`Permissions Violation for Publish to "fnjail.call.${name}.${victim}"`),
        new RegExp(`Permissions Violation for Subscription to "fnjail.call.${victim}.\\*"`),
        new RegExp(`Permissions Violation for Subscription to "fnjail.node.\\*.reply.${victim}.>"`),
        new RegExp(`Permissions Violation for Subscription to "_INBOX.${victim}.>"`),
        new RegExp(`Permissions Violation for Publish to "fnjail.node.${victim}.conn.${name}.1{24}"`),
        new RegExp(`Permissions Violation for Subscription to "fnjail.node.\\*.conn.${victim}.>"`),
      ];
      while (!expected.every((re) => errors.some((e) => re.test(e)))) await new Promise((resolve) => setTimeout(resolve, 100));
    });

    it('members refuse a heartbeat or an announcement on its own subject that speaks for another node', async () => {
      const before = await Promise.all(NODES.map(async (n) => (await p(n).send({ cmd: 'table' })).rejected as number));
      rogue.connection.publish(SUBJECTS.heartbeat(name), encodeMessage(forgedHeartbeat(victim)));
      rogue.connection.publish(SUBJECTS.members(name), encodeMessage({ type: 'members', coordinator: name, term: 999, changes: [{ node: victim, incarnation: 'deadbeefdeadbeef', from: 'up', to: 'down', at: Date.now(), reason: 'forged' }] }));
      rogue.connection.publish(SUBJECTS.members(name), encodeMessage({ type: 'members', coordinator: victim, term: 999, changes: [] }));
      await rogue.connection.flush();
      for (const [i, n] of NODES.entries()) {
        for (;;) {
          const reply = await p(n).send({ cmd: 'table' });
          if ((reply.rejected as number) >= before[i]! + 3) {
            const rows = reply.rows as MemberRow[];
            assert.equal(row(rows, victim).state, 'up');
            assert.notEqual(row(rows, victim).incarnation, 'deadbeefdeadbeef');
            assert.notDeepEqual(row(rows, victim).load, [99, 99, 99]);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(p(n).events.filter((e) => e.event === 'change' && (e.change as MemberChange).reason === 'forged').length, 0, `${n} believed no forged change`);
      }
    });

    it('a certificate from another CA, or for a name the cluster does not know, does not get in', async () => {
      const foreign = lab.pki.foreignClient(victim);
      await assert.rejects(
        NatsSystem.connect({ servers: lab.urls, tls: { caFile: lab.pki.caCert, certFile: foreign.cert, keyFile: foreign.key }, connectTimeoutMs: 2000 }),
        (error: Error) => /cannot connect/.test(error.message),
      );
      const stranger = lab.pki.client('node-x');
      await assert.rejects(
        NatsSystem.connect({ servers: lab.urls, tls: { caFile: lab.pki.caCert, certFile: stranger.cert, keyFile: stranger.key }, connectTimeoutMs: 5000 }),
        /Authorization Violation/,
      );
    });
  });
});
