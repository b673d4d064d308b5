// Jobs over HTTP on TCP, submitted with a bearer token (docs/jobs.md, docs/http.md):
// a real server with its private nats-server, plain HTTP on loopback
// (--insecure), tokens made by `fnjail token new` and held in the policy.
// A job submitted with a token belongs to that token's holder, in the token's
// tenant: it sees the job in GET /jobs and can read, fetch and close it;
// another tenant's token, and an anonymous client, get 404 on it (as for a
// ticket that never existed) and never see it listed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../../src/jobs/job-view.js';
import type { User } from '../../helpers/as-user.js';
import { cliMain, type TestArea } from '../../helpers/environment.js';
import { fnjailAs } from '../../helpers/fnjail-cli.js';
import { httpAddresses, tcpRequest, type HttpReply, type HttpTarget } from '../../helpers/http.js';
import { libraryBundle } from '../../helpers/jobs.js';
import { startServer, type TestServer } from '../../helpers/server.js';

const ALICE: User = { uid: 4621, gid: 4621 };

/** A token of a tenant, and its policy entry (fnjail token new). */
function newToken(tenant: string, id: string): { token: string; entry: { id: string; sha256: string } } {
  const made = spawnSync(process.execPath, [cliMain, 'token', 'new', '--tenant', tenant, '--id', id, '--json'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  return JSON.parse(made.stdout) as { token: string; entry: { id: string; sha256: string } };
}

describe('jobs submitted with a bearer token', () => {
  const red = newToken('red', 'red-ci');
  const blue = newToken('blue', 'blue-ci');
  let server: TestServer;
  let api: HttpTarget;

  const policy = (area: TestArea) => ({
    defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 60_000 } },
    tenants: [
      { name: 'alice', match: { uids: [ALICE.uid] }, deploy: true },
      { name: 'red', match: { tlsClients: ['red'] }, tokens: [red.entry], callFunctionsOf: ['alice'] },
      { name: 'blue', match: { tlsClients: ['blue'] }, tokens: [blue.entry], callFunctionsOf: ['alice'] },
    ],
  });

  before(async () => {
    server = await startServer({ policy, registry: true, args: ['--http', '127.0.0.1:0', '--insecure', '--job-slots', '1'] });
    api = httpAddresses(server.logs)[0]!;
    const deployed = await fnjailAs(server, ALICE, ['deploy', libraryBundle(server.area, 'basic', 'libbasic.so', ['run', 'cat'])]);
    assert.equal(deployed.status, 0, deployed.stderr);
  });
  after(async () => {
    await server?.stop();
  });

  const as = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });
  const request = (method: string, path: string, token: string | undefined, body?: string): Promise<HttpReply> => tcpRequest(api, { method, path, headers: as(token), ...(body !== undefined ? { body } : {}) });
  const listed = async (token: string | undefined) => {
    const reply = await request('GET', '/jobs', token);
    assert.equal(reply.status, 200, reply.body.toString());
    return reply.json<{ jobs: JobView[] }>().jobs.map((j) => j.ticket);
  };

  it("is owned by the token's holder in its tenant: listed and readable with it, 404 with another tenant's token or none", async () => {
    const submitted = await request('POST', '/jobs?name=basic&function=cat', red.token, 'from the red CI\n');
    assert.equal(submitted.status, 202, submitted.body.toString());
    const job = submitted.json<JobView>();
    assert.equal(job.tenant, 'red');
    assert.equal(submitted.headers.location, `/jobs/${job.ticket}`);

    // Its holder waits for it, sees it listed, reads its output.
    const done = await request('GET', `/jobs/${job.ticket}?wait=50000`, red.token);
    assert.equal(done.status, 200);
    assert.equal(done.json<JobView>().state, 'COMPLETED', done.body.toString());
    assert.deepEqual(await listed(red.token), [job.ticket]);
    const output = await request('GET', `/jobs/${job.ticket}/output?replica=1`, red.token);
    assert.deepEqual([output.status, output.body.toString()], [200, 'from the red CI\n']);

    // Another tenant's token, and an anonymous client: not found, exactly as a ticket that never existed; never listed.
    const never = `${'0'.repeat(31)}1`;
    for (const other of [blue.token, undefined]) {
      const who = other === undefined ? 'anonymous' : 'blue';
      assert.deepEqual(await listed(other), [], `${who} lists nothing`);
      for (const [method, path] of [
        ['GET', `/jobs/${job.ticket}`],
        ['GET', `/jobs/${job.ticket}/output?replica=1`],
        ['POST', `/jobs/${job.ticket}/cancel`],
        ['DELETE', `/jobs/${job.ticket}`],
      ] as const) {
        const reply = await request(method, path, other);
        assert.equal(reply.status, 404, `${who}: ${method} ${path}: ${reply.body.toString()}`);
        assert.match(reply.headers['content-type']!, /^application\/problem\+json/);
        const missing = await request(method, path.replace(job.ticket, never), other);
        const detail = (r: HttpReply) => r.json<{ code: string; detail: string }>();
        assert.equal(detail(reply).code, 'FNJ_JOB_NOT_FOUND');
        assert.equal(detail(reply).detail.replace(job.ticket, 'T'), detail(missing).detail.replace(never, 'T'), `${who}: the same answer as for a ticket that never existed`);
      }
    }
    // An anonymous client owns nothing, so it may not submit.
    const anonymous = await request('POST', '/jobs?name=basic', undefined);
    assert.equal(anonymous.status, 403, anonymous.body.toString());
    assert.match(anonymous.json<{ detail: string }>().detail, /has no identity to own a job/);

    // Still there for its holder, who closes it.
    assert.equal((await request('GET', `/jobs/${job.ticket}`, red.token)).status, 200);
    assert.equal((await request('DELETE', `/jobs/${job.ticket}`, red.token)).status, 200);
    assert.deepEqual(await listed(red.token), []);
  });
});
