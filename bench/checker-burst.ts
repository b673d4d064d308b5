// npm run bench:checker: the classic checker's burst (its test 9) as its
// authors run it (bench/checker-burst.sh: 1000 client processes started at
// once by a shell, each under a 5 s timeout, four kinds of call), against
// fnjail and the unsandboxed classic baseline (bench/baseline/) in the same
// run, in turn. Reports, per server: the time until every client is done,
// failures (a timeout, no reply, a wrong answer), the clients' own latency
// (from the shell: process start included), and for fnjail the server's own
// time per request (its audit records): the difference is time spent before
// the server read the request (accept, backlog, event loop).
// Writes bench/results/checker-burst.{json,md}.
//
//   node dist/bench/checker-burst.js [--runs N]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { runBench } from './cleanup.js';
import { machineInfo } from './machine.js';
import { log } from './progress.js';
import { buildBaseline, startBaseline, startFnjail, type BenchServer } from './servers.js';
import { maxOf, median, percentile } from './stats.js';
import { checkerFileContent, createWorkspace, emptyDir, type Workspace } from './workspace.js';

const script = path.join(packageRoot, 'bench', 'checker-burst.sh');
const client = path.join(packageRoot, 'clients', 'c', 'build', 'classic-client');
const resultsDir = path.join(packageRoot, 'bench', 'results');
const TARGET_RATIO = 1.2;

interface Run {
  server: string;
  seconds: number;
  failures: number;
  samples: string[];
  clientMs: { p50: number; p99: number; max: number };
  /** fnjail's own time per request (audit records), ms. */
  serverMs?: { p50: number; p99: number; max: number };
}

/** What each kind of call must print (its output file), or start with. */
function expected(ws: Workspace, kind: string, n: number): { exact?: string; prefix?: string } {
  switch (kind) {
    case 'run':
      return { exact: 'Got called 1 times\n' };
    case 'cat':
      return { exact: checkerFileContent(Math.floor(n / 4)) };
    case 'reset':
      return { exact: 'Counter reset\n' };
    default:
      return { prefix: `Error: ${ws.lib('libmissing.so')} could not be executed.\n` };
  }
}

async function burst(ws: Workspace, server: BenchServer, index: number): Promise<Run> {
  emptyDir(server.outputDir);
  const results = path.join(ws.root, `checker-${server.kind}-${index}.txt`);
  const logFrom = fs.existsSync(server.stdoutFile) ? fs.statSync(server.stdoutFile).size : 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const shell = spawn('bash', [script, client, server.socket, ws.libDir, ws.dataDir, results], { stdio: 'inherit' });
    shell.on('error', reject);
    shell.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`checker-burst.sh exited with ${code}`))));
  });
  const seconds = (performance.now() - started) / 1000;

  const samples: string[] = [];
  const latencies: number[] = [];
  let failures = 0;
  const lines = fs.readFileSync(results, 'utf8').split('\n').filter(Boolean);
  const fail = (why: string) => {
    failures++;
    if (samples.length < 5) samples.push(why);
  };
  if (lines.length !== 1000) fail(`${lines.length} of 1000 clients reported`);
  for (const line of lines) {
    const [n, kind, status, start, end, ...out] = line.split(' ');
    latencies.push((Number(end) - Number(start)) * 1000);
    const printed = out.join(' ');
    if (status !== '0') {
      fail(`client ${n} (${kind}): ${status === '124' ? 'killed by its 5 s timeout' : `status ${status}`}: ${printed}`);
      continue;
    }
    const file = /^Output file: (\S+)$/.exec(printed)?.[1];
    if (!file) {
      fail(`client ${n} (${kind}): no reply: ${printed}`);
      continue;
    }
    const content = fs.readFileSync(file, 'utf8');
    const want = expected(ws, kind!, Number(n));
    if (want.exact !== undefined ? content !== want.exact : !content.startsWith(want.prefix!)) fail(`client ${n} (${kind}): ${JSON.stringify(content)}`);
  }
  latencies.sort((a, b) => a - b);
  const run: Run = {
    server: server.label,
    seconds,
    failures,
    samples,
    clientMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: maxOf(latencies) },
  };
  if (server.kind === 'fnjail') {
    const totals = fs
      .readFileSync(server.stdoutFile, 'utf8')
      .slice(logFrom)
      .split('\n')
      .filter((l) => l.includes('"event":"execution"'))
      .map((l) => (JSON.parse(l) as { totalMs: number }).totalMs)
      .sort((a, b) => a - b);
    run.serverMs = { p50: percentile(totals, 0.5), p99: percentile(totals, 0.99), max: maxOf(totals) };
  }
  return run;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, 'fnjail-args': { type: 'string', default: '' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`--runs must be an integer from 1 to 100, not '${values.runs}'`);
  const machine = machineInfo();
  log(`machine: ${machine.line}`);
  buildBaseline();
  const ws = createWorkspace();
  const baseline = await startBaseline(ws);
  const fnjail = await startFnjail(ws, values['fnjail-args'] ? values['fnjail-args'].split(' ') : []);
  const all: Run[] = [];
  for (let i = 0; i < runs; i++) {
    // In turn, so that neither always runs on a warmer (or busier) machine.
    for (const server of i % 2 ? [fnjail, baseline] : [baseline, fnjail]) {
      const run = await burst(ws, server, i);
      all.push(run);
      log(`${server.label}, run ${i + 1}/${runs}: ${run.seconds.toFixed(2)} s, ${run.failures} failures${run.samples[0] ? ` (${run.samples[0]})` : ''}`);
    }
  }
  await fnjail.stop();
  await baseline.stop();

  const of = (label: string) => all.filter((r) => r.server === label);
  const summary = (label: string) => {
    const r = of(label);
    return {
      seconds: median(r.map((x) => x.seconds)),
      failures: r.reduce((n, x) => n + x.failures, 0),
      runsWithFailures: r.filter((x) => x.failures > 0).length,
      clientP50: median(r.map((x) => x.clientMs.p50)),
      clientP99: median(r.map((x) => x.clientMs.p99)),
      clientMax: maxOf(r.map((x) => x.clientMs.max)),
      serverP50: median(r.map((x) => x.serverMs?.p50 ?? NaN)),
      serverMax: maxOf(r.map((x) => x.serverMs?.max ?? NaN)),
    };
  };
  const b = summary(baseline.label);
  const f = summary(fnjail.label);
  const ratio = f.seconds / b.seconds;
  const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  const md = [
    `Machine: ${machine.line}; ${new Date().toISOString().slice(0, 10)}; ${runs} runs each, in turn; medians. A shared machine: read the ratio.`,
    '',
    '| server | all clients done, s | failures (runs with any) | client p50 ms | client p99 ms | client max ms | server p50 ms | server max ms |',
    '|:---|---:|---:|---:|---:|---:|---:|---:|',
    `| baseline | ${fmt(b.seconds, 2)} | ${b.failures} (${b.runsWithFailures}) | ${fmt(b.clientP50)} | ${fmt(b.clientP99)} | ${fmt(b.clientMax)} | - | - |`,
    `| ${fnjail.label} | ${fmt(f.seconds, 2)} | ${f.failures} (${f.runsWithFailures}) | ${fmt(f.clientP50)} | ${fmt(f.clientP99)} | ${fmt(f.clientMax)} | ${fmt(f.serverP50)} | ${fmt(f.serverMax)} |`,
    '',
    `Each run: ${all.filter((r) => r.server === fnjail.label).map((r) => r.seconds.toFixed(2)).join(', ')} s (fnjail); ${of(baseline.label).map((r) => r.seconds.toFixed(2)).join(', ')} s (baseline).`,
    '',
    'Targets (issue 12):',
    '',
    `- **${ratio <= TARGET_RATIO ? 'PASS' : 'MISS'}** all clients done within ${TARGET_RATIO}x the baseline: ${ratio.toFixed(2)}x (${fmt(f.seconds, 2)} vs ${fmt(b.seconds, 2)} s)`,
    `- **${f.failures === 0 ? 'PASS' : 'MISS'}** 0 failures in ${runs} consecutive runs: ${f.failures}${f.failures ? `, e.g. ${all.find((r) => r.server === fnjail.label && r.samples.length)?.samples[0]}` : ''}`,
    '',
  ].join('\n');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'checker-burst.json'), `${JSON.stringify({ date: new Date().toISOString(), machine: machine.line, runs, baseline: b, fnjail: f, ratio, each: all }, null, 2)}\n`);
  fs.writeFileSync(path.join(resultsDir, 'checker-burst.md'), md);
  process.stdout.write(`\n${md}\n`);
}

runBench(main);
