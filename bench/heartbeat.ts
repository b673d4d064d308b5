// npm run bench:heartbeat: what a node's part in the cluster costs in CPU —
// heartbeats sent once a second, everyone's heartbeats received and checked,
// the member table followed, the lease polled — against the same processes
// connected to NATS and doing nothing (the baseline), in the same run.
//
//   node dist/bench/heartbeat.js [--nodes N] [--seconds N] [--rounds N]
//
// Each variant starts N node processes (heartbeat-node.ts) on one nats-server,
// waits until they are ready (cluster: every node sees every other up), lets
// them settle, then reads their CPU time (utime + stime, /proc/<pid>/stat)
// and the nats-server's over --seconds. The variants take turns, --rounds
// times. Writes bench/results/heartbeat.json and heartbeat.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { startTestNatsServer, type TestNatsServer } from '../test/helpers/nats.js';
import { onCleanup, runBench } from './cleanup.js';
import { log } from './progress.js';

const USAGE = `usage: npm run bench:heartbeat [-- --nodes N] [--seconds N] [--rounds N]

  --nodes N    node processes per variant (default 3)
  --seconds N  measuring window per variant and round (default 30)
  --rounds N   rounds; the variants take turns in each (default 2)
Must run as root (the nats-server's directory is under /var/lib). Writes
bench/results/heartbeat.json and heartbeat.md.
`;

interface Variant {
  name: string;
  mode: 'idle' | 'cluster';
  heartbeatMs: number;
}

const VARIANTS: Variant[] = [
  { name: 'connected, idle (baseline)', mode: 'idle', heartbeatMs: 1000 },
  { name: 'cluster member, heartbeat 1 s (default)', mode: 'cluster', heartbeatMs: 1000 },
  { name: 'cluster member, heartbeat 0.1 s', mode: 'cluster', heartbeatMs: 100 },
];

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

interface Measure {
  variant: string;
  round: number;
  /** CPU of one node process, as a share of one core (mean over the nodes). */
  nodeCore: number;
  /** The nats-server's, as a share of one core. */
  brokerCore: number;
}

async function startNodes(server: TestNatsServer, variant: Variant, count: number): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const config = { url: server.url, user: 'bench', password: 'bench', node: `bench-${i}`, mode: variant.mode, heartbeatMs: variant.heartbeatMs };
    const child = spawn(process.execPath, [path.join(packageRoot, 'dist', 'bench', 'heartbeat-node.js'), JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, BENCH_NODES: String(count) },
    });
    children.push(child);
  }
  await Promise.all(children.map((child) => new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`a bench node exited (${code}) before it was ready`)));
  })));
  return children;
}

async function measure(server: TestNatsServer, variant: Variant, count: number, seconds: number, round: number): Promise<Measure> {
  const children = await startNodes(server, variant, count);
  const stop = onCleanup('bench nodes', () => children.forEach((c) => c.kill('SIGKILL')));
  try {
    // Settled: past the start's own work (module loading, bucket creation).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const pids = children.map((c) => c.pid!);
    const before = pids.map(cpuTicks);
    const brokerBefore = cpuTicks(server.process.pid);
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const elapsed = (performance.now() - started) / 1000;
    const used = pids.map((pid, i) => (cpuTicks(pid) - before[i]!) / TICKS_PER_SECOND);
    const brokerUsed = (cpuTicks(server.process.pid) - brokerBefore) / TICKS_PER_SECOND;
    return { variant: variant.name, round, nodeCore: used.reduce((a, b) => a + b, 0) / used.length / elapsed, brokerCore: brokerUsed / elapsed };
  } finally {
    for (const child of children) {
      child.stdin!.end();
      child.kill('SIGTERM');
      await once(child, 'exit').catch(() => undefined);
    }
    stop();
  }
}

const pct = (core: number) => `${(core * 100).toFixed(2)} %`;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const nodes = Number(values.nodes ?? 3);
  const seconds = Number(values.seconds ?? 30);
  const rounds = Number(values.rounds ?? 2);
  const dir = fs.mkdtempSync('/var/lib/fnjail-bench-heartbeat-');
  onCleanup('bench directory', () => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await startTestNatsServer(dir, { authorization: { user: 'bench', password: 'bench' } });
  onCleanup('nats-server', () => server.stop());
  const measures: Measure[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const variant of round % 2 ? VARIANTS : [...VARIANTS].reverse()) {
      log(`${variant.name}: ${nodes} nodes, ${seconds} s, round ${round}/${rounds}`);
      const m = await measure(server, variant, nodes, seconds, round);
      log(`  node ${pct(m.nodeCore)} of a core, nats-server ${pct(m.brokerCore)}`);
      measures.push(m);
    }
  }
  const summary = VARIANTS.map((v) => {
    const mine = measures.filter((m) => m.variant === v.name);
    return { variant: v.name, heartbeatMs: v.heartbeatMs, mode: v.mode, nodeCore: median(mine.map((m) => m.nodeCore)), brokerCore: median(mine.map((m) => m.brokerCore)) };
  });
  const baseline = summary[0]!;
  const cost = (s: (typeof summary)[number]) => s.nodeCore - baseline.nodeCore;
  const perHeartbeatUs = (cost(summary[2]!) / (1000 / summary[2]!.heartbeatMs)) * 1e6;
  const result = {
    time: new Date().toISOString(),
    nodes,
    seconds,
    rounds,
    summary,
    heartbeatCostCore: cost(summary[1]!),
    perHeartbeatUs,
    goal: 'heartbeats cost < 1% of a core per node',
    met: cost(summary[1]!) < 0.01,
    measures,
  };
  const resultsDir = path.join(packageRoot, 'bench', 'results');
  fs.writeFileSync(path.join(resultsDir, 'heartbeat.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# Heartbeat cost',
    '',
    `${result.time}: ${nodes} node processes on one nats-server (loopback), ${rounds} rounds of ${seconds} s per variant, medians. \`npm run bench:heartbeat\` (bench/heartbeat.ts).`,
    '',
    '| variant | CPU per node (share of one core) | nats-server |',
    '|---|---:|---:|',
    ...summary.map((s) => `| ${s.variant} | ${pct(s.nodeCore)} | ${pct(s.brokerCore)} |`),
    '',
    `Cost of being a cluster member at the default heartbeat (member − baseline): **${pct(result.heartbeatCostCore)} of a core per node** (goal < 1 %: ${result.met ? 'met' : 'MISSED'}).`,
    `At ten heartbeats a second, the same work comes to about ${perHeartbeatUs.toFixed(0)} µs of CPU per heartbeat interval per node (sending one, receiving ${nodes}, and the rest of the interval's work).`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(resultsDir, 'heartbeat.md'), md);
  process.stdout.write(`\n${md}`);
}

runBench(main);
