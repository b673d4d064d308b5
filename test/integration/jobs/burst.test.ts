// 1000 jobs of the trivial function submitted at once (issue 15): every one
// reaches COMPLETED, and the node starts the replicas in the order of their
// work items in the queue (FIFO), as the audit log's job-state records show.
// Then: an ended ticket nobody closed expires after --job-retention.
// A real server with its private nats-server; the submits come from the
// package's own HTTP client on the API socket, 16 at a time.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Client } from '../../../src/client/client.js';
import type { JobView } from '../../../src/jobs/job-view.js';
import { fnjailAs } from '../../helpers/fnjail-cli.js';
import { libraryBundle } from '../../helpers/jobs.js';
import { startServer, waitForLogs, type TestServer } from '../../helpers/server.js';

const JOBS = 1000;

describe('a burst of jobs', () => {
  let server: TestServer;
  after(async () => {
    await server?.stop();
  });

  it(`${JOBS} trivial jobs submitted at once all COMPLETE, started in queue order`, async () => {
    server = await startServer({ registry: true, args: ['--node-name', 'burst', '--job-slots', '4'] });
    const deployed = await fnjailAs(server, undefined, ['deploy', libraryBundle(server.area, 'basic', 'libbasic.so', ['run'])]);
    assert.equal(deployed.status, 0, deployed.stderr);
    const client = new Client({ socketPath: server.apiSocket });
    const from = server.logs.length;
    const tickets: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < JOBS) {
          next++;
          tickets.push((await client.submitJob({ name: 'basic' })).ticket);
        }
      }),
    );
    assert.equal(new Set(tickets).size, JOBS);
    // Each ticket's end is an audit record: wait for all of them.
    const ends = await waitForLogs(server, (l) => l.event === 'job-state' && l.replica === null && (l.to === 'COMPLETED' || l.to === 'INVALID'), { from, count: JOBS });
    assert.deepEqual(ends.filter((l) => l.to !== 'COMPLETED'), []);
    const views: JobView[] = await Promise.all(tickets.slice(0, 20).map((t) => client.job(t)));
    for (const view of views) assert.equal(view.replicas[0]!.outputBytes, 'run\n'.length);
    const starts = server.logs.slice(from).filter((l) => l.event === 'job-state' && l.to === 'RUNNING' && l.replica !== null);
    assert.equal(starts.length, JOBS, 'each replica started once');
    const seqs = starts.map((l) => l.queueSeq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'started in the order of the queue');
  });
});

describe('retention of jobs', () => {
  let server: TestServer;
  after(async () => {
    await server?.stop();
  });

  it('an ended ticket nobody closed is removed once --job-retention is over, its outputs with it', async () => {
    server = await startServer({ registry: true, args: ['--node-name', 'sweeper', '--job-retention', '1s'] });
    const deployed = await fnjailAs(server, undefined, ['deploy', libraryBundle(server.area, 'basic', 'libbasic.so', ['run'])]);
    assert.equal(deployed.status, 0, deployed.stderr);
    const client = new Client({ socketPath: server.apiSocket });
    const { ticket } = await client.submitJob({ name: 'basic' });
    const [closed] = await waitForLogs(server, (l) => l.event === 'job-close' && l.ticket === ticket);
    assert.match(String(closed!.reason), /^expired: ended .* ago, its retention is 1s$/);
    assert.equal(closed!.state, 'COMPLETED');
    await assert.rejects(client.job(ticket), /no job of yours has ticket/);
  });
});
