// npm run bench: fnjail against the unsandboxed classic baseline, on this
// machine, in one run. Prints a table, checks the targets of issue 5 (PASS or
// MISS, never a test failure) and writes bench/results/latest.{json,svg,md}.
//
//   node dist/bench/run.js [--runs N] [--variant-runs N] [--calls N] [--no-variants] [--keep]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { renderChart } from './chart.js';
import { cleanupAll, isCleaningUp } from './cleanup.js';
import { machineInfo } from './machine.js';
import { Points } from './points.js';
import { log, secondsSinceStart } from './progress.js';
import { renderMarkdown, renderText } from './report.js';
import { checkTargets, type BenchResults, type LoadgenCheck, type PointResult, type VariantResult, type VariantSideResult } from './results.js';
import {
  BURST,
  CONCURRENCY,
  VARIANT_CLIENTS,
  VARIANTS,
  pointCalls,
  requestsPerClient,
  runBurst,
  runTrivial,
  runTrivialSplit,
  warmUp,
} from './scenarios.js';
import { buildBaseline, fnjailServeHelp, hasOption, startBaseline, startFnjail, type BenchServer } from './servers.js';
import { summarize } from './stats.js';
import { createWorkspace, type Workspace } from './workspace.js';

const USAGE = `usage: npm run bench [-- --runs N] [--variant-runs N] [--calls N] [--no-variants] [--output-on-disk] [--keep]

  --runs N          runs per trivial-call point and per burst (default 5; medians
                    reported); the load generator check makes up to 3
  --variant-runs N  runs per point of the fnjail variants (default 3)
  --calls N         calls per trivial-call run (default 2000; half at 1 client)
  --no-variants     skip the fnjail variants (seccomp, network namespace)
  --output-on-disk  output directories on the disk, not on the bench's tmpfs
                    (measures the file system's file creation too; see workspace.ts)
  --keep            keep the workspace (logs, output files) under /var/lib/fnjail-bench
Must run as root. Writes bench/results/latest.json, latest.svg and latest.md.
`;

const resultsDir = path.join(packageRoot, 'bench', 'results');
const clientsText = (n: number) => `${n} client${n === 1 ? '' : 's'}`;

/** Alternates which server goes first, so that neither always runs on a warmer machine. */
function inTurn<T>(items: T[], round: number): T[] {
  return round % 2 ? [...items].reverse() : items;
}

async function trivialPoints(ws: Workspace, servers: BenchServer[], clientsList: number[], runs: number, calls: number, points: Points, rawRecv: (server: BenchServer) => boolean = () => false) {
  for (let round = 0; round < runs; round++) {
    for (const clients of clientsList) {
      for (const server of inTurn(servers, round)) {
        const n = pointCalls(calls, clients);
        await points.measure(`${server.label}, ${clientsText(clients)}, run ${round + 1}/${runs}`, server, clients, requestsPerClient(n, clients), () =>
          runTrivial(server, ws, clients, n, rawRecv(server)),
        );
      }
    }
  }
}

async function loadgenCheck(ws: Workspace, baseline: BenchServer, runs: number, calls: number, trivial: PointResult[], problems: string[]): Promise<LoadgenCheck> {
  const clients = 64;
  const one = new Points(ws, problems);
  const two = new Points(ws, problems);
  for (let round = 0; round < runs; round++) {
    const order = inTurn(['one', 'two'] as const, round);
    for (const how of order) {
      if (how === 'one') {
        await one.measure(`loadgen check: one generator, ${clients} clients, run ${round + 1}/${runs}`, baseline, clients, requestsPerClient(calls, clients), () =>
          runTrivial(baseline, ws, clients, calls),
        );
      } else {
        await two.measure(`loadgen check: two generators, ${clients / 2} clients each, run ${round + 1}/${runs}`, baseline, clients, requestsPerClient(calls, clients), () =>
          runTrivialSplit(baseline, ws, clients, calls),
        );
      }
    }
  }
  const single = one.results()[0]?.summary ?? summarize([]);
  const split = two.results()[0]?.summary ?? summarize([]);
  const gain = split.throughput / single.throughput - 1;
  const shares = trivial.map((p) => ({ at: `${p.server}, ${p.clients} clients`, share: p.summary.loadgenCpuShare })).filter((s) => Number.isFinite(s.share));
  const top = shares.reduce((a, b) => (b.share > a.share ? b : a), shares[0] ?? { at: 'n/a', share: NaN });
  const bottleneck = gain > 0.1 || top.share >= 0.9;
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  const verdict = bottleneck
    ? `likely a bottleneck: two generators ${gain > 0.1 ? `were ${pct(gain)} faster than one` : `were not faster (${pct(gain)})`}, and one used up to ${pct(top.share)} of a core`
    : `not the bottleneck: two generators were not meaningfully faster than one (${gain >= 0 ? '+' : ''}${pct(gain)}), and it used at most ${pct(top.share)} of one core` +
      (top.share > 0.25 ? ` (CPU it takes from the servers on this ${machineInfo().cores}-core machine, the same for both)` : '');
  return { clients, single, split, gain, maxCpuShare: top.share, maxCpuShareAt: top.at, bottleneck, verdict };
}

async function variants(ws: Workspace, help: string, runs: number, calls: number, problems: string[]): Promise<VariantResult[]> {
  const out: VariantResult[] = [];
  for (const v of VARIANTS) {
    const pinned = v.pinned && hasOption(help, v.pinned.option) ? v.pinned : undefined;
    const sides: VariantSideResult[] = v.sides.map((s) => ({ label: s.label, args: [...s.args, ...(pinned?.args ?? [])], points: [] }));
    const result: VariantResult = { name: v.name, option: v.option, available: false, sides };
    if (pinned) result.note = pinned.why;
    out.push(result);
    if (!hasOption(help, v.option)) {
      result.note = `this fnjail has no ${v.option} option (not in fnjail serve --help)`;
      log(`variant ${v.name}: not available: ${result.note}`);
      continue;
    }
    const servers: BenchServer[] = [];
    try {
      for (const side of v.sides) servers.push(await startFnjail(ws, [...side.args, ...(pinned?.args ?? [])], side.rawRecv ? ' (clients without ipc.h)' : ''));
      for (const s of servers) await warmUp(s, ws);
    } catch (error) {
      if (isCleaningUp()) throw error;
      result.note = `a server did not start or failed its warm-up: ${(error as Error).message.split('\n')[0]}`;
      problems.push(`variant ${v.name}: ${result.note}`);
      log(`variant ${v.name}: not available: ${(error as Error).message}`);
      for (const s of servers) await s.stop();
      continue;
    }
    try {
      const points = new Points(ws, problems);
      await trivialPoints(ws, servers, VARIANT_CLIENTS, runs, calls, points, (server) => v.sides[servers.indexOf(server)]?.rawRecv === true);
      const measured = points.results();
      result.available = true;
      sides.forEach((side, i) => {
        side.points = measured.filter((p) => p.server === servers[i]!.label);
      });
    } finally {
      for (const s of servers) await s.stop();
    }
  }
  return out;
}

function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'variant-runs': { type: 'string', default: '3' },
      calls: { type: 'string', default: '2000' },
      'no-variants': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'output-on-disk': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const count = (name: string, raw: string, min: number, max: number) => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, not '${raw}'`);
    return v;
  };
  const runs = count('runs', values.runs, 1, 50);
  const variantRuns = count('variant-runs', values['variant-runs'], 1, 50);
  const calls = count('calls', values.calls, 10, 100_000);
  const problems: string[] = [];
  const machine = machineInfo();
  log(`machine: ${machine.line}`);

  buildBaseline();
  const help = fnjailServeHelp();
  const ws = createWorkspace({ keep: values.keep, outputOnDisk: values['output-on-disk'] });
  log(`workspace ${ws.root}, output directories on ${ws.outputs}`);
  const baseline = await startBaseline(ws);
  const fnjail = await startFnjail(ws);
  log(`servers ready: baseline pid ${baseline.pid}, fnjail pid ${fnjail.pid}; warming up`);
  await warmUp(baseline, ws);
  await warmUp(fnjail, ws);

  const trivial = new Points(ws, problems);
  await trivialPoints(ws, [baseline, fnjail], CONCURRENCY, runs, calls, trivial);

  const bursts = new Points(ws, problems);
  for (let round = 0; round < runs; round++) {
    for (const server of inTurn([baseline, fnjail], round)) {
      await bursts.measure(`${server.label}, burst of ${BURST.clients} clients, run ${round + 1}/${runs}`, server, BURST.clients, BURST.requests, () =>
        runBurst(server, ws),
      );
    }
  }

  const trivialResults = trivial.results();
  const check = await loadgenCheck(ws, baseline, Math.min(runs, 3), calls, trivialResults, problems);
  log(`load generator: ${check.verdict}`);
  await fnjail.stop();
  await baseline.stop();

  const variantResults = values['no-variants'] ? [] : await variants(ws, help, variantRuns, calls, problems);

  const burstResults = bursts.bursts();
  const results: BenchResults = {
    version: 1,
    date: new Date().toISOString(),
    durationS: secondsSinceStart(),
    machine,
    settings: { runs, variantRuns, callsPerPoint: calls, concurrency: CONCURRENCY, outputs: ws.outputs, burst: { clients: BURST.clients, sleepMaxMs: BURST.sleepMaxMs, timeoutMs: BURST.timeoutMs } },
    trivial: trivialResults,
    burst: burstResults,
    variants: variantResults,
    loadgen: check,
    targets: checkTargets({ trivial: trivialResults, burst: burstResults }),
    problems,
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  writeAtomically(path.join(resultsDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeAtomically(path.join(resultsDir, 'latest.svg'), renderChart(results));
  writeAtomically(path.join(resultsDir, 'latest.md'), renderMarkdown(results));
  process.stdout.write(`\n${renderText(results)}\n\n`);
  log(`wrote ${path.relative(process.cwd(), resultsDir) || '.'}/latest.json, latest.svg, latest.md`);
  return 0;
}

let signalled = false;
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(code); // a second signal: no more waiting
    signalled = true;
    process.stderr.write(`\nbench: ${signal}: stopping servers and load generators, removing the workspace\n`);
    void cleanupAll().finally(() => process.exit(code));
  });
}

main().then(
  async (code) => {
    await cleanupAll();
    process.exitCode = code;
  },
  async (error: unknown) => {
    if (!signalled) process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
