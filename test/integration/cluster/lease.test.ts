// The coordinator's lease (src/cluster/coordinator.ts) on a real JetStream KV
// bucket, on a clock of the test's own (poll takes the monotonic time): one
// holder at a time, renewed; taken over only after leaseMs without a renewal
// as the candidate saw it; given up cleanly; taken back at once by a node that
// restarted while holding it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KV } from '@nats-io/kv';
import { Lease, LEASE_KEY, type LeaseValue } from '../../../src/cluster/coordinator.js';
import { newIncarnation } from '../../../src/cluster/heartbeat.js';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';

let area: TestArea;
let server: TestNatsServer;
let system: NatsSystem;
let bucket = 0;

before(async () => {
  area = createTestArea();
  server = await startTestNatsServer(area.root, { authorization: { user: 'u', password: 'p' } });
  system = await NatsSystem.connect({ servers: [server.url], user: 'u', password: 'p', insecure: true });
});
after(async () => {
  await system.close();
  await server.stop();
  area.cleanup();
});

const LEASE_MS = 3000;
const kv = () => system.kv(`lease-test-${++bucket}`);
const stored = async (bucketKv: KV) => (await bucketKv.get(LEASE_KEY))?.json<LeaseValue>();

describe('the coordinator lease', () => {
  it('one holder: the first takes it, the other learns who holds it', async () => {
    const bucketKv = await kv();
    const a = new Lease(bucketKv, 'a', newIncarnation(), LEASE_MS);
    const b = new Lease(bucketKv, 'b', newIncarnation(), LEASE_MS);
    assert.equal(await a.poll(0), true);
    assert.equal(await b.poll(0), false);
    assert.equal(b.holder, 'a');
    assert.equal(a.term, 1);
    assert.deepEqual(await Promise.all([a.poll(1000), b.poll(1000)]), [true, false]);
  });

  it('a holder that stops renewing is replaced after leaseMs of silence, not before; it then knows it lost', async () => {
    const bucketKv = await kv();
    const a = new Lease(bucketKv, 'a', newIncarnation(), LEASE_MS);
    const b = new Lease(bucketKv, 'b', newIncarnation(), LEASE_MS);
    await a.poll(0);
    await a.poll(1000); // renewed
    assert.equal(await b.poll(2000), false, 'b sees this revision from 2000 on');
    assert.equal(await b.poll(2000 + LEASE_MS - 1), false);
    assert.equal(await b.poll(2000 + LEASE_MS), true);
    assert.equal(b.term, 2);
    assert.equal((await stored(bucketKv))?.holder, 'b');
    assert.equal(await a.poll(6000), false, 'its renewal is refused: the revision moved on');
    assert.equal(a.held, false);
  });

  it('a clean release lets the next candidate take it at its next poll', async () => {
    const bucketKv = await kv();
    const a = new Lease(bucketKv, 'a', newIncarnation(), LEASE_MS);
    const b = new Lease(bucketKv, 'b', newIncarnation(), LEASE_MS);
    await a.poll(0);
    await b.poll(0);
    await a.release();
    assert.equal(await b.poll(10), true);
    assert.equal(b.term, 2);
  });

  it('a node that restarted while it held the lease takes it back at once (its former self is gone)', async () => {
    const bucketKv = await kv();
    await new Lease(bucketKv, 'a', newIncarnation(), LEASE_MS).poll(0);
    const again = new Lease(bucketKv, 'a', newIncarnation(), LEASE_MS);
    assert.equal(await again.poll(1), true);
    assert.equal(again.term, 2);
  });
});
