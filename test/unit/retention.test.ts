import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { pino } from 'pino';
import { parseDuration } from '../../src/config/duration.js';
import { OutputRetention, type RetentionOptions, type SweepReport } from '../../src/server/retention.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
/** Sizes are what files use on the disk (st_blocks): whole 4 KiB blocks here. */
const K = 4096;

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  return { logger, lines };
}

describe('output retention', () => {
  let root: string;
  let dir: string;
  let now: number;
  let log: ReturnType<typeof capture>;
  let inUse: Set<string>;

  beforeEach(() => {
    root = fs.mkdtempSync('/tmp/fnjail-retention-');
    dir = path.join(root, 'output');
    fs.mkdirSync(dir);
    now = Date.now();
    log = capture();
    inUse = new Set();
  });
  afterEach(() => {
    mock.restoreAll();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Creates dir/name with `size` bytes and an mtime `ageMs` before now (its ctime is now: ages count from the earlier). */
  function file(name: string, ageMs: number, size = 100, where = dir): string {
    const p = path.join(where, name);
    fs.writeFileSync(p, Buffer.alloc(size, 'x'));
    const t = (now - ageMs) / 1000;
    fs.utimesSync(p, t, t);
    return p;
  }
  function retention(options: Partial<RetentionOptions> = {}): OutputRetention {
    return new OutputRetention({
      dir,
      prefix: 'out-',
      suffixLength: 6,
      minAgeMs: MIN,
      intervalMs: H,
      inUse: () => inUse,
      logger: log.logger,
      ...options,
    });
  }
  const left = (): string[] => fs.readdirSync(dir).sort();

  it('removes exactly the files older than maxAgeMs', () => {
    file('out-old001', 2 * H, 3 * K);
    file('out-old002', 25 * H, 2 * K);
    file('out-new001', 59 * MIN, 10 * K);
    file('out-new002', 5 * S, K);
    const reports: SweepReport[] = [];
    const report = retention({ maxAgeMs: H, onSweep: (r) => reports.push(r) }).sweep(now);
    assert.deepEqual(left(), ['out-new001', 'out-new002']);
    assert.equal(report.removed, 2);
    assert.equal(report.removedBytes, 5 * K);
    assert.equal(report.byAge, 2);
    assert.equal(report.bySize, 0);
    assert.equal(report.keptFiles, 2);
    assert.equal(report.keptBytes, 11 * K);
    assert.deepEqual(report.errors, []);
    assert.ok(report.durationMs >= 0);
    assert.deepEqual(reports, [report]);
    const info = log.lines.filter((l) => l.level === 30);
    assert.equal(info.length, 1);
    assert.equal(info[0]!.msg, 'removed 2 output files (20 KiB): 2 older than 1h');
    assert.equal(log.lines.filter((l) => l.level >= 40).length, 0);
  });

  it('logs nothing when nothing was removed, but still reports', () => {
    file('out-new001', MIN, K);
    const reports: SweepReport[] = [];
    const report = retention({ maxAgeMs: H, maxTotalBytes: 10 * K, onSweep: (r) => reports.push(r) }).sweep(now);
    assert.deepEqual(left(), ['out-new001']);
    assert.equal(report.removed, 0);
    assert.equal(report.keptFiles, 1);
    assert.equal(report.keptBytes, K);
    assert.equal(reports.length, 1);
    assert.deepEqual(log.lines, []);
  });

  it('removes the oldest first until the total is under maxTotalBytes', () => {
    // Sizes do not follow ages: the order must come from the mtimes.
    file('out-age050', 50 * MIN, 2 * K);
    file('out-age040', 40 * MIN, 5 * K);
    file('out-age030', 30 * MIN, K);
    file('out-age020', 20 * MIN, 2 * K);
    file('out-age010', 10 * MIN, 2 * K);
    file('out-age001', 30 * S, 2 * K);
    // total 14 K; the limit 6.4 K is reached after removing the 3 oldest (8 K).
    const report = retention({ maxTotalBytes: 6.4 * K, minAgeMs: MIN }).sweep(now);
    assert.deepEqual(left(), ['out-age001', 'out-age010', 'out-age020']);
    assert.equal(report.bySize, 3);
    assert.equal(report.byAge, 0);
    assert.equal(report.removed, 3);
    assert.equal(report.removedBytes, 8 * K);
    assert.equal(report.keptFiles, 3);
    assert.equal(report.keptBytes, 6 * K);
    assert.equal(log.lines[0]!.msg, 'removed 3 output files (32 KiB): 3 to keep the total under 25.6 KiB');
  });

  it('never removes a file younger than minAgeMs for size: the total may stay above', () => {
    file('out-age050', 50 * MIN, K);
    file('out-age020', 20 * MIN, K);
    file('out-age010', 10 * MIN, K);
    file('out-age001', 30 * S, K);
    const report = retention({ maxTotalBytes: 100, minAgeMs: 15 * MIN }).sweep(now);
    assert.deepEqual(left(), ['out-age001', 'out-age010']);
    assert.equal(report.bySize, 2);
    assert.equal(report.keptFiles, 2);
    assert.equal(report.keptBytes, 2 * K);
    assert.ok(report.keptBytes > 100);
    assert.equal(log.lines[0]!.msg, 'removed 2 output files (8 KiB): 2 to keep the total under 100 bytes');
  });

  it('applies age first, then size', () => {
    file('out-age300', 300 * MIN, K);
    file('out-age050', 50 * MIN, K);
    file('out-age040', 40 * MIN, K);
    file('out-age001', 30 * S, K);
    const report = retention({ maxAgeMs: 2 * H, maxTotalBytes: 2.5 * K, minAgeMs: MIN }).sweep(now);
    assert.deepEqual(left(), ['out-age001', 'out-age040']);
    assert.equal(report.byAge, 1);
    assert.equal(report.bySize, 1);
    assert.equal(report.removed, 2);
    assert.equal(log.lines[0]!.msg, 'removed 2 output files (8 KiB): 1 older than 2h, 1 to keep the total under 10 KiB');
  });

  it('never removes a file in use, however old; it counts in the total', () => {
    const busy = file('out-busy01', 100 * H, 2 * K);
    file('out-idle01', 100 * H, 2 * K);
    file('out-idle02', 50 * MIN, 2 * K);
    inUse.add(busy);
    const report = retention({ maxAgeMs: H, maxTotalBytes: 0, minAgeMs: 0 }).sweep(now);
    assert.deepEqual(left(), ['out-busy01']);
    assert.equal(report.byAge, 1);
    assert.equal(report.bySize, 1);
    assert.equal(report.keptFiles, 1);
    assert.equal(report.keptBytes, 2 * K);
    // However the directory is spelled in the in-use path.
    inUse.clear();
    inUse.add(path.join(root, '.', 'output', '..', 'output', 'out-busy01'));
    retention({ maxAgeMs: H, maxTotalBytes: 0, minAgeMs: 0 }).sweep(now);
    assert.deepEqual(left(), ['out-busy01']);
    // Once the reply is sent, it goes.
    inUse.clear();
    retention({ maxAgeMs: H, minAgeMs: 0 }).sweep(now);
    assert.deepEqual(left(), []);
  });

  it('never touches other files, directories or symlinks, nor what a symlink points to', () => {
    const elsewhere = path.join(root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const target = file('out-target', 100 * H, 100, elsewhere);
    const keep = ['out-abc', 'out-abcdefg', 'xut-abcdef', 'out-abc.de', 'out-abc-de', 'OUT-abcdef', 'notes.txt'];
    for (const name of keep) file(name, 100 * H, 100);
    fs.mkdirSync(path.join(dir, 'out-dir123'));
    fs.utimesSync(path.join(dir, 'out-dir123'), (now - 100 * H) / 1000, (now - 100 * H) / 1000);
    fs.symlinkSync(target, path.join(dir, 'out-link01'));
    fs.symlinkSync(path.join(root, 'missing'), path.join(dir, 'out-dang01'));
    for (const link of ['out-link01', 'out-dang01']) fs.lutimesSync(path.join(dir, link), (now - 100 * H) / 1000, (now - 100 * H) / 1000);
    file('out-Real01', 100 * H, 100);
    const report = retention({ maxAgeMs: H, maxTotalBytes: 0, minAgeMs: 0 }).sweep(now);
    assert.deepEqual(left(), [...keep, 'out-dang01', 'out-dir123', 'out-link01'].sort());
    assert.equal(report.removed, 1);
    assert.equal(report.keptFiles, 0);
    assert.equal(report.keptBytes, 0);
    assert.equal(fs.readlinkSync(path.join(dir, 'out-link01')), target);
    assert.equal(fs.readFileSync(target, 'utf8'), 'x'.repeat(100));
    assert.ok(fs.lstatSync(path.join(dir, 'out-dir123')).isDirectory());
  });

  it('takes a file vanishing between readdir and unlink, or before lstat, in its stride', () => {
    file('out-gone01', 100 * H, 100);
    file('out-stay01', 100 * H, 100);
    const lstat = fs.lstatSync;
    mock.method(fs, 'lstatSync', (p: fs.PathLike) => {
      const stat = lstat(p);
      if (path.basename(String(p)) === 'out-gone01') fs.unlinkSync(p); // a client removed it meanwhile
      return stat;
    });
    const readdir = fs.readdirSync;
    mock.method(fs, 'readdirSync', (p: fs.PathLike) => [...(readdir(p) as string[]), 'out-ghost1']);
    const report = retention({ maxAgeMs: H }).sweep(now);
    mock.restoreAll();
    assert.deepEqual(left(), []);
    assert.deepEqual(report.errors, []);
    assert.equal(report.removed, 1);
    assert.equal(report.byAge, 1);
    assert.equal(log.lines.filter((l) => l.level >= 40).length, 0);
  });

  it('counts a file vanishing during the size pass as gone, not as removed', () => {
    file('out-age050', 50 * MIN, K);
    file('out-age040', 40 * MIN, K);
    file('out-age030', 30 * MIN, K);
    const lstat = fs.lstatSync;
    mock.method(fs, 'lstatSync', (p: fs.PathLike) => {
      const stat = lstat(p);
      if (path.basename(String(p)) === 'out-age050') fs.unlinkSync(p);
      return stat;
    });
    const report = retention({ maxTotalBytes: 2 * K, minAgeMs: 0 }).sweep(now);
    mock.restoreAll();
    // Its vanishing brought the total to the limit: nothing else goes.
    assert.deepEqual(left(), ['out-age030', 'out-age040']);
    assert.equal(report.removed, 0);
    assert.equal(report.bySize, 0);
    assert.equal(report.keptFiles, 2);
    assert.equal(report.keptBytes, 2 * K);
    assert.deepEqual(report.errors, []);
    assert.deepEqual(log.lines, []);
  });

  it('reports and logs a file it cannot remove, and goes on with the next', () => {
    file('out-stuck1', 100 * H, K);
    file('out-age050', 50 * MIN, K);
    file('out-age040', 40 * MIN, K);
    const unlink = fs.unlinkSync;
    mock.method(fs, 'unlinkSync', (p: fs.PathLike) => {
      if (path.basename(String(p)) === 'out-stuck1') throw Object.assign(new Error(`EBUSY: resource busy, unlink '${p}'`), { code: 'EBUSY' });
      unlink(p);
    });
    const report = retention({ maxAgeMs: H, maxTotalBytes: 2 * K, minAgeMs: 0 }).sweep(now);
    mock.restoreAll();
    // The stuck file stays and counts; the size pass does not retry it and removes the next oldest.
    assert.deepEqual(left(), ['out-age040', 'out-stuck1']);
    assert.equal(report.removed, 1);
    assert.equal(report.bySize, 1);
    assert.equal(report.byAge, 0);
    assert.equal(report.keptFiles, 2);
    assert.equal(report.keptBytes, 2 * K);
    assert.equal(report.errors.length, 1);
    assert.match(report.errors[0]!, /cannot remove .*out-stuck1: EBUSY/);
    const warn = log.lines.filter((l) => l.level === 40);
    assert.equal(warn.length, 1);
    assert.match(warn[0]!.msg, /out-stuck1/);
  });

  describe('owners cannot steer it', () => {
    const TENANT_A = 4701;
    const TENANT_B = 4702;
    function owned(name: string, owner: number, ageMs: number, size: number): string {
      const p = file(name, ageMs, size);
      fs.chownSync(p, owner, owner);
      return p;
    }

    it('counts the space a file uses, not the size its owner gave it: a sparse terabyte is nothing, a reserved megabyte is a megabyte', () => {
      const sparse = owned('out-sparse', TENANT_A, 2 * MIN, 0);
      fs.truncateSync(sparse, 1024 ** 4);
      const tenYearsAhead = (now + 10 * 365 * 24 * H) / 1000;
      fs.utimesSync(sparse, tenYearsAhead, tenYearsAhead);
      for (let i = 0; i < 4; i++) owned(`out-bfile${i}`, TENANT_B, 2 * MIN, 4 * K);
      const report = retention({ maxTotalBytes: 1024 ** 2, minAgeMs: MIN }).sweep(now);
      assert.equal(report.removed, 0, "the other tenant's files stay: together they are under the limit");
      assert.equal(left().length, 5);

      const reserved = owned('out-reserv', TENANT_A, 2 * MIN, 0);
      const fallocate = spawnSync('fallocate', ['--keep-size', '--length', '2MiB', reserved]);
      assert.equal(fallocate.status, 0, `fallocate: ${fallocate.stderr}`);
      assert.equal(fs.statSync(reserved).size, 0);
      fs.utimesSync(reserved, (now - 2 * MIN) / 1000, (now - 2 * MIN) / 1000);
      const second = retention({ maxTotalBytes: 1024 ** 2, minAgeMs: MIN }).sweep(now);
      assert.deepEqual(left().filter((n) => n.startsWith('out-b')).length, 4, 'B, under its share, loses nothing');
      assert.ok(!left().includes('out-reserv'), 'the file that reserved 2 MiB goes');
      assert.equal(second.removed, 1);
    });

    it('ages a file from its last change whatever mtime its owner sets', () => {
      const future = owned('out-future', TENANT_A, 0, K);
      const ahead = (now + 10 * 365 * 24 * H) / 1000;
      fs.utimesSync(future, ahead, ahead);
      const report = retention({ maxAgeMs: H }).sweep(now + 2 * H);
      assert.equal(report.byAge, 1);
      assert.deepEqual(left(), []);
    });

    it('takes space back from the owners above their share, the heaviest first, never from one within its share', () => {
      for (let i = 0; i < 10; i++) owned(`out-afile${i}`, TENANT_A, (30 - i) * MIN, 16 * K);
      owned('out-bfile0', TENANT_B, 100 * MIN, 4 * K); // the oldest file of all
      owned('out-bfile1', TENANT_B, 90 * MIN, 4 * K);
      // 168 K in all; the limit 96 K gives each owner 48 K.
      const report = retention({ maxTotalBytes: 96 * K, minAgeMs: MIN }).sweep(now);
      assert.deepEqual(left().filter((n) => n.startsWith('out-b')), ['out-bfile0', 'out-bfile1']);
      // A's oldest go until the total is under the limit: 160 - 96 + 8 = 72 K, 5 files of 16 K.
      assert.deepEqual(left().filter((n) => n.startsWith('out-a')), ['out-afile5', 'out-afile6', 'out-afile7', 'out-afile8', 'out-afile9']);
      assert.equal(report.bySize, 5);
      assert.equal(report.keptBytes, 88 * K);
    });

    it('leaves an owner within its share alone when the heaviest has nothing removable yet', () => {
      for (let i = 0; i < 4; i++) owned(`out-afile${i}`, TENANT_A, 0, 64 * K); // all younger than minAgeMs
      owned('out-bfile0', TENANT_B, 100 * MIN, 4 * K);
      const report = retention({ maxTotalBytes: 64 * K, minAgeMs: MIN }).sweep(now);
      assert.equal(report.removed, 0);
      assert.ok(left().includes('out-bfile0'));
      assert.equal(report.keptBytes, 260 * K, 'the total stays above the limit, and the report says so');
    });
  });

  it('does not throw when the directory is missing', () => {
    const report = retention({ dir: path.join(root, 'missing'), maxAgeMs: H }).sweep(now);
    assert.equal(report.removed, 0);
    assert.equal(report.errors.length, 1);
    assert.match(report.errors[0]!, /cannot list .*missing: ENOENT/);
    assert.equal(log.lines.filter((l) => l.level === 40).length, 1);
  });

  it('sweeps 20,000 files in bounded time', () => {
    for (let i = 0; i < 20_000; i++) fs.writeFileSync(path.join(dir, `out-${String(i).padStart(6, '0')}`), 'x');
    const report = retention({ maxAgeMs: 1000 * H, maxTotalBytes: 1_000_000 }).sweep(now);
    assert.equal(report.keptFiles, 20_000);
    assert.equal(report.keptBytes, 20_000 * K);
    assert.ok(report.durationMs < 3000, `took ${report.durationMs} ms`);
  });

  it('sweeps on its own once started, and stops', async () => {
    const reports: SweepReport[] = [];
    const r = retention({ maxAgeMs: H, intervalMs: 20, onSweep: (x) => reports.push(x) });
    file('out-old001', 2 * H);
    r.start();
    r.start(); // idempotent: still one set of timers
    try {
      const deadline = Date.now() + 5000;
      while (fs.existsSync(path.join(dir, 'out-old001')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(left(), []);
      while (reports.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(reports.length >= 3, `${reports.length} sweeps`);
    } finally {
      r.stop();
    }
    const count = reports.length;
    file('out-old002', 2 * H);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(reports.length, count);
    assert.deepEqual(left(), ['out-old002']);
  });

  it('holds no timer that keeps the process alive', () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const r = retention({ maxAgeMs: H, intervalMs: H });
    r.start();
    try {
      assert.equal(timers(), before);
    } finally {
      r.stop();
    }
  });

  it('does not keep the process alive once started', () => {
    const module = new URL('../../src/server/retention.js', import.meta.url).href;
    const script = `
      import { OutputRetention } from ${JSON.stringify(module)};
      const logger = { info() {}, warn() {} };
      new OutputRetention({ dir: ${JSON.stringify(dir)}, prefix: 'out-', suffixLength: 6, minAgeMs: 0, maxAgeMs: 3600000,
        intervalMs: 3600000, inUse: () => new Set(), logger }).start();
      console.log('started');
    `;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(child.stderr, '');
    assert.equal(child.stdout, 'started\n');
    assert.equal(child.signal, null, 'the child had to be killed: the timers keep the process alive');
    assert.equal(child.status, 0);
    assert.ok(Date.now() - started < 10_000);
  });

  it('rejects inconsistent options with clear messages', () => {
    assert.throws(() => retention({ maxAgeMs: 30 * S, minAgeMs: MIN }), {
      message: 'output retention: the maximum age (30s) must not be below the minimum age (1m) a file is kept for its client',
    });
    assert.throws(() => retention({ intervalMs: 0 }), { message: 'output retention: the sweep interval must be above 0 ms, not 0' });
    assert.throws(() => retention({ intervalMs: -5 }), /sweep interval must be above 0 ms, not -5/);
    assert.throws(() => retention({ intervalMs: Number.NaN }), /sweep interval must be above 0 ms/);
    assert.throws(() => retention({ intervalMs: 30 * 24 * H }), /sweep interval must be at most 24d20h31m24s, not 30d/);
    assert.throws(() => retention({ suffixLength: 0 }), /suffixLength must be a positive integer/);
    assert.throws(() => retention({ minAgeMs: -1 }), /minimum age must be 0 or more/);
    assert.throws(() => retention({ maxTotalBytes: -1 }), /maximum total size must be 0 or more/);
    assert.doesNotThrow(() => retention({ maxAgeMs: MIN, minAgeMs: MIN }));
  });
});

describe('parseDuration', () => {
  it('reads a bare number as seconds (as systemd and nsjail do), and strings with units', () => {
    assert.equal(parseDuration(30), 30_000);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(1.5), 1500);
    assert.equal(parseDuration('30'), 30_000, '--shutdown-grace 30 is half a minute, not 30 ms');
    assert.equal(parseDuration('0.25'), 250);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('15m'), 15 * 60_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('1d12h'), 36 * 3_600_000);
    assert.equal(parseDuration(' 1h 30m '), 90 * 60_000);
    assert.equal(parseDuration('1.5h'), 90 * 60_000);
    assert.equal(parseDuration('1m30s'), 90_000);
  });

  it('rejects anything else with a clear message, naming the units when one is unknown', () => {
    const examples = '(e.g. 30 (seconds), "500ms", "90s", "15m", "12h", "7d", "1d12h")';
    for (const bad of ['', ' ', 'abc', '-5s', 'h', '1d12', '1.s', '1e3', '5 s h']) {
      assert.throws(() => parseDuration(bad), { message: `'${bad}' is not a duration ${examples}` }, bad);
    }
    for (const [bad, unit] of [['5 minutes', 'minutes'], ['5x', 'x'], ['10sec', 'sec']]) {
      assert.throws(() => parseDuration(bad!), { message: `'${bad}' is not a duration: the units are ms, s, m, h and d, not '${unit}' ${examples}` }, bad);
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => parseDuration(bad), /is not a duration/);
  });
});
