// Live statistics of a real server: after 5 ok calls and 2 crashes, `fnjail
// stats`, the `stats` session command and /metrics all say so; `fnjail top`
// shows a call while it runs; only root and the policy's monitors may look.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StatsSnapshot } from '../../src/metrics/stats.js';
import { cliAs } from '../helpers/as-user.js';
import { callClassic, callSession } from '../helpers/client.js';
import { cliMain } from '../helpers/environment.js';
import { startServer, waitForLog, waitForStats, type TestServer } from '../helpers/server.js';

const MONITOR = 4521;
const METRICS_TOKEN = 'a-secret-token-for-the-scraper';
const NOT_MONITOR = 4520;

/** The CLI, as root or as another uid; asynchronous, so that calls of the test go on meanwhile. */
function fnjail(args: string[], as?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = as === undefined ? [process.execPath, cliMain, ...args] : cliAs({ uid: as, gid: as }, args);
  return new Promise((resolve) => {
    execFile(command[0]!, command.slice(1), { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe('live statistics', () => {
  let server: TestServer;
  let metricsUrl: string;
  const lib = (name: string) => path.join(server.area.libDir, name);
  const stats = async (as?: number): Promise<StatsSnapshot> => {
    const result = await fnjail(['stats', '--json', '--socket', server.socket], as);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as StatsSnapshot;
  };

  before(async () => {
    server = await startServer({
      policy: (area) => ({ monitors: { uids: [MONITOR] }, defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 1500 } } }),
      args: (area) => {
        const token = path.join(area.root, 'metrics.token');
        fs.writeFileSync(token, `${METRICS_TOKEN}\n`, { mode: 0o600 });
        return ['--metrics', '127.0.0.1:0', '--metrics-token', token];
      },
    });
    const start = await waitForLog(server, (l) => l.event === 'server-start');
    metricsUrl = String(start.metrics);
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    for (let i = 0; i < 5; i++) await callClassic(server.socket, lib('libbasic.so'));
    for (let i = 0; i < 2; i++) await callClassic(server.socket, `${lib('liblifecycle.so')} crash`);
  });
  after(() => server.stop());

  it('fnjail stats counts what was done, by outcome, tenant and library', async () => {
    const s = await stats();
    assert.equal(s.executions.total, 7);
    assert.equal(s.executions.byOutcome.ok, 5);
    assert.equal(s.executions.byOutcome.signal, 2);
    assert.equal(s.executions.running, 0);
    assert.deepEqual(
      s.tenants.map((t) => [t.tenant, t.total, t.byOutcome]),
      [['default', 7, { ok: 5, signal: 2 }]],
    );
    assert.deepEqual(
      s.libraries.map((l) => [l.library, l.calls, l.running]),
      [
        [lib('libbasic.so'), 5, 0],
        [lib('liblifecycle.so'), 2, 0],
      ],
    );
    assert.equal(s.latencyMs?.window, 7);
    assert.ok(s.latencyMs!.p50 > 0 && s.latencyMs!.p50 <= s.latencyMs!.max);
    assert.ok(s.clients.total >= 7 && s.clients.connected >= 1);
    assert.ok(s.memory.serverRssBytes > 10e6 && Number(s.memory.launcherRssBytes) > 0);
    assert.equal(s.launcher.restarts, 0);
    assert.match(s.policy.hash, /^[0-9a-f]{64}$/);
  });

  it('the human summary says the same', async () => {
    const result = await fnjail(['stats', '--socket', server.socket]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\bok\b.*\b5\b/);
    assert.match(result.stdout, /\bsignal\b.*\b2\b/);
  });

  it('/metrics has the totals for anyone, and names no tenant and no library', async () => {
    const response = await fetch(metricsUrl);
    assert.equal(response.status, 200);
    const text = await response.text();
    const lines = text.split('\n');
    assert.ok(lines.includes('fnjail_executions_total{outcome="ok"} 5'), text);
    assert.ok(lines.includes('fnjail_executions_total{outcome="signal"} 2'), text);
    assert.ok(lines.includes('fnjail_executions_running 0'), text);
    assert.doesNotMatch(text, /tenant=|library=|default|libbasic/);
    // A wrong token is no token.
    const wrong = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).text();
    assert.doesNotMatch(wrong, /tenant=|library=/);
  });

  it('/metrics with the token has the same numbers as stats, by tenant and library', async () => {
    const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const lines = text.split('\n');
    assert.ok(lines.includes('fnjail_executions_total{tenant="default",outcome="ok"} 5'), text);
    assert.ok(lines.includes('fnjail_executions_total{tenant="default",outcome="signal"} 2'), text);
    assert.ok(lines.includes('fnjail_request_duration_seconds_count 7'), text);
    assert.ok(lines.includes('fnjail_run_duration_seconds_count 7'), text);
    assert.ok(lines.includes(`fnjail_library_calls_total{library="${lib('libbasic.so')}"} 5`), text);
    assert.ok(lines.includes('fnjail_launcher_restarts_total 0'), text);
  });

  it('answers stats in its turn within a session', async () => {
    const replies = await callSession(server.socket, [lib('libbasic.so'), 'stats', lib('libbasic.so'), 'stats']);
    assert.equal(replies.length, 4);
    const [first, second] = [JSON.parse(replies[1]!) as StatsSnapshot, JSON.parse(replies[3]!) as StatsSnapshot];
    assert.equal(second.executions.total, first.executions.total + 1);
  });

  it("shows the statistics to the policy's monitors, and to nobody else", async () => {
    assert.equal((await stats(MONITOR)).executions.byOutcome.ok >= 5, true);
    const refused = await fnjail(['stats', '--socket', server.socket], NOT_MONITOR);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /stats: uid 4520 \(gid 4520\) may not see the server's statistics \(root and the policy's monitors may\)/);
  });
});

describe('fnjail top', () => {
  let server: TestServer;
  before(async () => {
    // A call that runs until the server stops it: top has all the time it needs, however loaded the machine.
    server = await startServer({ policy: (area) => ({ defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 600_000 } } }), args: ['--shutdown-grace', '0'] });
  });
  after(() => server.stop());

  it('shows a call while it runs', async () => {
    const lib = path.join(server.area.libDir, 'liblifecycle.so');
    const running = callClassic(server.socket, `${lib} sleep_long`);
    running.catch(() => undefined); // cancelled when the server stops
    await waitForStats(server, (s) => s.executions.running === 1);
    const top = await fnjail(['top', '--once', '--socket', server.socket]);
    assert.equal(top.code, 0, top.stderr);
    const row = top.stdout.split('\n').find((line) => line.includes('sleep_long'));
    assert.ok(row, top.stdout);
    assert.match(row, /\bdefault\b/);
    assert.match(row, /\b0\b/, 'the uid of the caller (root)');
    assert.match(row, /liblifecycle\.so$/);
  });
});
