// renderMetrics, fed through Stats's public methods as the server feeds it.
// Every output is also read back by a strict parser of the text exposition
// format 0.0.4 (below): a line Prometheus would reject fails the test, not a
// scrape in production.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutcomeKind } from '../../../src/executor/classify.js';
import type { ExecutionResult } from '../../../src/executor/executor.js';
import type { LaunchResult } from '../../../src/launcher/protocol.js';
import { renderMetrics, type MetricsContext } from '../../../src/metrics/prometheus.js';
import type { ClusterFigures } from '../../../src/cluster/cluster-counters.js';
import { NO_TENANT, Stats, type RunningExecution } from '../../../src/metrics/stats.js';
import type { Change, JobOutcome, JobState } from '../../../src/jobs/job-record.js';

const context: MetricsContext = { policyHash: 'abc123', launcherPid: undefined, launcherRestarts: 0, version: '0.1.0' };

/** A request answered: only the fields Stats reads matter. */
function finish(stats: Stats, tenant: string | undefined, kind: OutcomeKind, times: { totalMs: number; queueMs?: number; runUs?: number }): void {
  const launch = times.runUs === undefined ? undefined : ({ runUs: times.runUs } as LaunchResult);
  stats.finished({ tenant, kind, totalMs: times.totalMs, queueMs: times.queueMs ?? 0, launch } as ExecutionResult);
}

function execution(request: string, tenant: string, library: string): RunningExecution {
  return { request, tenant, uid: 1000, library, function: 'solve', startedAt: Date.now() };
}

/** Renders, checks the whole page with the strict parser, returns lines and samples. */
function render(stats: Stats, ctx: MetricsContext = context): { text: string; lines: string[]; page: Page } {
  const text = renderMetrics(stats, ctx);
  return { text, lines: text.split('\n'), page: parseExposition(text) };
}

describe('renderMetrics', () => {
  it('counts executions by tenant and outcome, and times every request', () => {
    const stats = new Stats();
    for (let i = 0; i < 5; i++) finish(stats, 'alice', 'ok', { totalMs: 2, queueMs: 0.1, runUs: 1500 });
    for (let i = 0; i < 2; i++) finish(stats, 'alice', 'signal', { totalMs: 3, queueMs: 0.1, runUs: 2500 });
    const { lines } = render(stats);
    assert.ok(lines.includes('fnjail_executions_total{tenant="alice",outcome="ok"} 5'));
    assert.ok(lines.includes('fnjail_executions_total{tenant="alice",outcome="signal"} 2'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_count 7'));
    assert.ok(lines.includes('fnjail_queue_duration_seconds_count 7'));
    assert.ok(lines.includes('fnjail_run_duration_seconds_count 7'));
    assert.ok(lines.includes('# TYPE fnjail_executions_total counter'));
    assert.ok(lines.includes('# TYPE fnjail_request_duration_seconds histogram'));
  });

  it('labels requests without a tenant with tenant=""', () => {
    const stats = new Stats();
    finish(stats, undefined, 'bad-request', { totalMs: 0.1 });
    finish(stats, NO_TENANT, 'denied', { totalMs: 0.1 });
    const { lines } = render(stats);
    assert.ok(lines.includes('fnjail_executions_total{tenant="",outcome="denied"} 1'));
    assert.ok(lines.includes('fnjail_executions_total{tenant="",outcome="bad-request"} 1'));
  });

  it('lists series in a stable order: tenants by name, outcomes in OUTCOMES order', () => {
    const stats = new Stats();
    finish(stats, 'bob', 'timeout', { totalMs: 1 });
    finish(stats, 'bob', 'ok', { totalMs: 1 });
    finish(stats, 'alice', 'exit', { totalMs: 1 });
    const rows = render(stats).lines.filter((l) => l.startsWith('fnjail_executions_total{'));
    assert.deepEqual(rows, [
      'fnjail_executions_total{tenant="alice",outcome="exit"} 1',
      'fnjail_executions_total{tenant="bob",outcome="ok"} 1',
      'fnjail_executions_total{tenant="bob",outcome="timeout"} 1',
    ]);
  });

  it('writes cumulative buckets with the usual le values, ending with +Inf = count', () => {
    const stats = new Stats();
    for (const ms of [0.2, 0.7, 3, 3, 2000, 120_000]) finish(stats, 'alice', 'ok', { totalMs: ms });
    const { lines, page } = render(stats);
    const buckets = lines.filter((l) => l.startsWith('fnjail_request_duration_seconds_bucket'));
    assert.deepEqual(
      buckets.map((l) => /le="([^"]*)"/.exec(l)![1]),
      ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf'],
    );
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="0.0005"} 1'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="0.001"} 2'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="0.0025"} 2'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="0.005"} 4'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="1"} 4'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="2.5"} 5'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="60"} 5'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_bucket{le="+Inf"} 6'));
    assert.ok(lines.includes('fnjail_request_duration_seconds_count 6'));
    const sum = page.value('fnjail_request_duration_seconds_sum');
    assert.ok(Math.abs(sum - 122.0069) < 1e-9, `sum ${sum}`);
  });

  it('times queue and run only for requests that reached the launcher', () => {
    const stats = new Stats();
    finish(stats, 'alice', 'denied', { totalMs: 0.3 });
    finish(stats, 'alice', 'ok', { totalMs: 5, queueMs: 1, runUs: 3000 });
    const { lines, page } = render(stats);
    assert.ok(lines.includes('fnjail_request_duration_seconds_count 2'));
    assert.ok(lines.includes('fnjail_queue_duration_seconds_count 1'));
    assert.ok(lines.includes('fnjail_queue_duration_seconds_sum 0.001'));
    assert.ok(lines.includes('fnjail_run_duration_seconds_count 1'));
    assert.ok(lines.includes('fnjail_run_duration_seconds_sum 0.003'));
    assert.equal(page.value('fnjail_run_duration_seconds_bucket', { le: '0.0025' }), 0);
    assert.equal(page.value('fnjail_run_duration_seconds_bucket', { le: '0.005' }), 1);
  });

  it('shows running and queued executions by tenant, and calls by library', () => {
    const stats = new Stats();
    stats.enqueued('alice');
    stats.enqueued('alice');
    stats.enqueued('bob');
    stats.dequeued('alice');
    stats.started(execution('1', 'alice', '/lib/libbasic.so'));
    stats.started(execution('2', 'alice', '/lib/libbasic.so'));
    stats.started(execution('3', 'bob', '/lib/libother.so'));
    stats.ended('2');
    const { lines } = render(stats);
    for (const line of [
      'fnjail_executions_running{tenant="alice"} 1',
      'fnjail_executions_running{tenant="bob"} 1',
      'fnjail_executions_queued{tenant="alice"} 1',
      'fnjail_executions_queued{tenant="bob"} 1',
      'fnjail_library_calls_total{library="/lib/libbasic.so"} 2',
      'fnjail_library_calls_total{library="/lib/libother.so"} 1',
      'fnjail_library_executions_running{library="/lib/libbasic.so"} 1',
      'fnjail_library_executions_running{library="/lib/libother.so"} 1',
    ]) {
      assert.ok(lines.includes(line), line);
    }
  });

  it('escapes backslashes, double quotes and line feeds in label values', () => {
    const stats = new Stats();
    const tenant = 'a"b\\c\nd';
    finish(stats, tenant, 'ok', { totalMs: 1 });
    stats.started(execution('1', tenant, '/tmp/we"ird\\lib\n.so'));
    const { lines, page } = render(stats, { ...context, policyHash: 'h"\\\n' });
    assert.ok(lines.includes('fnjail_executions_total{tenant="a\\"b\\\\c\\nd",outcome="ok"} 1'));
    assert.ok(lines.includes('fnjail_library_calls_total{library="/tmp/we\\"ird\\\\lib\\n.so"} 1'));
    assert.ok(lines.includes('fnjail_build_info{version="0.1.0",policy_hash="h\\"\\\\\\n"} 1'));
    // And the parser reads the original values back.
    assert.equal(page.value('fnjail_executions_total', { tenant, outcome: 'ok' }), 1);
    assert.equal(page.value('fnjail_library_calls_total', { library: '/tmp/we"ird\\lib\n.so' }), 1);
  });

  it('gives connections, policy reloads, launcher restarts, start time and build info', () => {
    const stats = new Stats();
    stats.connectionOpened();
    stats.connectionOpened();
    stats.connectionOpened();
    stats.connectionClosed();
    stats.connectionsRefused = 4;
    stats.policyReloads = 2;
    stats.policyRejected = 1;
    const { lines, page } = render(stats, { ...context, launcherRestarts: 3 });
    for (const line of [
      'fnjail_clients_connected 2',
      'fnjail_connections_total 3',
      'fnjail_connections_refused_total 4',
      'fnjail_policy_reloads_total{result="ok"} 2',
      'fnjail_policy_reloads_total{result="rejected"} 1',
      'fnjail_launcher_restarts_total 3',
      'fnjail_build_info{version="0.1.0",policy_hash="abc123"} 1',
      `process_start_time_seconds ${stats.startedAt / 1000}`,
    ]) {
      assert.ok(lines.includes(line), line);
    }
    const rss = page.value('process_resident_memory_bytes');
    assert.ok(Number.isInteger(rss) && rss > 1_000_000, `rss ${rss}`);
  });

  it("gives the launcher's memory when it runs, no sample when it does not", () => {
    const stats = new Stats();
    // Our own process stands in for the launcher: any live pid will do.
    const live = render(stats, { ...context, launcherPid: process.pid }).page;
    assert.ok(live.value('fnjail_launcher_resident_memory_bytes') > 1_000_000);
    for (const launcherPid of [undefined, 2 ** 30]) {
      const { lines, page } = render(stats, { ...context, launcherPid });
      assert.equal(page.samples.filter((s) => s.name === 'fnjail_launcher_resident_memory_bytes').length, 0);
      assert.ok(lines.includes('# TYPE fnjail_launcher_resident_memory_bytes gauge'));
    }
  });

  it('always declares every family, even before the first request', () => {
    const { page, text } = render(new Stats());
    assert.deepEqual([...page.types], [
      ['fnjail_executions_total', 'counter'],
      ['fnjail_executions_running', 'gauge'],
      ['fnjail_executions_queued', 'gauge'],
      ['fnjail_request_duration_seconds', 'histogram'],
      ['fnjail_queue_duration_seconds', 'histogram'],
      ['fnjail_run_duration_seconds', 'histogram'],
      ['fnjail_library_calls_total', 'counter'],
      ['fnjail_library_executions_running', 'gauge'],
      ['fnjail_job_slots', 'gauge'],
      ['fnjail_jobs_running', 'gauge'],
      ['fnjail_job_queue_waiting', 'gauge'],
      ['fnjail_job_queue_running', 'gauge'],
      ['fnjail_jobs_submitted_total', 'counter'],
      ['fnjail_job_replicas_total', 'counter'],
      ['fnjail_job_tickets_total', 'counter'],
      ['fnjail_job_wait_duration_seconds', 'histogram'],
      ['fnjail_job_run_duration_seconds', 'histogram'],
      ['fnjail_clients_connected', 'gauge'],
      ['fnjail_connections_total', 'counter'],
      ['fnjail_connections_refused_total', 'counter'],
      ['fnjail_requests_throttled_total', 'counter'],
      ['fnjail_policy_reloads_total', 'counter'],
      ['fnjail_launcher_restarts_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['fnjail_launcher_resident_memory_bytes', 'gauge'],
      ['process_start_time_seconds', 'gauge'],
      ['fnjail_build_info', 'gauge'],
    ]);
    for (const name of page.types.keys()) assert.ok(page.help.has(name), `HELP for ${name}`);
    assert.ok(text.includes('fnjail_request_duration_seconds_bucket{le="+Inf"} 0\n'));
    assert.ok(text.includes('fnjail_request_duration_seconds_sum 0\n'));
    assert.equal(page.samples.filter((s) => s.name === 'fnjail_executions_total').length, 0);
    // The queue not reached yet: no sample (unknown), rather than a 0.
    assert.equal(page.samples.filter((s) => s.name.startsWith('fnjail_job_queue_')).length, 0);
  });

  it('jobs: slots, runs, the queue, outcomes, tickets, wait time, and run time by outcome', () => {
    const stats = new Stats();
    const jobs = stats.jobs;
    jobs.slots = 4;
    jobs.running = 2;
    jobs.queued = 7;
    jobs.queueRunning = 3;
    jobs.submitted = 9;
    jobs.refused = 1;
    const change = (replica: number | undefined, from: JobState, to: JobState, afterMs: number, outcome?: JobOutcome): Change => ({ ticket: 't', replica, from, to, node: 'a', attempt: 1, outcome, reasons: [], note: undefined, afterMs });
    jobs.changed([change(1, 'WAITING', 'RUNNING', 4), change(undefined, 'WAITING', 'RUNNING', 4)]);
    jobs.changed([change(1, 'RUNNING', 'COMPLETED', 20), change(undefined, 'RUNNING', 'COMPLETED', 20)]);
    jobs.changed([change(2, 'WAITING', 'RUNNING', 2000), change(2, 'RUNNING', 'INVALID', 3000, 'timeout'), change(3, 'WAITING', 'INVALID', 1, 'stopped'), change(undefined, 'RUNNING', 'INVALID', 3000, 'timeout')]);
    const { page } = render(stats);
    assert.equal(page.value('fnjail_job_slots'), 4);
    assert.equal(page.value('fnjail_jobs_running'), 2);
    assert.equal(page.value('fnjail_job_queue_waiting'), 7);
    assert.equal(page.value('fnjail_job_queue_running'), 3);
    assert.equal(page.value('fnjail_jobs_submitted_total', { result: 'accepted' }), 9);
    assert.equal(page.value('fnjail_jobs_submitted_total', { result: 'refused' }), 1);
    assert.equal(page.value('fnjail_job_replicas_total', { outcome: 'ok' }), 1);
    assert.equal(page.value('fnjail_job_replicas_total', { outcome: 'timeout' }), 1);
    assert.equal(page.value('fnjail_job_replicas_total', { outcome: 'stopped' }), 1);
    assert.equal(page.value('fnjail_job_tickets_total', { state: 'COMPLETED' }), 1);
    assert.equal(page.value('fnjail_job_tickets_total', { state: 'INVALID' }), 1);
    assert.equal(page.value('fnjail_job_wait_duration_seconds_count'), 2);
    assert.equal(page.value('fnjail_job_wait_duration_seconds_bucket', { le: '0.005' }), 1);
    // Run time by outcome: only replicas that ran (the stopped one never did).
    assert.equal(page.value('fnjail_job_run_duration_seconds_count', { outcome: 'ok' }), 1);
    assert.equal(page.value('fnjail_job_run_duration_seconds_sum', { outcome: 'timeout' }), 3);
    assert.equal(page.samples.filter((s) => s.name === 'fnjail_job_run_duration_seconds_count' && s.labels.outcome === 'stopped').length, 0);
    const snapshot = jobs.snapshot();
    assert.deepEqual(Object.keys(snapshot.runMsByOutcome), ['ok', 'timeout']);
    assert.deepEqual([snapshot.runMsByOutcome.timeout!.count, snapshot.runMsByOutcome.timeout!.p50], [1, 3000]);
    assert.deepEqual([snapshot.queued, snapshot.queueRunning], [7, 3]);
  });

  it("shows the cluster as this node sees it: members by state, calls forwarded both ways; node names only with the token", () => {
    const figures: ClusterFigures = {
      members: [
        { node: 'node-a', state: 'up', heartbeatAgeMs: 250 },
        { node: 'node-b', state: 'up', heartbeatAgeMs: 1500 },
        { node: 'node-c', state: 'down', heartbeatAgeMs: null },
      ],
      ran: { sent: new Map([['ok', 3], ['node-lost', 1]]), received: new Map([['exit', 2]]) },
      notStarted: { sent: new Map([['refused', 4]]), received: new Map() },
      coordinatorChanges: 2,
      rejectedMessages: 1,
    };
    const { lines, page } = render(new Stats(), { ...context, cluster: () => figures });
    for (const line of [
      'fnjail_cluster_members{state="joining"} 0',
      'fnjail_cluster_members{state="up"} 2',
      'fnjail_cluster_members{state="down"} 1',
      'fnjail_cluster_heartbeat_age_seconds{node="node-a"} 0.25',
      'fnjail_cluster_heartbeat_age_seconds{node="node-b"} 1.5',
      'fnjail_cluster_forwarded_calls_total{direction="sent",outcome="node-lost"} 1',
      'fnjail_cluster_forwarded_calls_total{direction="sent",outcome="ok"} 3',
      'fnjail_cluster_forwarded_calls_total{direction="received",outcome="exit"} 2',
      'fnjail_cluster_forwarded_not_started_total{direction="sent",reason="refused"} 4',
      'fnjail_cluster_coordinator_changes_total 2',
      'fnjail_cluster_rejected_messages_total 1',
    ]) assert.ok(lines.includes(line), line);
    assert.ok(!page.samples.some((s) => s.name === 'fnjail_cluster_heartbeat_age_seconds' && s.labels.node === 'node-c'), 'no age for a node not heard from');
    const plain = renderMetrics(new Stats(), { ...context, cluster: () => figures }, false);
    assert.doesNotMatch(plain, /node-[abc]/, 'no node named without the token');
    assert.match(plain, /^fnjail_cluster_members\{state="up"\} 2$/m);
    assert.doesNotMatch(render(new Stats()).text, /fnjail_cluster_/, 'a node in no cluster shows none');
  });

  it('a busy page passes the strict parser', () => {
    const stats = new Stats();
    const kinds: OutcomeKind[] = ['ok', 'exit', 'signal', 'timeout', 'limit', 'seccomp', 'load-error', 'missing-function', 'denied', 'bad-request', 'server-error'];
    for (let i = 0; i < 200; i++) {
      const tenant = ['alice', 'bob', undefined, 'team "x"'][i % 4];
      stats.started(execution(String(i), tenant ?? NO_TENANT, `/lib/lib${i % 7}.so`));
      if (i % 3) stats.ended(String(i));
      finish(stats, tenant, kinds[i % kinds.length]!, { totalMs: i * 37.3, queueMs: i % 5, runUs: i * 1000 });
    }
    const { page } = render(stats, { ...context, launcherPid: process.pid, launcherRestarts: 1 });
    assert.equal(page.value('fnjail_request_duration_seconds_count'), 200);
    const total = page.samples.filter((s) => s.name === 'fnjail_executions_total').reduce((n, s) => n + s.value, 0);
    assert.equal(total, 200);
  });
});

describe('the strict exposition parser', () => {
  // The parser is only worth something if it rejects what it should.
  const bad: Array<[string, string, RegExp]> = [
    ['a sample without TYPE', 'foo_total 1\n', /no TYPE line before/],
    ['TYPE after the samples', '# TYPE foo_total counter\nfoo_total 1\n# TYPE foo_total counter\n', /second TYPE/],
    ['missing final line feed', '# TYPE foo_total counter\nfoo_total 1', /end with a line feed/],
    ['bad metric name', '# TYPE 1foo gauge\n', /not a HELP or TYPE line/],
    ['bad label name', '# TYPE foo gauge\nfoo{1a="x"} 1\n', /bad label name/],
    ['unescaped quote', '# TYPE foo gauge\nfoo{a="x"y"} 1\n', /expected , or }/],
    ['bad escape', '# TYPE foo gauge\nfoo{a="x\\ty"} 1\n', /bad escape/],
    ['bad value', '# TYPE foo gauge\nfoo 1,5\n', /bad value/],
    ['a timestamp', '# TYPE foo gauge\nfoo 1 1700000000000\n', /bad value/],
    ['unknown type', '# TYPE foo summary\n', /unknown type/],
    ['counter without _total', '# TYPE foo counter\n', /must end in _total/],
    ['duplicate series', '# TYPE foo gauge\nfoo{a="1"} 1\nfoo{a="1"} 2\n', /duplicate series/],
    ['split family', '# TYPE foo gauge\nfoo 1\n# TYPE bar gauge\nbar 1\nfoo{a="1"} 1\n', /not all together/],
    ['empty line', '# TYPE foo gauge\n\nfoo 1\n', /bad metric name/],
    ['other comment', '# hello\n', /not a HELP or TYPE line/],
    ['bucket without le', '# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n', /le belongs on _bucket/],
    ['buckets not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not cumulative/],
    ['+Inf bucket != count', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n', /!= _count/],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no \+Inf bucket/],
  ];
  for (const [what, text, reason] of bad) it(`rejects: ${what}`, () => assert.throws(() => parseExposition(text), reason));

  it('accepts a valid page', () => {
    const page = parseExposition('# HELP h a \\\\ help\\n line\n# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.7\nh_count 2\n# TYPE g gauge\ng{a="x\\"y",b=""} -1.5e3\n');
    assert.equal(page.value('g', { a: 'x"y', b: '' }), -1500);
  });
});

// ---------------------------------------------------------------------------
// A strict reader of the text exposition format 0.0.4, as fnjail writes it:
// no timestamps, no untyped or summary metrics, no empty lines, no comments
// other than HELP and TYPE. It throws on the first line that is not valid.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Page {
  samples: Sample[];
  /** Family name -> type, in the order of the TYPE lines. */
  types: Map<string, string>;
  help: Map<string, string>;
  /** The value of one series (exact labels); throws when there is none. */
  value(name: string, labels?: Record<string, string>): number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const NUMBER = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

function parseExposition(text: string): Page {
  if (!text.endsWith('\n')) throw new Error('the page must end with a line feed');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const seenSeries = new Set<string>();
  const closedFamilies = new Set<string>();
  let currentFamily: string | undefined;
  const enterFamily = (family: string, where: string) => {
    if (family === currentFamily) return;
    if (closedFamilies.has(family)) throw new Error(`${where}: lines of ${family} are not all together`);
    if (currentFamily !== undefined) closedFamilies.add(currentFamily);
    currentFamily = family;
  };

  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1} "${line}"`;
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
        if (!m) throw new Error(`${where}: not a HELP or TYPE line`);
        const [, keyword, name, rest] = m as unknown as [string, string, string, string];
        enterFamily(name, where);
        if (keyword === 'HELP') {
          if (help.has(name)) throw new Error(`${where}: second HELP for ${name}`);
          if (!/^(?:[^\\]|\\[\\n])*$/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
          help.set(name, rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
        } else {
          if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
          if (samples.some((s) => familyOf(s.name, types) === name)) throw new Error(`${where}: TYPE after samples`);
          if (!['counter', 'gauge', 'histogram'].includes(rest)) throw new Error(`${where}: unknown type "${rest}"`);
          if (rest === 'counter' && !name.endsWith('_total')) throw new Error(`${where}: a counter's name must end in _total`);
          types.set(name, rest);
        }
        return;
      }
      const sample = parseSample(line, where);
      const family = familyOf(sample.name, types);
      if (family === undefined) throw new Error(`${where}: no TYPE line before this sample`);
      enterFamily(family, where);
      if (types.get(family) === 'histogram') {
        const isBucket = sample.name === `${family}_bucket`;
        if (sample.name === family) throw new Error(`${where}: a histogram has only _bucket, _sum and _count samples`);
        if (isBucket !== 'le' in sample.labels) throw new Error(`${where}: le belongs on _bucket samples, and only there`);
      }
      const key = seriesKey(sample.name, sample.labels);
      if (seenSeries.has(key)) throw new Error(`${where}: duplicate series`);
      seenSeries.add(key);
      samples.push(sample);
    });

  checkHistograms(samples, types);
  return {
    samples,
    types,
    help,
    value(name, labels = {}) {
      const key = seriesKey(name, labels);
      const found = samples.find((s) => seriesKey(s.name, s.labels) === key);
      if (!found) throw new Error(`no series ${key}`);
      return found.value;
    },
  };
}

function parseSample(line: string, where: string): Sample {
  const nameMatch = METRIC_NAME.exec(line);
  if (!nameMatch) throw new Error(`${where}: bad metric name`);
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const labelMatch = LABEL_NAME.exec(rest);
      if (!labelMatch) throw new Error(`${where}: bad label name`);
      const label = labelMatch[0];
      if (label.startsWith('__')) throw new Error(`${where}: label names starting with __ are reserved`);
      if (label in labels) throw new Error(`${where}: label ${label} twice`);
      rest = rest.slice(label.length);
      if (!rest.startsWith('="')) throw new Error(`${where}: expected =" after ${label}`);
      rest = rest.slice(2);
      let value = '';
      for (;;) {
        const c = rest[0];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const escaped = rest[1];
          if (escaped === '\\' || escaped === '"') value += escaped;
          else if (escaped === 'n') value += '\n';
          else throw new Error(`${where}: bad escape \\${escaped ?? ''} in a label value`);
          rest = rest.slice(2);
        } else {
          value += c;
          rest = rest.slice(1);
        }
      }
      labels[label] = value;
      rest = rest.slice(1);
      if (rest.startsWith(',')) {
        rest = rest.slice(1);
        if (rest.startsWith('}')) throw new Error(`${where}: trailing comma`);
      } else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or } after a label`);
    }
    rest = rest.slice(1);
  }
  if (!rest.startsWith(' ')) throw new Error(`${where}: expected a space before the value`);
  const valueText = rest.slice(1);
  if (!NUMBER.test(valueText)) throw new Error(`${where}: bad value "${valueText}"`);
  return { name, labels, value: valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText) };
}

/** The family a sample belongs to: its own name, or a histogram's minus _bucket/_sum/_count. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const m = /^(.*)_(?:bucket|sum|count)$/.exec(name);
  return m && types.get(m[1]!) === 'histogram' ? m[1] : undefined;
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** Buckets in increasing le, counts cumulative, +Inf last and equal to _count, _sum present. */
function checkHistograms(samples: Sample[], types: Map<string, string>): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le: _, ...rest } = s.labels;
      const key = seriesKey(family, rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      if (les.some((le) => Number.isNaN(le))) throw new Error(`${key}: a le is not a number`);
      for (let i = 1; i < buckets.length; i++) {
        if (!(les[i]! > les[i - 1]!)) throw new Error(`${key}: le not increasing`);
        if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${key}: buckets not cumulative`);
      }
      if (les.at(-1) !== Infinity) throw new Error(`${key}: no +Inf bucket last`);
      const labels = buckets[0]!.labels;
      const { le: _, ...rest } = labels;
      const count = samples.find((s) => seriesKey(s.name, s.labels) === seriesKey(`${family}_count`, rest));
      const sum = samples.find((s) => seriesKey(s.name, s.labels) === seriesKey(`${family}_sum`, rest));
      if (!count || !sum) throw new Error(`${key}: _count or _sum missing`);
      if (buckets.at(-1)!.value !== count.value) throw new Error(`${key}: +Inf bucket ${buckets.at(-1)!.value} != _count ${count.value}`);
    }
    if (series.size === 0 && samples.some((s) => s.name === `${family}_count`)) throw new Error(`${family}: _count without buckets`);
  }
}

describe('the page without the metrics token', () => {
  it('names no tenant and no library: totals by outcome, running and queued', () => {
    const stats = new Stats();
    finish(stats, 'alice', 'ok', { totalMs: 1 });
    finish(stats, 'bob', 'ok', { totalMs: 1 });
    finish(stats, undefined, 'denied', { totalMs: 1 });
    stats.enqueued('alice');
    stats.started(execution('1', 'bob', '/lib/libsecret.so'));
    const text = renderMetrics(stats, context, false);
    const lines = text.split('\n');
    assert.ok(lines.includes('fnjail_executions_total{outcome="ok"} 2'), text);
    assert.ok(lines.includes('fnjail_executions_total{outcome="denied"} 1'), text);
    assert.ok(lines.includes('fnjail_executions_running 1'), text);
    assert.ok(lines.includes('fnjail_executions_queued 1'), text);
    assert.doesNotMatch(text, /alice|bob|libsecret|tenant=|library=/);
  });
});
