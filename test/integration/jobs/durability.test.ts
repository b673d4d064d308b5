// Jobs survive what happens to the processes (docs/jobs.md, "Durability"):
// - a server stopped (SIGTERM) while one job runs and others wait, started
//   again on the same state (its private nats-server's JetStream store):
//   nothing is lost, the running replica (cancelled by the stop) runs again,
//   every ticket ends COMPLETED or INVALID with a reason;
// - the nats-server killed and started again while a replica runs and others
//   wait: the node reconnects, keeps its run, the others run after it;
// - nodes sharing one real nats-server: a node killed with SIGKILL in the
//   middle of a replica has it redelivered to a live node once (at-least-once),
//   and a replica whose runs were lost past the redelivery limit is INVALID
//   "node lost", never silently dropped.
// Real servers, a real nats-server, real sandboxes; every wait is for an
// event (a state seen through the API, a log line).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { User } from '../../helpers/as-user.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { fnjailAs } from '../../helpers/fnjail-cli.js';
import { jobOf, libraryBundle, waitForJob } from '../../helpers/jobs.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';
import { startServer, waitForLog, type TestServer } from '../../helpers/server.js';

const ALICE: User = { uid: 4621, gid: 4621 };

const policy = (area: TestArea) => ({
  defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 120_000 } },
  tenants: [{ name: 'alice', match: { uids: [ALICE.uid] }, deploy: true }],
});

async function submit(server: TestServer, args: string[]): Promise<string> {
  const submitted = await fnjailAs(server, ALICE, ['jobs', 'submit', ...args]);
  assert.equal(submitted.status, 0, submitted.stderr);
  return submitted.stdout.trim();
}

async function deployFixtures(server: TestServer): Promise<void> {
  for (const bundle of [libraryBundle(server.area, 'basic', 'libbasic.so', ['run']), libraryBundle(server.area, 'lifecycle', 'liblifecycle.so', ['sleep_long'])]) {
    const deployed = await fnjailAs(server, ALICE, ['deploy', bundle]);
    assert.equal(deployed.status, 0, deployed.stderr);
  }
}

describe('jobs across a restart of the server', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });

  it('loses nothing: the running replica runs again, the waiting ones run, every ticket ends with a reason', async () => {
    const area = createTestArea();
    const args = ['--node-name', 'node-r', '--job-slots', '1', '--shutdown-grace', '500ms'];
    const first = await startServer({ area, policy, registry: true, args });
    await deployFixtures(first);
    // Runs until the stop cancels it; after the restart its run ends at its timeout (long enough
    // for the two submits and the stop below to come first on a loaded machine).
    const running = await submit(first, ['lifecycle', '--function', 'sleep_long', '--timeout', '10s']);
    await waitForJob(first, ALICE, running, (v) => v.state === 'RUNNING');
    const waiting = [await submit(first, ['basic']), await submit(first, ['basic', '--replicas', '2'])];
    await first.stop({ keepArea: true });

    const second = await startServer({ area, policy, registry: true, args });
    servers.push(second);
    const again = await jobOf(second, ALICE, running, 50_000);
    assert.equal(again.state, 'INVALID');
    const replica = again.replicas[0]!;
    assert.equal(replica.outcome, 'timeout', JSON.stringify(replica));
    assert.equal(replica.attempts, 2, 'the run the stop cancelled went back to the queue and ran again');
    assert.deepEqual(replica.history.map((h) => h.state), ['WAITING', 'RUNNING', 'WAITING', 'RUNNING', 'INVALID']);
    assert.match(replica.history[2]!.note!, /^given back by node node-r: the call was cancelled by the server/);
    for (const ticket of waiting) assert.equal((await jobOf(second, ALICE, ticket, 50_000)).state, 'COMPLETED');
  });
});

describe('jobs on nodes that share one NATS system', () => {
  let nats: TestNatsServer;
  let natsArea: TestArea;
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
    await nats?.stop();
    natsArea?.cleanup();
  });

  /** A node of its own (its sockets, state, sandbox uids) on the shared NATS system. */
  const node = async (name: string) => {
    const server = await startServer({ policy, args: ['--nats', nats.url, '--insecure', '--node-name', name, '--job-slots', '1', '--job-ack-wait', '1s', '--job-redeliveries', '1'] });
    servers.push(server);
    return server;
  };
  const kill = async (server: TestServer) => {
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    server.process.kill('SIGKILL');
    await exited;
  };

  it('a node killed mid-replica: redelivered once to a live node, then INVALID "node lost" when that one is killed too', async () => {
    natsArea = createTestArea();
    nats = await startTestNatsServer(natsArea.root);
    const a = await node('node-a');
    await deployFixtures(a);
    const ticket = await submit(a, ['lifecycle', '--function', 'sleep_long']);
    await waitForJob(a, ALICE, ticket, (v) => v.replicas[0]!.node === 'node-a' && v.state === 'RUNNING');

    const b = await node('node-b');
    await kill(a);
    // Node b takes it once the lost node's deadline passed.
    const redelivered = await waitForJob(b, ALICE, ticket, (v) => v.replicas[0]!.node === 'node-b');
    const replica = redelivered.replicas[0]!;
    assert.equal(replica.state, 'RUNNING');
    assert.equal(replica.attempts, 2);
    assert.match(replica.history.at(-1)!.note!, /^redelivered: node node-a was lost while running attempt 1$/);
    await waitForLog(b, (l) => l.event === 'job-state' && l.ticket === ticket && l.to === 'RUNNING' && l.node === 'node-b');

    const c = await node('node-c');
    await kill(b);
    const lost = await jobOf(c, ALICE, ticket, 50_000);
    assert.equal(lost.state, 'INVALID');
    assert.equal(lost.replicas[0]!.outcome, 'node-lost');
    assert.match(lost.replicas[0]!.reasons[0]!, /^node lost: node node-b was lost while running attempt 2; not run again: 2 attempts at most \(at-least-once delivery\)$/);
    // A job submitted now runs on the live node.
    const fresh = await submit(c, ['basic']);
    const done = await jobOf(c, ALICE, fresh, 50_000);
    assert.deepEqual([done.state, done.replicas[0]!.node], ['COMPLETED', 'node-c']);
  });
});

describe('jobs across a restart of the nats-server', () => {
  let nats: TestNatsServer;
  let natsArea: TestArea;
  let server: TestServer;
  after(async () => {
    await server?.stop();
    await nats?.stop();
    natsArea?.cleanup();
  });

  it('the queue, the tickets and a running replica survive the nats-server killed and started again', async () => {
    natsArea = createTestArea();
    nats = await startTestNatsServer(natsArea.root);
    server = await startServer({ policy, args: ['--nats', nats.url, '--insecure', '--node-name', 'node-n', '--job-slots', '1', '--job-ack-wait', '1s'] });
    await deployFixtures(server);
    const running = await submit(server, ['lifecycle', '--function', 'sleep_long']);
    await waitForJob(server, ALICE, running, (v) => v.state === 'RUNNING');
    const waiting = [await submit(server, ['basic']), await submit(server, ['basic', '--replicas', '2'])];
    await nats.kill();
    await nats.restart();
    // The node reconnects; its running replica is still its own (one attempt), the others still wait.
    const still = await jobOf(server, ALICE, running);
    assert.deepEqual([still.state, still.replicas[0]!.attempts, still.replicas[0]!.node], ['RUNNING', 1, 'node-n']);
    for (const ticket of waiting) assert.equal((await jobOf(server, ALICE, ticket)).state, 'WAITING');
    const cancelled = await fnjailAs(server, ALICE, ['jobs', 'cancel', running]);
    assert.equal(cancelled.status, 0, cancelled.stderr);
    for (const ticket of waiting) assert.equal((await jobOf(server, ALICE, ticket, 50_000)).state, 'COMPLETED');
    const ended = await jobOf(server, ALICE, running);
    assert.deepEqual([ended.state, ended.replicas[0]!.outcome, ended.replicas[0]!.attempts], ['INVALID', 'cancelled', 1]);
  });
});
