// Jobs on a cluster of three real `fnjail serve` nodes, each in a host of its
// own (network namespaces) beside its nats-server (routes, JetStream with
// three replicas, mutual TLS: the files of `fnjail cluster config`). node-a
// runs no replica (--job-slots 0): a job submitted there runs on node-b or
// node-c. Killed with SIGKILL in the middle of its replica, that node stops
// telling the queue it works on it; after --job-ack-wait the replica is
// delivered to the other one (at-least-once, docs/jobs.md), and when that one
// is killed too, past --job-redeliveries, the replica is INVALID "node lost"
// (seen by the first node, started again).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../../src/jobs/job-view.js';
import { createClusterLab, type ClusterLab } from '../../helpers/cluster-lab.js';
import { programBundle, startClusterNode } from '../../helpers/cluster-servers.js';
import { cliMain, createTestArea, requireRoot, type TestArea } from '../../helpers/environment.js';
import { httpRequest } from '../../helpers/http.js';
import type { TestServer } from '../../helpers/server.js';

const run = promisify(execFile);
const NODES = ['node-a', 'node-b', 'node-c'];
let area: TestArea;
let lab: ClusterLab;
const servers = new Map<string, TestServer>();
/** Every server started, killed ones included (each has its area to remove). */
const started: TestServer[] = [];
const node = (name: string): TestServer => servers.get(name)!;

async function job(ticket: string, waitMs = 0): Promise<JobView> {
  const reply = await httpRequest(node('node-a').apiSocket, { method: 'GET', path: `/jobs/${ticket}${waitMs ? `?wait=${waitMs}` : ''}` });
  assert.equal(reply.status, 200, reply.body.toString());
  return reply.json<JobView>();
}

/** Asks node-a until the job passes the test (a few times a second; the test's timeout bounds it). */
async function jobUntil(ticket: string, test: (view: JobView) => boolean): Promise<JobView> {
  for (;;) {
    const view = await job(ticket);
    if (test(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function startNode(name: string): Promise<void> {
  const policy = (a: TestArea) => ({ defaults: { libraryDirs: [a.libDir], inputDirs: [a.dataDir], limits: { timeoutMs: 600_000 } } });
  const args = ['--max-concurrent', '2', '--job-slots', name === 'node-a' ? '0' : '1', '--job-ack-wait', '2s', '--job-redeliveries', '1'];
  const server = await startClusterNode(lab, name, policy, args);
  servers.set(name, server);
  started.push(server);
}

async function kill(name: string): Promise<void> {
  const exited = new Promise((resolve) => node(name).process.once('exit', resolve));
  node(name).process.kill('SIGKILL');
  await exited;
}

before(async () => {
  requireRoot();
  area = createTestArea();
  lab = await createClusterLab(area.root, NODES, () => ({ balance: 'least-loaded', capacity: 1, replicas: 3 }));
  for (const name of NODES) await startNode(name);
});
after(async () => {
  for (const server of started) await server.stop().catch(() => undefined);
  await lab?.destroy();
  area?.cleanup();
});

describe('jobs on a cluster of three hosts', { timeout: 300_000 }, () => {
  it('a replica whose node is killed runs again on another node; killed there too, it is INVALID "node lost"', async () => {
    const deployed = await run(process.execPath, [cliMain, 'deploy', programBundle(area, 'hold', 'cat /proc/sys/kernel/hostname; exec sleep 600'), '--api-socket', node('node-a').apiSocket]);
    assert.match(deployed.stdout, /^hold: deployed/);
    const submitted = await httpRequest(node('node-a').apiSocket, { method: 'POST', path: '/jobs?name=hold' });
    assert.equal(submitted.status, 202, submitted.body.toString());
    const { ticket } = submitted.json<JobView>();

    const first = await jobUntil(ticket, (v) => v.replicas[0]!.state === 'RUNNING');
    const firstNode = first.replicas[0]!.node!;
    assert.ok(firstNode === 'node-b' || firstNode === 'node-c', `ran on ${firstNode}, not on node-a (no job slots)`);
    await kill(firstNode);

    const other = firstNode === 'node-b' ? 'node-c' : 'node-b';
    const again = await jobUntil(ticket, (v) => v.replicas[0]!.node === other && v.replicas[0]!.state === 'RUNNING');
    assert.equal(again.replicas[0]!.attempts, 2);
    assert.match(again.replicas[0]!.history.at(-1)!.note!, new RegExp(`^redelivered: node ${firstNode} was lost while running attempt 1$`));
    await kill(other);
    // The first node, started again (a new incarnation), is the one left to take the item: it finds its runs lost.
    await startNode(firstNode);

    const lost = await jobUntil(ticket, (v) => v.state === 'INVALID');
    assert.equal(lost.replicas[0]!.outcome, 'node-lost');
    assert.match(lost.replicas[0]!.reasons[0]!, new RegExp(`^node lost: node ${other} was lost while running attempt 2; not run again: 2 attempts at most`));
  });
});
