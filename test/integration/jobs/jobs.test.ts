// Jobs end to end on one node (docs/jobs.md): a real server with its private
// nats-server (the queue, the tickets and the outputs on JetStream), the real
// launcher, real users through the fnjail CLI and HTTP on the API socket.
// The seed's scenarios: a best-case deploy of two replicas (ticket at once,
// RUNNING then COMPLETED, both outputs retrieved, the ticket closed); not
// enough free slots (WAITING, then served in submit order); a replica that
// crashes or fails to build (the ticket INVALID with the reason, the other
// replica stopped). Refusals at submit (a missing function, one the tenant
// may not call, a full queue), other tenants' tickets not found, garbage
// tickets, cancel of a running and of a waiting job, the audit trail.
// The node has one job slot, so that what waits and what runs is known.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { schemaValidator } from '../../../src/config/json-file.js';
import type { JobView } from '../../../src/jobs/job-view.js';
import type { User } from '../../helpers/as-user.js';
import { cliMain, writeData, type TestArea } from '../../helpers/environment.js';
import { httpRequest } from '../../helpers/http.js';
import { fnjailAs } from '../../helpers/fnjail-cli.js';
import { jobOf, libraryBundle, makeRunBundle, waitForJob } from '../../helpers/jobs.js';
import { startServer, waitForLogs, waitForStats, type TestServer } from '../../helpers/server.js';

const ALICE: User = { uid: 4611, gid: 4611 };
const BOB: User = { uid: 4612, gid: 4612 };
/** Calls alice's functions. */
const CAROL: User = { uid: 4613, gid: 4613 };

const policy = (area: TestArea) => ({
  defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 120_000 } },
  tenants: [
    { name: 'alice', match: { uids: [ALICE.uid] }, deploy: true },
    { name: 'bob', match: { uids: [BOB.uid] }, deploy: true },
    { name: 'carol', match: { uids: [CAROL.uid] }, callFunctionsOf: ['alice'] },
  ],
});

const TICKET = /^[0-9a-f]{32}$/;

describe('jobs on one node', () => {
  let server: TestServer;
  let area: TestArea;

  before(async () => {
    server = await startServer({ policy, registry: true, args: ['--node-name', 'node-a', '--job-slots', '1', '--job-queue-per-tenant', '6'] });
    area = server.area;
    for (const bundle of [libraryBundle(area, 'basic', 'libbasic.so', ['run', 'cat']), libraryBundle(area, 'lifecycle', 'liblifecycle.so', ['run', 'crash', 'sleep_long'])]) {
      const deployed = await fnjailAs(server, ALICE, ['deploy', bundle]);
      assert.equal(deployed.status, 0, deployed.stderr);
    }
  });
  after(async () => {
    await server?.stop();
  });

  /** Submits as alice with the CLI; the ticket it printed. */
  async function submit(args: string[], user: User = ALICE): Promise<string> {
    const submitted = await fnjailAs(server, user, ['jobs', 'submit', ...args]);
    assert.equal(submitted.status, 0, submitted.stderr);
    assert.match(submitted.stdout, /^[0-9a-f]{32}\n$/);
    return submitted.stdout.trim();
  }

  it('best case: two replicas, a ticket at once, RUNNING then COMPLETED, both outputs retrieved, then closed', async () => {
    const input = writeData(area, 'job-input.txt', 'the job input\n');
    fs.chmodSync(input, 0o644);
    const ticket = await submit(['basic', '--function', 'cat', '--input', input, '--replicas', '2']);
    const waited = await fnjailAs(server, ALICE, ['jobs', 'wait', ticket, '--json']);
    assert.equal(waited.status, 0, waited.stderr);
    const view = JSON.parse(waited.stdout) as JobView;
    assert.equal(view.state, 'COMPLETED');
    assert.deepEqual(view.history.map((h) => h.state), ['WAITING', 'RUNNING', 'COMPLETED']);
    for (const replica of view.replicas) {
      assert.deepEqual(replica.history.map((h) => [h.state, h.node]), [['WAITING', undefined], ['RUNNING', 'node-a'], ['COMPLETED', 'node-a']]);
      assert.equal(replica.outputBytes, 'the job input\n'.length);
    }
    // Timestamps in order, per transition.
    const times = view.history.map((h) => Date.parse(h.at));
    assert.deepEqual([...times].sort((a, b) => a - b), times);

    const out = path.join(area.root, 'retrieved');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
    const retrieved = await fnjailAs(server, ALICE, ['jobs', 'retrieve', ticket, '--out', out]);
    assert.equal(retrieved.status, 0, retrieved.stderr);
    assert.match(retrieved.stdout, /^replica 1: COMPLETED -> .*replica-1\.out\nreplica 2: COMPLETED -> .*replica-2\.out\n[0-9a-f]{32}: COMPLETED; closed\n$/);
    assert.equal(fs.readFileSync(path.join(out, 'replica-1.out'), 'utf8'), 'the job input\n');
    assert.equal(fs.readFileSync(path.join(out, 'replica-2.out'), 'utf8'), 'the job input\n');
    // Closed: its ticket is gone.
    const gone = await fnjailAs(server, ALICE, ['jobs', 'status', ticket]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no job of yours has ticket [0-9a-f]{32} \[FNJ_JOB_NOT_FOUND\]/);
  });

  it('over HTTP: 202 with the ticket and its Location, the status, the output, the list of your own jobs', async () => {
    const submitted = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&function=cat', body: 'over HTTP\n', as: ALICE });
    assert.equal(submitted.status, 202, submitted.body.toString());
    const accepted = submitted.json<JobView>();
    assert.match(accepted.ticket, TICKET);
    assert.equal(submitted.headers.location, `/jobs/${accepted.ticket}`);
    assert.equal(accepted.tenant, 'alice');
    assert.equal(accepted.inputBytes, 10);
    const done = await jobOf(server, ALICE, accepted.ticket, 30_000);
    assert.equal(done.state, 'COMPLETED');
    const output = await httpRequest(server.apiSocket, { method: 'GET', path: `${submitted.headers.location}/output?replica=1`, as: ALICE });
    assert.deepEqual([output.status, output.body.toString(), output.headers['x-fnjail-job-state']], [200, 'over HTTP\n', 'COMPLETED']);
    // An output over 1 KiB goes to the object store rather than into the record: the same bytes come back.
    const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
    const large = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&function=cat', body: big, as: ALICE });
    const largeTicket = large.json<JobView>().ticket;
    assert.equal((await jobOf(server, ALICE, largeTicket, 30_000)).replicas[0]!.outputBytes, big.length);
    const largeOutput = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${largeTicket}/output?replica=1`, as: ALICE });
    assert.ok(largeOutput.body.equals(big), 'the large output comes back whole');
    assert.equal((await httpRequest(server.apiSocket, { method: 'DELETE', path: `/jobs/${largeTicket}`, as: ALICE })).status, 200);
    const noReplica = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${accepted.ticket}/output?replica=2`, as: ALICE });
    assert.equal(noReplica.status, 400);
    assert.match(noReplica.json<{ detail: string }>().detail, /has no replica 2 \(it has 1, numbered from 1\)/);

    // Alice's list has it; bob's does not, and bob cannot see it: not found, as a ticket that never existed.
    const mine = await httpRequest(server.apiSocket, { method: 'GET', path: '/jobs', as: ALICE });
    assert.ok(mine.json<{ jobs: JobView[] }>().jobs.some((j) => j.ticket === accepted.ticket));
    const bobs = await httpRequest(server.apiSocket, { method: 'GET', path: '/jobs', as: BOB });
    assert.deepEqual(bobs.json<{ jobs: JobView[] }>().jobs, []);
    const theirs = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${accepted.ticket}`, as: BOB });
    const never = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${'0'.repeat(32)}`, as: BOB });
    assert.equal(theirs.status, 404);
    assert.equal(never.status, 404);
    const strip = (reply: typeof never) => reply.json<{ detail: string; code: string }>().detail.replace(/[0-9a-f]{32}/, 'T');
    assert.equal(strip(theirs), strip(never), "someone else's ticket answers exactly as one that never existed");
    for (const action of [
      { method: 'DELETE', path: `/jobs/${accepted.ticket}` },
      { method: 'POST', path: `/jobs/${accepted.ticket}/cancel` },
      { method: 'GET', path: `/jobs/${accepted.ticket}/output` },
    ]) assert.equal((await httpRequest(server.apiSocket, { ...action, as: BOB })).status, 404, `${action.method} ${action.path}`);
    // Garbage tickets: a clean 400 (414 for one longer than a path parameter may be), never a server error.
    for (const garbage of ['nope', 'G'.repeat(32), `${'a'.repeat(32)}.x`, '%00', 'a'.repeat(200)]) {
      const reply = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${garbage}`, as: ALICE });
      assert.ok([400, 404, 414].includes(reply.status), `${garbage}: ${reply.status}`);
      // (fastify answers 414 itself, before any route.)
      if (reply.status !== 414) assert.match(reply.headers['content-type']!, /^application\/problem\+json/);
    }
    const closed = await httpRequest(server.apiSocket, { method: 'DELETE', path: `/jobs/${accepted.ticket}`, as: ALICE });
    assert.equal(closed.status, 200);
    assert.equal((await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${accepted.ticket}`, as: ALICE })).status, 404);
  });

  it('refuses at submit, never accepts and loses: a missing function, one the tenant may not call, a function its library lacks', async () => {
    const missing = await fnjailAs(server, ALICE, ['jobs', 'submit', 'nothing-here']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no function named 'nothing-here' is registered .*\[FNJ_FUNCTION_NOT_FOUND\]/);
    const denied = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic', as: BOB });
    assert.equal(denied.status, 403);
    assert.equal(denied.json<{ code: string }>().code, 'FNJ_DENIED');
    const lacks = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&function=solve', as: ALICE });
    assert.equal(lacks.status, 404);
    const both = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&bundle=true', as: ALICE });
    assert.equal(both.status, 400);
    const tooMany = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&replicas=101', as: ALICE });
    assert.equal(tooMany.status, 400);
    // Carol may call alice's functions: her job runs, as carol.
    const ticket = await submit(['basic'], CAROL);
    const done = await jobOf(server, CAROL, ticket, 30_000);
    assert.deepEqual([done.state, done.tenant], ['COMPLETED', 'carol']);
    // None of the refused submits left a job behind.
    const listed = await fnjailAs(server, BOB, ['jobs', 'list']);
    assert.equal(listed.stdout, 'no jobs (fnjail jobs submit NAME submits one)\n');
  });

  it('not enough free slots: later jobs WAIT and are served in submit order; cancel stops a running job and withdraws a waiting one', async () => {
    const from = server.logs.length;
    const blocker = await submit(['lifecycle', '--function', 'sleep_long']);
    await waitForJob(server, ALICE, blocker, (v) => v.state === 'RUNNING');
    const later: string[] = [];
    for (let i = 0; i < 4; i++) later.push(await submit(['basic', ...(i === 1 ? ['--replicas', '2'] : [])]));
    const withdrawn = later.splice(2, 1)[0]!;
    for (const ticket of [...later, withdrawn]) assert.equal((await jobOf(server, ALICE, ticket)).state, 'WAITING');
    // Cancelled while it waits: it never runs.
    const cancelWaiting = await fnjailAs(server, ALICE, ['jobs', 'cancel', withdrawn]);
    assert.equal(cancelWaiting.status, 0, cancelWaiting.stderr);
    assert.equal(cancelWaiting.stdout, `${withdrawn}: cancelled\n`);
    const cancelledView = await jobOf(server, ALICE, withdrawn);
    assert.equal(cancelledView.state, 'INVALID');
    assert.deepEqual(cancelledView.replicas.map((r) => [r.outcome, r.reasons]), [['cancelled', ['cancelled by uid 4611 (gid 4611) while it waited']]]);
    // Cancelled while it runs: its sandbox is killed, the next job starts.
    assert.equal((await fnjailAs(server, ALICE, ['jobs', 'cancel', blocker])).status, 0);
    const stopped = await jobOf(server, ALICE, blocker);
    assert.equal(stopped.replicas[0]!.outcome, 'cancelled');
    assert.match(stopped.replicas[0]!.reasons[0]!, /^cancelled by uid 4611 \(gid 4611\) while it ran on node node-a$/);
    for (const ticket of later) assert.equal((await jobOf(server, ALICE, ticket, 30_000)).state, 'COMPLETED');
    // The order the replicas started in, as the audit log says: the submit order.
    const starts = server.logs.slice(from).filter((l) => l.event === 'job-state' && l.to === 'RUNNING' && l.replica !== null).map((l) => `${l.ticket}#${l.replica}`);
    assert.deepEqual(starts, [`${blocker}#1`, `${later[0]}#1`, `${later[1]}#1`, `${later[1]}#2`, `${later[2]}#1`]);
    // The cancelled run's call ended cancelled-by-kill, not after its minute of sleep.
    const cancelledRecord = (await waitForLogs(server, (l) => l.event === 'job-state' && l.ticket === blocker && l.replica === 1 && l.to === 'INVALID', { from }))[0]!;
    assert.equal(cancelledRecord.outcome, 'cancelled');
    const waited = await fnjailAs(server, ALICE, ['jobs', 'wait', blocker]);
    assert.equal(waited.status, 1, 'wait: exit 1 for an INVALID job');
    assert.match(waited.stdout, /^[0-9a-f]{32}: INVALID\n/);
  });

  it('a replica that crashes makes the ticket INVALID with its reason, and stops the other; retrieve gives the reason and closes', async () => {
    const ticket = await submit(['lifecycle', '--function', 'crash', '--replicas', '2']);
    const view = await jobOf(server, ALICE, ticket, 30_000);
    assert.equal(view.state, 'INVALID');
    assert.equal(view.replicas[0]!.outcome, 'signal');
    assert.match(view.replicas[0]!.reasons[0]!, /^killed by signal 11 \(SIGSEGV/);
    // One slot: replica 2 waited when replica 1 crashed; it was stopped, never run.
    assert.equal(view.replicas[1]!.outcome, 'stopped');
    assert.deepEqual(view.replicas[1]!.history.map((h) => h.state), ['WAITING', 'INVALID']);
    const out = fs.mkdtempSync(path.join(area.root, 'crash-'));
    fs.chmodSync(out, 0o777);
    const retrieved = await fnjailAs(server, ALICE, ['jobs', 'retrieve', ticket, '--out', out]);
    assert.equal(retrieved.status, 1);
    assert.match(retrieved.stdout, /^replica 1: INVALID \(signal\): killed by signal 11 \(SIGSEGV.* -> .*replica-1\.out\nreplica 2: INVALID \(stopped\): stopped: replica 1 of the job is invalid \(signal\) -> .*\n[0-9a-f]{32}: INVALID; closed\n$/);
    assert.match(fs.readFileSync(path.join(out, 'replica-1.out'), 'utf8'), /^about to crash\nError: .* could not be executed\.\nReason: killed by signal 11/);
    assert.equal(fs.readFileSync(path.join(out, 'replica-2.out'), 'utf8'), '');
  });

  it('a bundle job runs make run in the build sandbox: its output, and a build that fails is INVALID "build-failed"', async () => {
    const good = makeRunBundle(area, '#include <stdio.h>\nint main(void) { printf("hello from make run\\n"); return 0; }\n');
    const ticket = await submit(['--bundle', good, '--replicas', '2']);
    const view = await jobOf(server, ALICE, ticket, 50_000);
    assert.equal(view.state, 'COMPLETED', JSON.stringify(view));
    assert.equal(view.kind, 'bundle');
    const output = await fnjailAs(server, ALICE, ['jobs', 'output', ticket, '--replica', '2']);
    assert.match(output.stdout, /hello from make run\n$/);
    const broken = makeRunBundle(area, 'int main(void) { return syntax error; }\n');
    const failed = await jobOf(server, ALICE, await submit(['--bundle', broken]), 50_000);
    assert.equal(failed.state, 'INVALID');
    assert.equal(failed.replicas[0]!.outcome, 'build-failed');
    assert.match(failed.replicas[0]!.reasons[0]!, /^the build failed: make: \*\*\* \[Makefile:2: prog\] Error 1$/);
    // Carol may not deploy: a bundle job (a build) is refused at submit.
    const refused = await fnjailAs(server, CAROL, ['jobs', 'submit', '--bundle', good]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /a bundle job builds and runs its bundle, as a deploy builds one: .*\[FNJ_DENIED\]/);
  });

  it("a tenant's full queue refuses the submit whole, with the reason", async () => {
    const blocker = await submit(['lifecycle', '--function', 'sleep_long']);
    await waitForJob(server, ALICE, blocker, (v) => v.state === 'RUNNING');
    // Six unfinished replicas at most: the blocker and five.
    const five = await submit(['basic', '--replicas', '5']);
    const full = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic', as: ALICE });
    assert.equal(full.status, 429);
    // A coded problem, and when to try again.
    assert.match(full.headers['content-type']!, /^application\/problem\+json/);
    assert.match(full.headers['retry-after'] ?? '', /^[1-9][0-9]*$/, JSON.stringify(full.headers));
    const problem = full.json<{ code: string; detail: string; status: number }>();
    assert.equal(problem.code, 'FNJ_JOBS_FULL');
    assert.equal(problem.status, 429);
    assert.match(problem.detail, /^the job queue is full for tenant 'alice': it has 6 replicas waiting or running, its limit \(--job-queue-per-tenant\)$/);

    // The statistics and /metrics show the queue: five waiting, one running (the node's and the whole queue's).
    const { jobs } = await waitForStats(server, (s) => s.jobs?.queued === 5 && s.jobs.queueRunning === 1 && s.jobs.running === 1);
    assert.equal(jobs!.slots, 1);
    const metrics = await httpRequest(server.apiSocket, { method: 'GET', path: '/metrics', as: ALICE });
    assert.equal(metrics.status, 200);
    for (const line of ['fnjail_job_slots 1', 'fnjail_jobs_running 1', 'fnjail_job_queue_waiting 5', 'fnjail_job_queue_running 1']) assert.ok(metrics.body.toString().split('\n').includes(line), line);
    // fnjail stats, as root on the classic socket.
    const text = spawnSync(process.execPath, [cliMain, 'stats', '--socket', server.socket], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^jobs {8}1 running of 1 slot; queue 5 waiting, 1 running; /m);
    // A job of two replicas when one would fit: refused whole, nothing of it left in the queue.
    await fnjailAs(server, ALICE, ['jobs', 'close', five]);
    const three = await submit(['basic', '--replicas', '3']);
    const two = await httpRequest(server.apiSocket, { method: 'POST', path: '/jobs?name=basic&replicas=3', as: ALICE });
    assert.equal(two.status, 429);
    // Bob's queue is his own.
    const bobs = await libraryBundle(area, 'bobs', 'libbasic.so', ['run']);
    assert.equal((await fnjailAs(server, BOB, ['deploy', bobs])).status, 0);
    const bobTicket = await submit(['bobs'], BOB);
    assert.equal((await jobOf(server, BOB, bobTicket)).state, 'WAITING');
    await fnjailAs(server, ALICE, ['jobs', 'close', blocker]);
    assert.equal((await jobOf(server, ALICE, three, 30_000)).state, 'COMPLETED');
    assert.equal((await jobOf(server, BOB, bobTicket, 30_000)).state, 'COMPLETED');
  });

  it('writes an audit record for every submit, refusal, state change and close, valid against the schema', async () => {
    const validate = schemaValidator('audit-event');
    const records = server.logs.filter((l) => typeof l.event === 'string' && String(l.event).startsWith('job-'));
    for (const record of records) assert.ok(validate(record), `${JSON.stringify(record)}: ${JSON.stringify(validate.errors)}`);
    const kinds = new Set(records.map((r) => `${r.event}:${r.event === 'job-state' ? r.to : (r.outcome ?? '')}`));
    for (const kind of ['job-submit:ok', 'job-submit:denied', 'job-submit:error', 'job-state:RUNNING', 'job-state:COMPLETED', 'job-state:INVALID', 'job-close:']) assert.ok(kinds.has(kind), kind);
    // One record per change, each a line of its own, even where a replica's
    // change and its ticket's are written together: a completed one-replica job
    // has exactly these four, in this order.
    const completed = records.find((r) => r.event === 'job-state' && r.replica === null && r.to === 'COMPLETED' && records.filter((o) => o.ticket === r.ticket && o.event === 'job-state').length === 4);
    assert.ok(completed, 'a one-replica job that completed');
    const states = records.filter((r) => r.event === 'job-state' && r.ticket === completed.ticket).map((r) => `${r.replica ?? 'ticket'}:${r.from}->${r.to}`);
    assert.deepEqual(states, ['1:WAITING->RUNNING', 'ticket:WAITING->RUNNING', '1:RUNNING->COMPLETED', 'ticket:RUNNING->COMPLETED']);
    // The statistics count them (fnjail stats, /metrics).
    const { jobs } = await waitForStats(server, (s) => s.jobs !== undefined && s.jobs.running === 0);
    assert.equal(jobs!.slots, 1);
    assert.ok(jobs!.submitted >= 10 && jobs!.refused >= 3 && jobs!.tickets.COMPLETED >= 5 && jobs!.tickets.INVALID >= 3, JSON.stringify(jobs));
    assert.ok(jobs!.replicas.ok! >= 10 && jobs!.replicas.cancelled! >= 2 && jobs!.waitMs !== null, JSON.stringify(jobs));
    // Run times by outcome: of replicas that ran (the crashed one), not of those stopped before they started.
    assert.ok(jobs!.runMsByOutcome.ok!.count >= 10 && jobs!.runMsByOutcome.ok!.p50 > 0 && jobs!.runMsByOutcome.signal!.count >= 1, JSON.stringify(jobs));
    assert.equal(jobs!.runMsByOutcome.stopped, undefined, JSON.stringify(jobs));
    // The same numbers in /metrics: outcomes, tickets, submits, wait and run time histograms (run time by outcome).
    const metrics = (await httpRequest(server.apiSocket, { method: 'GET', path: '/metrics', as: ALICE })).body.toString().split('\n');
    const sample = (series: string) => {
      const line = metrics.find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} in /metrics`);
      return Number(line.slice(series.length + 1));
    };
    for (const [outcome, count] of Object.entries(jobs!.replicas)) assert.equal(sample(`fnjail_job_replicas_total{outcome="${outcome}"}`), count, outcome);
    assert.equal(sample('fnjail_job_tickets_total{state="COMPLETED"}'), jobs!.tickets.COMPLETED);
    assert.equal(sample('fnjail_job_tickets_total{state="INVALID"}'), jobs!.tickets.INVALID);
    assert.equal(sample('fnjail_jobs_submitted_total{result="accepted"}'), jobs!.submitted);
    assert.equal(sample('fnjail_jobs_submitted_total{result="refused"}'), jobs!.refused);
    assert.ok(sample('fnjail_job_wait_duration_seconds_count') >= jobs!.submitted);
    assert.equal(sample('fnjail_job_wait_duration_seconds_bucket{le="+Inf"}'), sample('fnjail_job_wait_duration_seconds_count'));
    for (const [outcome, run] of Object.entries(jobs!.runMsByOutcome)) {
      assert.equal(sample(`fnjail_job_run_duration_seconds_count{outcome="${outcome}"}`), run.count, outcome);
      assert.equal(sample(`fnjail_job_run_duration_seconds_bucket{outcome="${outcome}",le="+Inf"}`), run.count, outcome);
    }
    assert.ok(metrics.includes('# TYPE fnjail_job_run_duration_seconds histogram'));
  });
});
