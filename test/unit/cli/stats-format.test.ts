// What `fnjail stats` and `fnjail top` print for hand-made snapshots: the lines
// an operator reads (outcomes, latency, the running table, left-truncated paths).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStats } from '../../../src/cli/stats.js';
import { clean, formatUptime, truncateLeft } from '../../../src/cli/stats-format.js';
import { formatElapsed, formatTop } from '../../../src/cli/top.js';
import { OUTCOMES, type StatsSnapshot } from '../../../src/metrics/stats.js';

const LIB = '/srv/fnjail/libraries/customer-uploads/libslow.so';

function snapshot(): StatsSnapshot {
  const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as StatsSnapshot['executions']['byOutcome'];
  byOutcome.ok = 95;
  byOutcome.timeout = 3;
  byOutcome.denied = 2;
  return {
    time: '2024-05-01T12:34:56.000Z',
    startedAt: '2024-05-01T10:31:52.000Z',
    uptimeSeconds: 7384,
    clients: { connected: 3, total: 120, refused: 2 },
    executions: { total: 100, running: 2, queued: 1, byOutcome },
    tenants: [
      { tenant: null, running: 0, queued: 0, total: 2, byOutcome: { denied: 2 } },
      { tenant: 'alice', running: 1, queued: 1, total: 60, byOutcome: { ok: 58, timeout: 2 } },
      { tenant: 'bob', running: 1, queued: 0, total: 38, byOutcome: { ok: 37, timeout: 1 } },
    ],
    latencyMs: { window: 100, p50: 1.234, p90: 12.34, p99: 250.4, max: 12_500 },
    libraries: [
      { library: LIB, running: 1, calls: 70 },
      { library: '/usr/lib/fnjail/libhello.so', running: 1, calls: 30 },
    ],
    running: [
      { request: 'a1b2c3d4-7', tenant: 'bob', uid: 4502, library: '/usr/lib/fnjail/libhello.so', function: 'run', startedAt: 0, elapsedMs: 300 },
      { request: 'a1b2c3d4-5', tenant: 'alice', uid: 4501, library: LIB, function: 'sleep_long', startedAt: 0, elapsedMs: 1500 },
    ],
    memory: { serverRssBytes: 52 * 1024 * 1024, launcherRssBytes: 3.5 * 1024 * 1024 },
    policy: { hash: '0123456789abcdef0123456789abcdef', reloads: 2, rejected: 1 },
    launcher: { pid: 1234, restarts: 0 },
  };
}

function lines(text: string): string[] {
  assert.ok(text.endsWith('\n'));
  return text.slice(0, -1).split('\n');
}

describe('formatStats', () => {
  it('prints the summary fields', () => {
    const out = lines(formatStats(snapshot()));
    assert.equal(out[0], 'uptime      2h 03m 04s (since 2024-05-01T10:31:52.000Z)');
    assert.ok(out.includes('clients     3 connected, 120 since start, 2 refused'));
    assert.ok(out.includes('executions  100 total, 2 running, 1 queued'));
    assert.ok(out.includes('latency     p50 1.23 ms  p90 12.3 ms  p99 250 ms  max 12.5 s  (last 100 requests)'));
    assert.ok(out.includes('memory      server 52 MiB, launcher 3.5 MiB'));
    assert.ok(out.includes('policy      0123456789ab, 2 reloads, 1 rejected'));
    assert.ok(out.includes('launcher    pid 1234, 0 restarts'));
  });

  it('lists only the outcomes that happened, in the usual order', () => {
    const out = lines(formatStats(snapshot()));
    const start = out.indexOf('executions  100 total, 2 running, 1 queued');
    assert.deepEqual(out.slice(start + 1, start + 4), ['  ok       95', '  timeout  3', '  denied   2']);
    assert.match(out[start + 4]!, /^latency/);
    assert.ok(!out.some((l) => /^\s+(exit|signal|seccomp|limit)\b/.test(l)));
  });

  it('shows "-" for a latency not measured yet and a launcher that is gone', () => {
    const s = snapshot();
    s.latencyMs = null;
    s.memory.launcherRssBytes = null;
    s.launcher.pid = null;
    const out = lines(formatStats(s));
    assert.ok(out.includes('latency     p50 -  p90 -  p99 -  max -'));
    assert.ok(out.includes('memory      server 52 MiB, launcher -'));
    assert.ok(out.includes('launcher    pid -, 0 restarts'));
  });

  it('prints tenants (no tenant as "(none)") and libraries by calls', () => {
    const out = lines(formatStats(snapshot()));
    const t = out.indexOf('tenants:');
    assert.deepEqual(out.slice(t + 1, t + 5), [
      '  TENANT  RUNNING  QUEUED  TOTAL',
      '  (none)        0       0      2',
      '  alice         1       1     60',
      '  bob           1       0     38',
    ]);
    const l = out.indexOf('libraries (by calls):');
    assert.deepEqual(out.slice(l + 1), ['  CALLS  RUNNING  LIBRARY', `     70        1  ${LIB}`, '     30        1  /usr/lib/fnjail/libhello.so']);
  });
});

describe('formatTop', () => {
  it('prints the header lines', () => {
    const out = lines(formatTop(snapshot(), 120));
    assert.deepEqual(out.slice(0, 5), [
      'fnjail top - 12:34:56 up 2h 03m 04s, 3 clients',
      'executions: 2 running, 1 queued, 100 total (95 ok, 5 failed)',
      'latency: p50 1.23 ms, p99 250 ms',
      'memory: server 52 MiB, launcher 3.5 MiB',
      '',
    ]);
  });

  it('lists running executions longest first, library last', () => {
    const out = lines(formatTop(snapshot(), 120));
    assert.equal(out[5], 'REQUEST     TENANT   UID  ELAPSED  FUNCTION    LIBRARY');
    assert.equal(out[6], `a1b2c3d4-5  alice   4501     1.5s  sleep_long  ${LIB}`);
    assert.equal(out[7], 'a1b2c3d4-7  bob     4502     0.3s  run         /usr/lib/fnjail/libhello.so');
    assert.deepEqual(out.slice(8), ['', 'TENANT  RUNNING  QUEUED  TOTAL', '(none)        0       0      2', 'alice         1       1     60', 'bob           1       0     38']);
  });

  it('cuts long libraries from the left to fit the width', () => {
    const out = lines(formatTop(snapshot(), 60));
    const prefix = 'a1b2c3d4-5  alice   4501     1.5s  sleep_long  ';
    assert.equal(out[6], `${prefix}…s/libslow.so`);
    assert.equal(out[6]!.length, 60);
    for (const line of out) assert.ok(line.length <= 60, line);
  });

  it('says so when nothing runs, and shows "-" for unknown latency', () => {
    const s = snapshot();
    s.running = [];
    s.latencyMs = null;
    const out = lines(formatTop(s, 120));
    assert.equal(out[2], 'latency: p50 -, p99 -');
    assert.equal(out[5], 'no executions running');
  });

  it('escapes control characters a client put in a library path', () => {
    const s = snapshot();
    s.running[1]!.library = '/tmp/\x1b[2Jevil.so';
    const text = formatTop(s, 120);
    assert.ok(!text.includes('\x1b'));
    assert.ok(text.includes('/tmp/\\x1b[2Jevil.so'));
  });
});

describe('small formatters', () => {
  it('formats durations and truncates', () => {
    assert.deepEqual([42, 125, 7384, 270_000].map(formatUptime), ['42s', '2m 05s', '2h 03m 04s', '3d 3h 00m']);
    assert.deepEqual([1500, 59_990, 125_000, 3_725_000].map(formatElapsed), ['1.5s', '1m00s', '2m05s', '1h02m']);
    assert.equal(truncateLeft('/a/b/c/lib.so', 8), '…/lib.so');
    assert.equal(truncateLeft('short', 8), 'short');
    assert.equal(clean('a\tb\u202ec'), 'a\\x09b\\u202ec');
  });
});
