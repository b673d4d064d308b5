// Three real `fnjail serve` processes, each in a host of its own (network
// namespaces, test/helpers/netns-hosts.ts) beside its nats-server (routes,
// JetStream with three replicas, mutual TLS: the files of `fnjail cluster
// config`), joined with --nats URL and the node's certificate, each with one
// sandbox slot. What a user sees: every node up in `fnjail cluster status`
// and GET /cluster; a call made on a node that is busy runs on another (the
// sandbox's host name says which); a node killed while running a call is
// seen suspect, then down, by the others, and that call ends "node lost"
// without being run again anywhere.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { BROKER_FILES } from '../../../src/cluster/broker-config.js';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { RemoteCalls } from '../../../src/cluster/remote-calls.js';
import { inboxPrefix } from '../../../src/cluster/subjects.js';
import type { PinnedFunction } from '../../../src/cluster/wire.js';
import type { ManifestDocument } from '../../../src/functions/manifest.js';
import type { JobView } from '../../../src/jobs/job-view.js';
import type { MemberRow } from '../../../src/cluster/member-table.js';
import { cliAs, type User } from '../../helpers/as-user.js';
import { createClusterLab, type ClusterLab } from '../../helpers/cluster-lab.js';
import { programBundle, startClusterNode } from '../../helpers/cluster-servers.js';
import { cliMain, createTestArea, HANG_GUARD_MS, requireRoot, type TestArea } from '../../helpers/environment.js';
import { httpRequest, type HttpReply } from '../../helpers/http.js';
import { waitForLog, type TestServer } from '../../helpers/server.js';

const run = promisify(execFile);
const NODES = ['node-a', 'node-b', 'node-c'];
/** The policy's monitor (it may read the member table), and a user who is not one. */
const MONITOR = { uid: 4620, gid: 4620 };
const STRANGER = { uid: 4621, gid: 4621 };
let area: TestArea;
let lab: ClusterLab;
const servers = new Map<string, TestServer>();

const node = (name: string): TestServer => servers.get(name)!;

/** A program function: prints the host name its sandbox sees (the node's name), then, for hold, waits. */
const bundle = (name: string, script: string): string => programBundle(area, name, script);

async function startNode(name: string): Promise<TestServer> {
  const policy = (a: TestArea) => ({ monitors: { uids: [MONITOR.uid] }, defaults: { libraryDirs: [a.libDir], inputDirs: [a.dataDir], limits: { timeoutMs: 600_000 } } });
  // node-a runs no job replica: the jobs submitted to it run on the others.
  const server = await startClusterNode(lab, name, policy, ['--max-concurrent', '1', '--job-slots', name === 'node-a' ? '0' : '1']);
  servers.set(name, server);
  return server;
}

const api = (name: string, method: string, urlPath: string, body?: string): Promise<HttpReply> => httpRequest(node(name).apiSocket, { method, path: urlPath, ...(body !== undefined ? { body } : {}) });

async function members(name: string): Promise<MemberRow[]> {
  const reply = await api(name, 'GET', '/cluster');
  assert.equal(reply.status, 200, reply.body.toString());
  return reply.json<{ members: MemberRow[] }>().members;
}

/** Asks the node's API for the table until it passes the test (a few times a second). */
async function membersUntil(name: string, test: (rows: MemberRow[]) => boolean): Promise<MemberRow[]> {
  for (;;) {
    const rows = await members(name);
    if (test(rows)) return rows;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** One series of the node's GET /metrics (root: the detailed page), 0 when absent. */
async function metric(name: string, series: string): Promise<number> {
  const reply = await api(name, 'GET', '/metrics');
  assert.equal(reply.status, 200);
  const line = reply.body.toString().split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const rowOf = (rows: MemberRow[], name: string) => rows.find((r) => r.node === name);
/** The record of a hold call starting (taking a sandbox slot). */
const isHoldStart = (l: Record<string, unknown>) => l.event === 'execution-start' && (l.registered as { name?: string } | null)?.name === 'hold';
/** node-b and node-c up with their slot free, as their last heartbeats say. */
const othersFree = (rows: MemberRow[]) => ['node-b', 'node-c'].every((n) => rowOf(rows, n)?.state === 'up' && rowOf(rows, n)?.calls?.freeSlots === 1);
/** Every node up with a heartbeat, and the coordinator known (each node reads the lease once per heartbeat). */
const allUp = (rows: MemberRow[]) => NODES.every((n) => rowOf(rows, n)?.state === 'up' && rowOf(rows, n)?.calls !== null) && rows.some((r) => r.coordinator);

before(async () => {
  requireRoot();
  area = createTestArea();
  lab = await createClusterLab(area.root, NODES, () => ({ balance: 'least-loaded', capacity: 1, replicas: 3 }));
  for (const name of NODES) await startNode(name);
});
after(async () => {
  for (const server of servers.values()) await server.stop().catch(() => undefined);
  await lab?.destroy();
  area?.cleanup();
});

describe('fnjail serve in a cluster of three hosts', { timeout: 300_000 }, () => {
  it('every node sees the three up, in fnjail cluster status and GET /cluster', async () => {
    for (const name of NODES) await membersUntil(name, allUp);
    const status = await run(process.execPath, [cliMain, 'cluster', 'status', '--api-socket', node('node-a').apiSocket]);
    assert.match(status.stdout, /^node node-a, balance least-loaded\n/);
    for (const name of NODES) assert.match(status.stdout, new RegExp(`^${name}( \\*)? +up +`, 'm'), `${name} up in:\n${status.stdout}`);
    const json = JSON.parse((await run(process.execPath, [cliMain, 'cluster', 'status', '--json', '--api-socket', node('node-b').apiSocket])).stdout) as { node: string; joined: boolean; members: MemberRow[] };
    assert.equal(json.node, 'node-b');
    assert.equal(json.joined, true);
    assert.deepEqual(json.members.map((r) => r.node), NODES);
    assert.equal(json.members.filter((r) => r.coordinator).length, 1, 'one coordinator');
    for (const r of json.members) assert.equal(r.calls?.capacity, 1, `${r.node} announces its one slot`);
  });

  it("only root and the policy's monitors may read the member table (GET /cluster answers 403 to others, with no data)", async () => {
    const statusAs = (user: User) => {
      const [command, ...args] = cliAs(user, ['cluster', 'status', '--json', '--api-socket', node('node-a').apiSocket]);
      return run(command!, args).then(
        (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
        (failed: { code: number; stdout: string; stderr: string }) => ({ code: failed.code, stdout: failed.stdout, stderr: failed.stderr }),
      );
    };
    const monitor = await statusAs(MONITOR);
    assert.equal(monitor.code, 0, monitor.stderr);
    assert.deepEqual((JSON.parse(monitor.stdout) as { members: MemberRow[] }).members.map((r) => r.node), NODES);

    const stranger = await statusAs(STRANGER);
    assert.notEqual(stranger.code, 0, 'refused');
    assert.match(stranger.stderr, /uid 4621 .*may not see the cluster's member table/);
    for (const name of NODES) assert.doesNotMatch(stranger.stdout + stranger.stderr, new RegExp(name), 'no member named');
  });

  it('a call on a node with no free slot runs on another node; with a slot free it runs here', async () => {
    for (const [name, script] of [['where', 'cat /proc/sys/kernel/hostname'], ['hold', 'cat /proc/sys/kernel/hostname; exec sleep 600']]) {
      const deployed = await run(process.execPath, [cliMain, 'deploy', bundle(name!, script!), '--api-socket', node('node-a').apiSocket]);
      assert.match(deployed.stdout, new RegExp(`^${name}: deployed`));
    }
    const here = await api('node-a', 'POST', '/run/where');
    assert.equal(here.status, 200, here.body.toString());
    assert.equal(here.body.toString(), 'node-a\n', 'a free slot here: the call runs here');

    // node-a's one slot taken (until the end of the test file): its hold has started (its
    // record says so; node-a's own heartbeat may still be one of the call above, busy too).
    // (Its reply never comes: the node may be killed at the end, as the coordinator.)
    const logFrom = node('node-a').logs.length;
    api('node-a', 'POST', '/run/hold').catch(() => undefined);
    await waitForLog(node('node-a'), isHoldStart, { from: logFrom });
    await membersUntil('node-a', othersFree);
    const elsewhere = await api('node-a', 'POST', '/run/where');
    assert.equal(elsewhere.status, 200, elsewhere.body.toString());
    const ranOn = elsewhere.body.toString().trim();
    assert.ok(ranOn === 'node-b' || ranOn === 'node-c', `ran on another node, not on '${ranOn}' (${JSON.stringify(elsewhere.headers)}); node-a's table: ${JSON.stringify(await members('node-a'))}`);
    // Decided and recorded there too, for the same peer, and recorded here with where it ran.
    await waitForLog(node(ranOn), (l) => l.event === 'execution' && (l.registered as { name?: string } | null)?.name === 'where' && l.outcome === 'ok');
    const record = await waitForLog(node('node-a'), (l) => l.event === 'execution' && l.ranOn !== undefined);
    assert.equal(record.ranOn, ranOn);
    assert.equal(record.outcome, 'ok');
    // Counted both ways in /metrics.
    assert.equal(await metric('node-a', 'fnjail_cluster_forwarded_calls_total{direction="sent",outcome="ok"}'), 1);
    assert.equal(await metric(ranOn, 'fnjail_cluster_forwarded_calls_total{direction="received",outcome="ok"}'), 1);
    // A call node-a refuses (no such function) after its slot elsewhere was reserved gives that slot back at once.
    const missing = await api('node-a', 'POST', '/run/no-such-function');
    assert.equal(missing.status, 404, missing.body.toString());
    // (Counted when the reservation's answer is in, which may come after the reply.)
    const cancelled = (name: string, direction: string) => metric(name, `fnjail_cluster_forwarded_not_started_total{direction="${direction}",reason="cancelled"}`);
    while ((await cancelled('node-a', 'sent')) !== 1) await new Promise((resolve) => setTimeout(resolve, 100));
    while ((await cancelled('node-b', 'received')) + (await cancelled('node-c', 'received')) !== 1) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await metric('node-a', 'fnjail_cluster_members{state="up"}'), 3);
    for (const name of NODES) assert.ok((await metric('node-a', `fnjail_cluster_heartbeat_age_seconds{node="${name}"}`)) < 60, `a heartbeat age for ${name}`);
  });

  it('a job submitted on node-a, which runs none, has its replicas run on the other nodes', async () => {
    const submitted = await api('node-a', 'POST', '/jobs?name=where&replicas=2');
    assert.equal(submitted.status, 202, submitted.body.toString());
    const { ticket } = submitted.json<JobView>();
    let view: JobView | undefined;
    // Each ask waits on the server for the job's end (bounded: a few asks).
    for (let ask = 0; ask < 10 && view?.state !== 'COMPLETED' && view?.state !== 'INVALID'; ask++) {
      view = (await api('node-a', 'GET', `/jobs/${ticket}?wait=30000`)).json<JobView>();
    }
    assert.equal(view?.state, 'COMPLETED', JSON.stringify(view));
    for (const [i, replica] of view.replicas.entries()) {
      assert.ok(replica.node === 'node-b' || replica.node === 'node-c', `replica ${i + 1} ran on ${replica.node}`);
      const output = await api('node-a', 'GET', `/jobs/${ticket}/output?replica=${i + 1}`);
      assert.equal(output.body.toString(), `${replica.node}\n`, 'its sandbox was on that node');
    }
  });

  it('a forwarded call runs the version the node it came to resolved, even when a newer one is deployed meanwhile', async () => {
    // Version 1, then its record as the registry keeps it; then version 2.
    const deploy = async (text: string) => run(process.execPath, [cliMain, 'deploy', bundle('pinned', `echo ${text}; cat /proc/sys/kernel/hostname`), '--api-socket', node('node-a').apiSocket]);
    await deploy('first');
    const first = (await api('node-a', 'GET', '/registry/pinned')).json<{ owner: string; kind: 'program'; version: string; manifest: ManifestDocument }>();
    await deploy('second');
    assert.notEqual((await api('node-a', 'GET', '/registry/pinned')).json<{ version: string }>().version, first.version);

    // A call sent to node-b as node-a sends them (its certificate, its subjects), as if resolved before the redeploy.
    const files = path.join(lab.configDir, 'node-a');
    const nats = await NatsSystem.connect({
      servers: lab.urls,
      tls: { caFile: path.join(files, BROKER_FILES.ca), certFile: path.join(files, BROKER_FILES.nodeCert), keyFile: path.join(files, BROKER_FILES.nodeKey) },
      name: 'node-a',
      inboxPrefix: inboxPrefix('node-a'),
    });
    try {
      const calls = new RemoteCalls({ connection: nats.connection, node: 'node-a', incarnation: 'a'.repeat(16), handler: () => Promise.reject(new Error('not here')) });
      // Its replies only: no calls for node-a are taken here (the real node-a takes them).
      calls.listenForReplies();
      const peer = { uid: 0, gid: 0, groups: [] };
      const send = async (pinned?: PinnedFunction): Promise<string> => {
        const sent = await calls.send('node-b', { function: 'pinned', tenant: 'root', principal: 'root (uid 0)', peer, input: Buffer.alloc(0), ...(pinned ? { pinned } : {}) });
        assert.ok(sent.started, JSON.stringify(sent));
        const result = await sent.result;
        assert.equal(result.outcome, 'ok', result.reasons.join('\n'));
        return result.output.toString();
      };
      assert.equal(await send({ owner: first.owner, kind: first.kind, version: first.version, manifest: first.manifest }), 'first\nnode-b\n', 'the version the call names');
      assert.equal(await send(), 'second\nnode-b\n', 'a call naming none: the current one');
      await calls.stop();
    } finally {
      await nats.close();
    }
  });

  it('kill -9 a node running a call: the others see it suspect, then down; the call is "node lost", never run again', async () => {
    // node-a is full (the hold above): this one goes to node-b or node-c, and stays there.
    // Both idle again in node-a's view (a heartbeat sent while the tests above ran may say busy).
    await membersUntil('node-a', othersFree);
    const logFrom = new Map(NODES.map((n) => [n, node(n).logs.length]));
    const lost = api('node-a', 'POST', '/run/hold');
    // The victim is where the hold started, as its record says (not a heartbeat, which may be stale).
    let victim: string | undefined;
    for (let look = 0; victim === undefined && look < HANG_GUARD_MS / 20; look++) {
      if (look) await new Promise((resolve) => setTimeout(resolve, 20));
      victim = ['node-b', 'node-c'].find((n) => node(n).logs.slice(logFrom.get(n)!).some(isHoldStart));
    }
    assert.ok(victim, 'the hold started on node-b or node-c');
    const survivor = victim === 'node-b' ? 'node-c' : 'node-b';

    node(victim).process.kill('SIGKILL');
    const reply = await lost;
    assert.equal(reply.status, 500, reply.body.toString());
    const problem = reply.json<{ outcome: string; reasons: string[] }>();
    assert.equal(problem.outcome, 'server-error');
    assert.match(problem.reasons.join('\n'), new RegExp(`the call started on node ${victim}, then it went down; it was not run again`));

    // Seen in order by the others, in their audit logs.
    for (const observer of ['node-a', survivor]) {
      const down = await waitForLog(node(observer), (l) => l.event === 'cluster-member' && l.node === victim && l.to === 'down', { from: logFrom.get(observer)!, timeoutMs: 60_000 });
      const suspect = node(observer).logs.slice(logFrom.get(observer)!).find((l) => l.event === 'cluster-member' && l.node === victim && l.to === 'suspect');
      assert.ok(suspect, `${observer} saw ${victim} suspect`);
      assert.ok(node(observer).logs.indexOf(suspect) < node(observer).logs.indexOf(down), 'suspect before down');
      assert.ok((suspect.silentMs as number) >= 3000 && (down.silentMs as number) >= 5000, 'at the default silences (3 s, 5 s)');
    }
    const table = await membersUntil('node-a', (rows) => rowOf(rows, victim)?.state === 'down');
    assert.equal(rowOf(table, survivor)?.state, 'up');
    // Not run again: the survivor, with its slot free all along, never started a hold.
    assert.ok(!node(survivor).logs.slice(logFrom.get(survivor)!).some(isHoldStart), `${survivor} never ran the lost call`);
    // And calls go on: node-a full, the survivor takes them.
    const next = await api('node-a', 'POST', '/run/where');
    assert.equal(next.body.toString(), `${survivor}\n`);
    // As /metrics counts it on the node the call came to.
    assert.equal(await metric('node-a', 'fnjail_cluster_forwarded_calls_total{direction="sent",outcome="node-lost"}'), 1);
    assert.equal(await metric('node-a', 'fnjail_cluster_members{state="up"}'), 2);
    assert.equal(await metric('node-a', 'fnjail_cluster_members{state="down"}'), 1);
  });

  it('kill -9 the coordinator: the last node takes the lease over, and its /metrics counts the change', async () => {
    const rows = await membersUntil('node-a', (r) => r.filter((m) => m.state === 'up').length === 2 && r.some((m) => m.coordinator && m.state === 'up'));
    const coordinator = rows.find((m) => m.coordinator)!.node;
    const last = rows.find((m) => m.state === 'up' && m.node !== coordinator)!.node;
    const before = await metric(last, 'fnjail_cluster_coordinator_changes_total');
    node(coordinator).process.kill('SIGKILL');
    await membersUntil(last, (r) => rowOf(r, last)?.coordinator === true && rowOf(r, coordinator)?.state === 'down');
    assert.equal(await metric(last, 'fnjail_cluster_coordinator_changes_total'), before + 1);
  });
});
