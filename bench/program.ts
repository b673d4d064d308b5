// npm run bench:program: a per-request program call through fnjail (a
// registered program function, `@upcase <input file>` on the classic socket:
// a fresh sandbox per call, the file on stdin) against the unsandboxed
// fork+exec-per-request baseline (bench/baseline/program-server.c, the same
// program by its path), on this machine, interleaved in one run. The program
// is fixtures/programs/upcase.c. Checks the targets of issue 13 (PASS or MISS,
// never a failure) and writes bench/results/program.{json,md}.
//
//   node dist/bench/program.js [--runs N] [--calls N]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { runBench } from './cleanup.js';
import { runLoadgen, type LoadgenRun } from './loadgen.js';
import { machineInfo } from './machine.js';
import { Points } from './points.js';
import { waitForIdle } from './procfs.js';
import { log } from './progress.js';
import { ms } from './report.js';
import type { PointResult } from './results.js';
import { CALL_TIMEOUT_MS, pointCalls, requestsPerClient } from './scenarios.js';
import { buildBaseline, deployFunction, startFnjail, startProgramBaseline, type BenchServer } from './servers.js';
import { ratio } from './stats.js';
import { createWorkspace, emptyDir, upcaseBundle } from './workspace.js';

const USAGE = `usage: npm run bench:program [-- --runs N] [--calls N]

  --runs N    runs per point (default 5; medians reported)
  --calls N   calls per run (default 1000; half at 1 client)
Must run as root. Writes bench/results/program.json and program.md.
`;

const resultsDir = path.join(packageRoot, 'bench', 'results');
const CLIENTS = [1, 16];
const INPUT = 'hello from the program bench\n';

interface Target {
  name: string;
  pass: boolean;
  text: string;
}

/** One closed-loop run of the per-request program call; the output directory is emptied after. */
async function runProgram(server: BenchServer, command: string, clients: number, calls: number): Promise<LoadgenRun> {
  try {
    return await runLoadgen({
      socket: server.socket,
      clients,
      requests: requestsPerClient(calls, clients),
      timeoutMs: CALL_TIMEOUT_MS,
      workloads: [`1|=${INPUT.toUpperCase().replace(/\n/g, '\\n')}|${command}`],
    });
  } finally {
    emptyDir(server.outputDir);
  }
}

function target(name: string, value: number, pass: boolean, goal: string, detail: string): Target {
  return { name, pass, text: `**${pass ? 'PASS' : 'MISS'}** ${name}: ${Number.isFinite(value) ? value.toFixed(2) : 'n/a'}x (${detail}) (target ${goal})` };
}

function renderMarkdown(machine: string, date: string, runs: number, calls: number, points: PointResult[], targets: Target[]): string {
  const lines = [
    `Machine: ${machine}; ${date}; medians of ${runs} runs, about ${calls} calls per run (${Math.ceil(calls / 2)} at 1 client); each call upper-cases a ${INPUT.length}-byte file with fixtures/programs/upcase.c; other CPU: that of processes outside the bench during the runs (median, 100% = one core).`,
    '',
    '| scenario | server | calls/s | p50 ms | p90 ms | p99 ms | errors | vs baseline | other CPU |',
    '|:---|:---|---:|---:|---:|---:|---:|:---|---:|',
  ];
  for (const p of points) {
    const base = points.find((q) => q.kind === 'baseline' && q.clients === p.clients)?.summary;
    const vs = p.kind === 'baseline' || !base ? '1x' : `${ratio(p.summary.throughput, base.throughput).toFixed(2)}x calls/s, ${ratio(p.summary.p50, base.p50).toFixed(2)}x p50`;
    const failed = p.failures.length ? ` (+${p.failures.length} failed runs)` : '';
    lines.push(
      `| program call, ${p.clients} client${p.clients === 1 ? '' : 's'} | ${p.server} | ${Math.round(p.summary.throughput)} | ${ms(p.summary.p50)} | ${ms(p.summary.p90)} | ${ms(p.summary.p99)} | ${p.summary.errors}${failed} | ${vs} | ${Math.round(p.summary.otherCpuShare * 100)}% |`,
    );
  }
  lines.push('', 'Targets (issue 13):', '', ...targets.map((t) => `- ${t.text}`), '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, calls: { type: 'string', default: '1000' }, help: { type: 'boolean', default: false } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const runs = Number(values.runs);
  const calls = Number(values.calls);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`--runs must be an integer from 1 to 50, not '${values.runs}'`);
  if (!Number.isInteger(calls) || calls < 10 || calls > 100_000) throw new Error(`--calls must be an integer from 10 to 100000, not '${values.calls}'`);
  const machine = machineInfo();
  log(`machine: ${machine.line}`);
  buildBaseline();
  const ws = createWorkspace();
  const input = path.join(ws.dataDir, 'program-input.txt');
  fs.writeFileSync(input, INPUT, { mode: 0o644 });
  // The baseline runs the program by its path, from the workspace as fnjail's bundle holds it.
  const bundle = upcaseBundle(ws);
  const baseline = await startProgramBaseline(ws);
  const fnjail = await startFnjail(ws, [], '', { registry: true });
  await deployFunction(fnjail, bundle);
  const servers: Array<{ server: BenchServer; command: string }> = [
    { server: baseline, command: `${path.join(bundle, 'upcase')} ${input}` },
    { server: fnjail, command: `@upcase ${input}` },
  ];
  log(`servers ready: baseline pid ${baseline.pid}, fnjail pid ${fnjail.pid}; warming up`);
  for (const { server, command } of servers) {
    const warm = await runProgram(server, command, 16, 16 * 16);
    if (warm.errors) throw new Error(`${server.label}: ${warm.errors} of ${warm.requests} warm-up calls failed, e.g. ${warm.error_samples[0] ?? '?'}\n${server.logTail()}`);
    await waitForIdle();
  }
  const problems: string[] = [];
  const points = new Points(ws, problems);
  for (let round = 0; round < runs; round++) {
    for (const clients of CLIENTS) {
      // Alternates which server goes first, so that neither always runs on a warmer machine.
      for (const { server, command } of round % 2 ? [...servers].reverse() : servers) {
        const n = pointCalls(calls, clients);
        await points.measure(`${server.label}, ${clients} client(s), run ${round + 1}/${runs}`, server, clients, requestsPerClient(n, clients), () => runProgram(server, command, clients, n));
      }
    }
  }
  await fnjail.stop();
  await baseline.stop();

  const results = points.results().sort((a, b) => a.clients - b.clients || (a.kind === 'baseline' ? -1 : 1));
  const at = (kind: string, clients: number) => results.find((p) => p.kind === kind && p.clients === clients)?.summary;
  const [b16, f16, b1, f1] = [at('baseline', 16), at('fnjail', 16), at('baseline', 1), at('fnjail', 1)];
  const throughput = ratio(f16?.throughput ?? NaN, b16?.throughput ?? NaN);
  const latency = ratio(f1?.p50 ?? NaN, b1?.p50 ?? NaN);
  const targets = [
    target('throughput at 16 clients', throughput, throughput >= 0.5, '>= 0.5x baseline', `${Math.round(f16?.throughput ?? NaN)} vs ${Math.round(b16?.throughput ?? NaN)} calls/s`),
    target('p50 latency at 1 client', latency, latency <= 2, '<= 2x baseline', `${ms(f1?.p50 ?? NaN)} vs ${ms(b1?.p50 ?? NaN)} ms`),
  ];
  const date = new Date().toISOString().slice(0, 10);
  const markdown = renderMarkdown(machine.line, date, runs, calls, results, targets);
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'program.json'), JSON.stringify({ machine, date, runs, calls, points: results, targets, problems }, null, 2) + '\n');
  fs.writeFileSync(path.join(resultsDir, 'program.md'), markdown);
  process.stdout.write(`\n${markdown}`);
  if (problems.length) process.stdout.write(`\nProblems during the run:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);
}

runBench(main);
