// The job store (src/jobs/job-store.ts) on a real nats-server, as two nodes
// see it: each remembers the records it wrote and writes its next change on
// that version, guarded by the revision. A version another node replaced
// must never win: the change is made again on the record as it is. A change
// that decides there is nothing to write on a remembered version is decided
// again on the record itself (a stale version could be wrong about it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { jobKey } from '../../../src/jobs/job-identity.js';
import { cancelJob, newJob, setQueued, startReplica, type JobRecord } from '../../../src/jobs/job-record.js';
import { JobStore } from '../../../src/jobs/job-store.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';

let area: TestArea;
let server: TestNatsServer;
const systems: NatsSystem[] = [];

before(async () => {
  area = createTestArea();
  server = await startTestNatsServer(area.root, { authorization: { user: 'u', password: 'p' } });
});
after(async () => {
  for (const system of systems) await system.close();
  await server.stop();
  area.cleanup();
});

/** A node's store: its own connection, its own memory. */
async function node(): Promise<JobStore> {
  const system = await NatsSystem.connect({ servers: [server.url], user: 'u', password: 'p', insecure: true });
  systems.push(system);
  return JobStore.open(system);
}

let tickets = 0;
function job(replicas: number): JobRecord {
  const ticket = (++tickets).toString(16).padStart(32, '0');
  return newJob({ ticket, owner: 'u4700', tenant: 't', peer: { uid: 4700, gid: 4700, pid: 1, groups: [] }, submittedBy: 'uid 4700', node: 'a', target: { kind: 'function', name: 'basic', owner: 'u4700' }, queued: false }, replicas, new Date());
}

describe('the job store, two nodes on one NATS system', () => {
  it("a change on a version another node replaced is made again on the record as it is, never over the other's", async () => {
    const [a, b] = [await node(), await node()];
    const record = job(2);
    const key = jobKey(record.owner, record.ticket);
    await a.create(record);
    await a.update(key, (r) => (setQueued(r, [1, 2]), { write: true, result: undefined }));
    // Node b starts replica 1 (it reads the record: it remembers nothing of it).
    const started = await b.update(key, (r) => {
      const verdict = startReplica(r, 1, { name: 'b', incarnation: 'ib' }, 2, new Date());
      return { write: verdict.kind === 'start', result: verdict.kind };
    });
    assert.equal(started?.result, 'start');
    // Node a, on its remembered version (replica 1 WAITING), starts replica 2: written on b's change, not over it.
    let calls = 0;
    const second = await a.update(key, (r) => {
      calls++;
      const verdict = startReplica(r, 2, { name: 'a', incarnation: 'ia' }, 2, new Date());
      return { write: verdict.kind === 'start', result: verdict.kind };
    });
    assert.equal(second?.result, 'start');
    assert.equal(calls, 2, 'computed on the remembered version, refused by its revision, computed again on the fresh read');
    const stored = (await b.get(key))!.record;
    assert.deepEqual(stored.replicas.map((r) => [r.state, r.node]), [['RUNNING', 'b'], ['RUNNING', 'a']]);
    assert.equal(stored.state, 'RUNNING');
  });

  it('a decision not to write, made on a remembered version, is made again on the record itself', async () => {
    const [a, b] = [await node(), await node()];
    const record = job(1);
    const key = jobKey(record.owner, record.ticket);
    await a.create(record); // a remembers it not queued yet
    await b.update(key, (r) => (setQueued(r, [7]), { write: true, result: undefined }));
    // On a's version the job is still being published: a looks again at the record, which is queued.
    const seen = await a.update(key, (r) => ({ write: false, result: r.queued }));
    assert.equal(seen?.result, true);
    // And a cancel by b is seen by a's next change, whatever a remembered.
    await b.update(key, (r) => ({ write: true, result: cancelJob(r, 'uid 4700', new Date()) }));
    const start = await a.update(key, (r) => {
      const verdict = startReplica(r, 1, { name: 'a', incarnation: 'ia' }, 2, new Date());
      return { write: verdict.kind === 'start', result: verdict.kind };
    });
    assert.equal(start?.result, 'ended');
  });

  it('a record another node closed is gone for this one too, whatever it remembered', async () => {
    const [a, b] = [await node(), await node()];
    const record = job(1);
    const key = jobKey(record.owner, record.ticket);
    await a.create(record);
    await b.remove(record, []);
    assert.equal(await a.update(key, () => ({ write: true, result: 'written' })), undefined);
    assert.equal(await a.get(key), undefined);
  });
});
