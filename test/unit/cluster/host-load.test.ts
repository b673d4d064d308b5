// The figures a heartbeat carries (src/cluster/host-load.ts): /proc/stat and
// /proc/meminfo read right, the node's cgroup CPU counter found for cgroup v1
// and v2, and a real sample within bounds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cgroupCpuCounter, HostLoadSampler, parseMeminfo, parseProcStat } from '../../../src/cluster/host-load.js';

describe('host load', () => {
  it('reads the cpu line of /proc/stat: busy and total jiffies (iowait counts as idle)', () => {
    assert.deepEqual(parseProcStat('cpu  10 2 3 100 5 1 1 0 0 0\ncpu0 1 2 3 4\n'), { busy: 17, total: 122 });
    assert.throws(() => parseProcStat('intr 1 2\n'), /cpu line/);
  });

  it('reads MemTotal and MemAvailable in bytes', () => {
    assert.deepEqual(parseMeminfo('MemTotal:       16000 kB\nMemFree:  1 kB\nMemAvailable:    8000 kB\n'), { totalBytes: 16000 * 1024, availableBytes: 8000 * 1024 });
    assert.throws(() => parseMeminfo('MemTotal: 1 kB\n'), /MemAvailable/);
  });

  it("finds the node's cgroup CPU counter: v1 cpuacct, or v2 cpu.stat", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-cgroup-'));
    try {
      fs.mkdirSync(path.join(root, 'cpuacct', 'svc', 'fnjail'), { recursive: true });
      fs.writeFileSync(path.join(root, 'cpuacct', 'svc', 'fnjail', 'cpuacct.usage'), '12345\n');
      assert.deepEqual(cgroupCpuCounter('4:memory:/x\n2:cpuacct:/svc/fnjail\n0::/\n', root), { file: `${root}/cpuacct/svc/fnjail/cpuacct.usage`, unit: 'ns' });
      fs.rmSync(path.join(root, 'cpuacct'), { recursive: true });
      fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory\n');
      fs.mkdirSync(path.join(root, 'system.slice', 'fnjail.service'), { recursive: true });
      fs.writeFileSync(path.join(root, 'system.slice', 'fnjail.service', 'cpu.stat'), 'usage_usec 99\n');
      assert.deepEqual(cgroupCpuCounter('0::/system.slice/fnjail.service\n', root), { file: `${root}/system.slice/fnjail.service/cpu.stat`, unit: 'us' });
      assert.equal(cgroupCpuCounter('0::/elsewhere\n', root), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('samples this machine: fractions within 0..1, the memory /proc/meminfo has', () => {
    const sampler = new HostLoadSampler();
    // Some CPU time in between, so the deltas are not all zero.
    const until = performance.now() + 50;
    while (performance.now() < until);
    const sample = sampler.sample();
    assert.ok(sample.cpu.host >= 0 && sample.cpu.host <= 1);
    if (sample.cpu.node !== undefined) assert.ok(sample.cpu.node > 0 && sample.cpu.node <= 1, `node cpu ${sample.cpu.node}`);
    assert.equal(sample.cpu.cores, os.cpus().length);
    assert.equal(sample.memory.totalBytes, parseMeminfo(fs.readFileSync('/proc/meminfo', 'utf8')).totalBytes);
    assert.equal(sample.memory.usedBytes, sample.memory.totalBytes - sample.memory.availableBytes);
    assert.equal(sample.load.length, 3);
  });
});
