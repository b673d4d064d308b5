// The HTTP API against the classic UNIX socket, in the same run, on the same
// server: the trivial library function (libbasic.so run, printing one line)
// called with `POST /run/basic` by Debian's wrk over loopback TCP (plain,
// --insecure), and by its library path on the classic socket by the C load
// generator (clients/c). Targets (issue 14): throughput at 64 clients over
// HTTP >= 0.8x the socket's; p50 at 1 client over HTTP <= the socket's + 0.3 ms.
// Results: bench/results/http.json and http.md. Bounded: each point runs
// DURATION_S seconds, wrk with its own timeout. The server is started as
// every bench starts fnjail (bench/servers.ts: its log to a file, the bench's
// policy and workspace), with the registry and a plain loopback listener.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../src/paths.js';
import { runBench } from './cleanup.js';
import { runLoadgen } from './loadgen.js';
import { machineInfo } from './machine.js';
import { deployFunction, httpAddressesOf, startFnjail } from './servers.js';
import { basicBundle, createWorkspace, emptyDir } from './workspace.js';

const DURATION_S = 10;
const TARGETS = { throughput64: 0.8, p50At1PlusMs: 0.3 };

interface Point {
  clients: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** wrk, run without blocking this process. */
function runWrk(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), (DURATION_S + 30) * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk failed (${code}): ${err}${out}`));
    });
  });
}

/** wrk's --latency report: requests/sec, the 50% and 99% lines, non-2xx and socket errors. */
async function wrk(url: string, clients: number): Promise<Point> {
  const script = path.join(packageRoot, 'bench', 'wrk-post.lua');
  const out = await runWrk(['-t', String(Math.min(2, clients)), '-c', String(clients), '-d', `${DURATION_S}s`, '--timeout', '5s', '--latency', '-s', script, url]);
  const unit = (value: string, u: string) => Number(value) * (u === 'us' ? 0.001 : u === 's' ? 1000 : u === 'm' ? 60000 : 1);
  const latency = (pct: string) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`no ${pct}% line in wrk's report:\n${out}`);
    return unit(m[1]!, m[2]!);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)$/m.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { clients, throughput: Number(rps![1]), p50Ms: latency('50'), p99Ms: latency('99'), errors };
}

async function socketPoint(socket: string, lib: string, clients: number, calls: number): Promise<Point> {
  const run = await runLoadgen({ socket, clients, requests: Math.max(1, Math.ceil(calls / clients)), timeoutMs: 5000, workloads: [`1|=run\\n|${lib} run`] });
  return { clients, throughput: run.throughput, p50Ms: run.latency_ms.p50, p99Ms: run.latency_ms.p99, errors: run.errors };
}

async function main(): Promise<void> {
  const ws = createWorkspace();
  const loadBefore = os.loadavg()[0]!;
  const server = await startFnjail(ws, ['--http', '127.0.0.1:0', '--insecure'], '', { registry: true });
  try {
    await deployFunction(server, basicBundle(ws));
    const url = `http://${httpAddressesOf(server)[0]!}/run/basic`;
    const lib = ws.lib('libbasic.so');
    // Warm both paths, then alternate them point by point.
    await wrk(url, 8);
    await socketPoint(server.socket, lib, 8, 2000);
    emptyDir(server.outputDir);
    const points: Array<{ path: 'http' | 'socket'; point: Point }> = [];
    for (const clients of [1, 64]) {
      const http = await wrk(url, clients);
      points.push({ path: 'http', point: http });
      // As many calls as wrk made in its run, so both runs last about as long.
      points.push({ path: 'socket', point: await socketPoint(server.socket, lib, clients, Math.round(http.throughput * DURATION_S)) });
      emptyDir(server.outputDir);
    }
    const find = (p: 'http' | 'socket', c: number) => points.find((x) => x.path === p && x.point.clients === c)!.point;
    const ratio64 = find('http', 64).throughput / find('socket', 64).throughput;
    const p50Over = find('http', 1).p50Ms - find('socket', 1).p50Ms;
    const targets = [
      { name: 'throughput at 64 clients, HTTP / socket', value: ratio64, target: `>= ${TARGETS.throughput64}`, pass: ratio64 >= TARGETS.throughput64 },
      { name: 'p50 at 1 client, HTTP - socket (ms)', value: p50Over, target: `<= ${TARGETS.p50At1PlusMs}`, pass: p50Over <= TARGETS.p50At1PlusMs },
    ];
    // The machine is shared: its load average before and after says how far the figures can be trusted.
    const load = { before: loadBefore, after: os.loadavg()[0]! };
    const results = { date: new Date().toISOString(), machine: machineInfo(), load, durationS: DURATION_S, points, targets };
    const dir = path.join(packageRoot, 'bench', 'results');
    fs.writeFileSync(path.join(dir, 'http.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows = points.map(({ path: p, point: x }) => `| ${p} | ${x.clients} | ${x.throughput.toFixed(0)} | ${x.p50Ms.toFixed(3)} | ${x.p99Ms.toFixed(3)} | ${x.errors} |`);
    const md = [
      `# HTTP API vs the classic socket (${results.date})`,
      '',
      'Trivial library call (`libbasic.so run`): `POST /run/basic` by wrk over loopback TCP, and the library path on the classic UNIX socket by fnjail-loadgen; one server, same run.',
      '',
      `Machine: ${results.machine.line}; 1-minute load average ${load.before.toFixed(1)} before the run, ${load.after.toFixed(1)} after.`,
      '',
      '| path | clients | calls/s | p50 ms | p99 ms | errors |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      '| target | value | wanted | result |',
      '|---|---|---|---|',
      ...targets.map((t) => `| ${t.name} | ${t.value.toFixed(3)} | ${t.target} | ${t.pass ? 'PASS' : 'MISS'} |`),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'http.md'), md);
    process.stdout.write(md);
  } finally {
    await server.stop();
  }
}

runBench(main);
