// npm run bench:jobs: asynchronous jobs (issue 15) on one node, against direct
// calls of the same function on the same server in the same run:
//   - latency: one job at a time, submit to start (the server's timestamps)
//     and submit to COMPLETED seen by the client, against one direct call
//     (POST /run) at a time: the overhead of a job;
//   - throughput: --jobs jobs (default 1000) of the trivial function, one
//     replica each, submitted at once by --submitters concurrent clients;
//     jobs/s from the first submit to the last end, against the same number
//     of direct calls made by as many concurrent clients as the node has job
//     slots; the queue wait (submit to start) under that burst;
//   - the trivial function is a library's (libbasic.so's run, the default) or,
//     with --kind program, a program's (fixtures/programs/upcase.c, no input):
//     each job is one sandboxed call of it, so jobs/s can only approach the
//     rate of direct calls of the same kind, which the two kinds set apart;
//   - FIFO: the order replicas started in (the audit log's RUNNING records)
//     against their places in the queue;
//   - CPU: of the server's process tree (server, launcher, sandboxes,
//     nats-server) per direct call and per job in the throughput runs, less
//     noisy than rates on a shared machine; and the CPU the rest of the
//     machine used meanwhile (how loaded it was), in cores.
// The server is fnjail serve with its private nats-server, as a single node
// runs by default, --job-slots 8. Goals of the issue: >= 300 jobs/s, p50
// submit-to-start <= 10 ms; reported PASS or MISS, never a failure.
// Writes bench/results/jobs.{json,md} (jobs-program.{json,md} with --kind program).
//
//   node dist/bench/jobs.js [--kind library|program] [--jobs N] [--submitters N] [--latency-runs N]
//     [--no-direct (jobs only, for profiling their path)] [--output-on-disk (outputs on the disk, not the bench's tmpfs)]
//     [--cpu-prof DIR (the server's CPU profile, written when it stops)] [--node-args '--perf-basic-prof ...' (for the server)]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from '../src/client/client.js';
import type { JobView } from '../src/jobs/job-view.js';
import { packageRoot } from '../src/paths.js';
import { onCleanup, runBench } from './cleanup.js';
import { commOf, machineBusyTicks, processLevels } from './procfs.js';
import { machineInfo } from './machine.js';
import { log } from './progress.js';
import { cliMain } from './servers.js';
import { percentile } from './stats.js';
import { basicBundle, createWorkspace, upcaseBundle } from './workspace.js';

const resultsDir = path.join(packageRoot, 'bench', 'results');
const JOB_SLOTS = 8;
const GOALS = { jobsPerSecond: 300, submitToStartP50Ms: 10 };

interface Server {
  client: Client;
  pid: number;
  stdoutFile: string;
  stop(): Promise<void>;
}

async function startServer(root: string, outputDir: string, policyFile: string, nodeArgs: string[]): Promise<Server> {
  const dir = path.join(root, 'jobs-server');
  fs.mkdirSync(dir, { mode: 0o755 });
  const apiSocket = path.join(dir, 'api.sock');
  const stdoutFile = path.join(dir, 'stdout.log');
  const out = fs.openSync(stdoutFile, 'w');
  const first = 1_500_000;
  const child = spawn(
    process.execPath,
    [...nodeArgs, cliMain, 'serve', '--no-config', '--socket', path.join(dir, 'server.sock'), '--output-dir', outputDir, '--policy', policyFile, '--uid-range', `${first}-${first + 999}`, '--http-socket', apiSocket, '--state-dir', path.join(dir, 'state'), '--job-slots', String(JOB_SLOTS), '--log-format', 'json'],
    { stdio: ['ignore', out, 'inherit'] },
  );
  fs.closeSync(out);
  const unregister = onCleanup('stop the jobs bench server', () => void child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const client = new Client({ socketPath: apiSocket });
  // Ready when the API answers and the registry (NATS) is up.
  const deadline = performance.now() + 60_000;
  for (;;) {
    const status = await client.status().catch(() => undefined);
    if (status?.registry.state === 'ready') break;
    if (performance.now() > deadline || child.exitCode !== null) throw new Error(`the server did not get ready: ${fs.readFileSync(stdoutFile, 'utf8').slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    client,
    pid: child.pid!,
    stdoutFile,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      unregister();
    },
  };
}

const at = (view: JobView, state: string) => Date.parse(view.replicas[0]!.history.find((h) => h.state === state)!.at);

async function waitEnded(client: Client, ticket: string): Promise<JobView> {
  for (;;) {
    const view = await client.job(ticket, 50_000);
    if (view.state === 'COMPLETED' || view.state === 'INVALID') return view;
  }
}

/** Runs `count` tasks with at most `width` in flight. */
async function pool<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** The trivial function of each kind, as its bundle names it. */
const KINDS = { library: { name: 'basic', bundle: basicBundle }, program: { name: 'upcase', bundle: upcaseBundle } } as const;
type Kind = keyof typeof KINDS;

async function directCall(client: Client, name: string): Promise<void> {
  const result = await client.run(name);
  if (!result.ok) throw new Error(`a direct call failed: ${result.outcome}`);
  for await (const chunk of result.output) void chunk;
}

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)) };
};
const round = (n: number) => Math.round(n * 100) / 100;

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

type Parts = { server: number; nats: number; sandboxes: number };

/** CPU ticks of the server's tree by part: the server process, its
 * nats-server, the launcher with the sandboxes it reaped. */
async function cpuByPart(pid: number): Promise<Parts> {
  const parts: Parts = { server: 0, nats: 0, sandboxes: 0 };
  for (const p of (await processLevels(pid)).flat()) {
    const stat = await fs.promises.readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    // after "(comm) ": utime, stime, cutime, cstime are fields 11 to 14
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + (Number(fields[i] ?? 0) || 0), 0);
    const part = p === pid ? 'server' : (await commOf(p)) === 'nats-server' ? 'nats' : 'sandboxes';
    parts[part] += ticks;
  }
  return parts;
}

/** Runs a phase; with the CPU the server's tree used per item (ms, by part),
 * and the CPU the rest of the machine used meanwhile, this bench's clients
 * left out (other work on a shared machine), in cores. */
async function measured<T>(pid: number, items: number, phase: () => Promise<T>): Promise<{ result: T; serverCpuMsPerItem: number; parts: Parts; otherCores: number }> {
  const [ticks, machine, client, started] = [await cpuByPart(pid), await machineBusyTicks(), process.cpuUsage(), performance.now()];
  const result = await phase();
  const seconds = (performance.now() - started) / 1000;
  const [ticksAfter, machineAfter, clientUsed] = [await cpuByPart(pid), await machineBusyTicks(), process.cpuUsage(client)];
  const perItem = (key: keyof Parts) => round((((ticksAfter[key] - ticks[key]) / TICKS_PER_SECOND) * 1000) / items);
  const parts = { server: perItem('server'), nats: perItem('nats'), sandboxes: perItem('sandboxes') };
  const treeSeconds = ((parts.server + parts.nats + parts.sandboxes) * items) / 1000;
  const clientSeconds = (clientUsed.user + clientUsed.system) / 1e6;
  return {
    result,
    serverCpuMsPerItem: round(parts.server + parts.nats + parts.sandboxes),
    parts,
    otherCores: round(Math.max(0, (machineAfter - machine) / TICKS_PER_SECOND - treeSeconds - clientSeconds) / seconds),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '1000' }, submitters: { type: 'string', default: '16' }, 'latency-runs': { type: 'string', default: '200' }, 'cpu-prof': { type: 'string' }, 'node-args': { type: 'string', default: '' }, 'no-direct': { type: 'boolean', default: false }, 'output-on-disk': { type: 'boolean', default: false }, kind: { type: 'string', default: 'library' } } });
  if (!(values.kind! in KINDS)) throw new Error(`--kind ${values.kind}: library or program`);
  const kind = values.kind as Kind;
  const fn = KINDS[kind].name;
  const withDirect = !values['no-direct'];
  const jobs = Number(values.jobs);
  const submitters = Number(values.submitters);
  const latencyRuns = Number(values['latency-runs']);
  const ws = createWorkspace({ outputOnDisk: values['output-on-disk'] });
  const bundle = KINDS[kind].bundle(ws);
  // Queue limits above the burst.
  const nodeArgs = [...(values['node-args'] ? values['node-args'].split(' ') : []), ...(values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-interval', '200', `--cpu-prof-dir=${values['cpu-prof']}`] : [])];
  const server = await startServer(ws.root, ws.outputDir('jobs'), ws.policyFile, nodeArgs);
  const { client } = server;
  const { readBundleDirectory } = await import('../src/functions/bundle-directory.js');
  const { compressBundle } = await import('../src/functions/bundle.js');
  await client.deploy(fn, await compressBundle(readBundleDirectory(bundle)));

  log('warming up: 50 direct calls, 50 jobs');
  for (let i = 0; i < 50; i++) await directCall(client, fn);
  await pool(50, 8, async () => waitEnded(client, (await client.submitJob({ name: fn })).ticket));

  log(`latency: ${withDirect ? `${latencyRuns} direct calls, then ` : ''}${latencyRuns} jobs, one at a time`);
  const direct: number[] = [];
  for (let i = 0; i < (withDirect ? latencyRuns : 0); i++) {
    const started = performance.now();
    await directCall(client, fn);
    direct.push(performance.now() - started);
  }
  const jobEndToEnd: number[] = [];
  const quietStart: number[] = [];
  for (let i = 0; i < latencyRuns; i++) {
    const started = performance.now();
    const view = await waitEnded(client, (await client.submitJob({ name: fn })).ticket);
    jobEndToEnd.push(performance.now() - started);
    if (view.state !== 'COMPLETED') throw new Error(`a job ended ${view.state}: ${JSON.stringify(view.replicas[0])}`);
    quietStart.push(at(view, 'RUNNING') - Date.parse(view.submittedAt));
  }

  log(withDirect ? `throughput: ${jobs} direct calls by ${JOB_SLOTS} clients` : 'throughput of direct calls: skipped (--no-direct; their figures are NaN)');
  let started = performance.now();
  const directCpu = withDirect
    ? await measured(server.pid, jobs, () => pool(jobs, JOB_SLOTS, () => directCall(client, fn)))
    : { serverCpuMsPerItem: NaN, parts: { server: NaN, nats: NaN, sandboxes: NaN }, otherCores: NaN };
  const directPerSecond = withDirect ? jobs / ((performance.now() - started) / 1000) : NaN;

  log(`throughput: ${jobs} jobs submitted at once by ${submitters} clients`);
  const logFrom = fs.statSync(server.stdoutFile).size;
  started = performance.now();
  let submitSeconds = 0;
  const jobCpu = await measured(server.pid, jobs, async () => {
    const tickets = await pool(jobs, submitters, async () => (await client.submitJob({ name: fn })).ticket);
    submitSeconds = (performance.now() - started) / 1000;
    // Waiting costs the server a watch per waiter: wait for the last one only
    // (jobs start in order), then read them all once they have ended.
    await waitEnded(client, tickets.at(-1)!);
    return tickets;
  });
  const tickets = jobCpu.result;
  const views = await pool(tickets.length, 4, (i) => waitEnded(client, tickets[i]!));
  const failed = views.filter((v) => v.state !== 'COMPLETED').length;
  const firstSubmit = Math.min(...views.map((v) => Date.parse(v.submittedAt)));
  const lastEnd = Math.max(...views.map((v) => Date.parse(v.endedAt!)));
  const jobsPerSecond = jobs / ((lastEnd - firstSubmit) / 1000);
  const burstWait = views.map((v) => at(v, 'RUNNING') - Date.parse(v.submittedAt));

  // FIFO: the replicas' starts, in the order the node made them, against their places in the queue.
  const text = fs.readFileSync(server.stdoutFile, 'utf8').slice(logFrom);
  const starts = text
    .split('\n')
    .filter((l) => l.includes('"event":"job-state"'))
    .map((l) => JSON.parse(l) as { to: string; replica: number | null; queueSeq: number | null; attempt: number | null })
    .filter((r) => r.to === 'RUNNING' && r.replica !== null && r.attempt === 1);
  const outOfOrder = starts.filter((r, i) => i > 0 && r.queueSeq! < starts[i - 1]!.queueSeq!).length;
  await server.stop();

  const quiet = summary(quietStart);
  const results = {
    machine: machineInfo(),
    date: new Date().toISOString(),
    kind,
    jobSlots: JOB_SLOTS,
    outputs: ws.outputs,
    latency: { runs: latencyRuns, directCallMs: summary(direct), jobEndToEndMs: summary(jobEndToEnd), submitToStartMs: quiet },
    throughput: { jobs, submitters, submitSeconds: round(submitSeconds), jobsPerSecond: round(jobsPerSecond), directCallsPerSecond: round(directPerSecond), jobsToDirect: round(jobsPerSecond / directPerSecond), failed, burstSubmitToStartMs: summary(burstWait) },
    cpu: { serverMsPerDirectCall: directCpu.serverCpuMsPerItem, serverMsPerJob: jobCpu.serverCpuMsPerItem, directParts: directCpu.parts, jobParts: jobCpu.parts, otherCoresDuringDirect: directCpu.otherCores, otherCoresDuringJobs: jobCpu.otherCores },
    fifo: { starts: starts.length, outOfOrder },
    goals: {
      jobsPerSecond: { goal: GOALS.jobsPerSecond, measured: round(jobsPerSecond), verdict: jobsPerSecond >= GOALS.jobsPerSecond ? 'PASS' : 'MISS' },
      submitToStartP50Ms: { goal: GOALS.submitToStartP50Ms, measured: quiet.p50, verdict: quiet.p50 <= GOALS.submitToStartP50Ms ? 'PASS' : 'MISS' },
      allCompleted: { verdict: failed === 0 ? 'PASS' : 'MISS' },
      fifo: { verdict: outOfOrder === 0 && starts.length >= jobs ? 'PASS' : 'MISS' },
    },
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = kind === 'library' ? 'jobs' : `jobs-${kind}`;
  fs.writeFileSync(path.join(resultsDir, `${file}.json`), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(results);
  fs.writeFileSync(path.join(resultsDir, `${file}.md`), md);
  process.stdout.write(md);
}

function markdown(r: {
  machine: ReturnType<typeof machineInfo>;
  date: string;
  kind: Kind;
  jobSlots: number;
  outputs: string;
  latency: { runs: number; directCallMs: { p50: number; p99: number }; jobEndToEndMs: { p50: number; p99: number }; submitToStartMs: { p50: number; p99: number } };
  throughput: { jobs: number; submitters: number; submitSeconds: number; jobsPerSecond: number; directCallsPerSecond: number; jobsToDirect: number; failed: number; burstSubmitToStartMs: { p50: number; p99: number } };
  cpu: { serverMsPerDirectCall: number; serverMsPerJob: number; directParts: Parts; jobParts: Parts; otherCoresDuringDirect: number; otherCoresDuringJobs: number };
  fifo: { starts: number; outOfOrder: number };
  goals: Record<string, { goal?: number; measured?: number; verdict: string }>;
}): string {
  const m = r.machine;
  return `# Jobs bench (npm run bench:jobs)

${r.date}; ${m.line}; the trivial function is ${r.kind === 'library' ? "a library's (libbasic.so's run)" : "a program's (upcase, no input)"}; one node, its private nats-server, --job-slots ${r.jobSlots}, calls' output files on ${r.outputs === 'tmpfs' ? "the bench's tmpfs" : 'the disk'}.

| measure | jobs | direct calls | goal | verdict |
|---|---:|---:|---:|---|
| throughput, ${r.throughput.jobs} trivial jobs (1 replica) submitted at once by ${r.throughput.submitters} clients | ${r.throughput.jobsPerSecond} jobs/s | ${r.throughput.directCallsPerSecond} calls/s (${r.jobSlots} clients) | >= ${GOALS.jobsPerSecond} jobs/s | ${r.goals.jobsPerSecond!.verdict} |
| submit to start, one job at a time, p50 / p99 (ms) | ${r.latency.submitToStartMs.p50} / ${r.latency.submitToStartMs.p99} | | p50 <= ${GOALS.submitToStartP50Ms} ms | ${r.goals.submitToStartP50Ms!.verdict} |
| end to end, one at a time, p50 / p99 (ms): submit to COMPLETED seen, against one call | ${r.latency.jobEndToEndMs.p50} / ${r.latency.jobEndToEndMs.p99} | ${r.latency.directCallMs.p50} / ${r.latency.directCallMs.p99} | | |
| queue wait under the burst, submit to start, p50 / p99 (ms) | ${r.throughput.burstSubmitToStartMs.p50} / ${r.throughput.burstSubmitToStartMs.p99} | | | |
| the burst's jobs COMPLETED | ${r.throughput.jobs - r.throughput.failed} of ${r.throughput.jobs} | | all | ${r.goals.allCompleted!.verdict} |
| starts in queue order (FIFO) | ${r.fifo.starts - r.fifo.outOfOrder} of ${r.fifo.starts} in order | | all | ${r.goals.fifo!.verdict} |
| jobs/s against direct calls/s, same run | ${r.throughput.jobsToDirect} | | | |
| CPU of the server's tree per item, ms | ${r.cpu.serverMsPerJob} | ${r.cpu.serverMsPerDirectCall} | | |
| of which the server process / its nats-server / the launcher and sandboxes, ms | ${r.cpu.jobParts.server} / ${r.cpu.jobParts.nats} / ${r.cpu.jobParts.sandboxes} | ${r.cpu.directParts.server} / ${r.cpu.directParts.nats} / ${r.cpu.directParts.sandboxes} | | |
| CPU used meanwhile by the rest of the machine (its load), cores | ${r.cpu.otherCoresDuringJobs} | ${r.cpu.otherCoresDuringDirect} | | |

Submitting the burst took ${r.throughput.submitSeconds} s. Timestamps of starts are the server's (ms resolution).
`;
}

runBench(main);
