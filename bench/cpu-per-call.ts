// Where a call's CPU goes, measured in CPU time (robust on a loaded machine,
// unlike wall-clock throughput): runs N calls of each kind against one fnjail
// server (registry on) and prints, per call, the CPU milliseconds of the
// server, of its nats-server, of the launcher (and the sandboxes it reaped),
// the medians of the audit records' times, and the wall-clock throughput
// for what it is worth.
//
//   node dist/bench/cpu-per-call.js [--calls N] [--clients N] [--kinds library,named-library,program,http]
//     [--args 'more serve options'] [--cpu-prof DIR (the server's CPU profile, written when it stops)]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { runBench } from './cleanup.js';
import { runLoadgen } from './loadgen.js';
import { deployFunction, httpAddressesOf, startFnjail, type BenchServer } from './servers.js';
import { basicBundle, createWorkspace, emptyDir, upcaseBundle } from './workspace.js';

/** utime+stime (own, and of reaped children) in ms, of the process. */
function cpuMs(pid: number): { own: number; children: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10 };
}

function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The CPU time (ms) of every sandbox the launcher made, from its cpuacct cgroup (cgroup v1: what
 * sandbox/cgroups.c makes on this host), or undefined. Unlike the launcher's reaped-children time,
 * this counts a sandbox's CPU as it is spent, not when the sandbox retires (every --sandbox-reuse calls). */
function sandboxCgroupMs(launcher: number): number | undefined {
  try {
    const line = fs.readFileSync(`/proc/${launcher}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('cpuacct'));
    const own = line?.split(':')[2];
    if (own === undefined) return undefined;
    const usage = fs.readFileSync(path.join('/sys/fs/cgroup/cpuacct', own, `fnjail-${launcher}`, 'cpuacct.usage'), 'utf8');
    return Number(usage) / 1e6;
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function wrk(url: string, clients: number, seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t', String(Math.min(2, clients)), '-c', String(clients), '-d', `${seconds}s`, '--latency', '-s', path.join(packageRoot, 'bench', 'wrk-post.lua'), url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

/** The medians of the execution records' times (ms) written since offset: the server's view of a call. */
function auditMedians(file: string, offset: number): string {
  const text = fs.readFileSync(file, 'utf8').slice(offset);
  const records = text.split('\n').filter((l) => l.includes('"event":"execution"')).map((l) => JSON.parse(l) as Record<string, number | null>);
  const median = (key: string) => {
    const v = records.map((r) => r[key]).filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]!.toFixed(3) : '-';
  };
  return `audit medians (${records.length} records): totalMs ${median('totalMs')} runMs ${median('runMs')} queueMs ${median('queueMs')}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000' }, clients: { type: 'string', default: '1' }, kinds: { type: 'string', default: 'library,named-library,program,http' }, args: { type: 'string', default: '' }, 'cpu-prof': { type: 'string' } } });
  const calls = Number(values.calls);
  const clients = Number(values.clients);
  const ws = createWorkspace();
  const extra = values.args ? values.args.split(' ') : [];
  const server: BenchServer = await startFnjail(ws, ['--http', '127.0.0.1:0', '--insecure', ...extra], '', { registry: true, nodeArgs: values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-interval', '200', `--cpu-prof-dir=${values['cpu-prof']}`] : [] });
  await deployFunction(server, upcaseBundle(ws));
  await deployFunction(server, basicBundle(ws));
  const input = path.join(ws.dataDir, 'in.txt');
  fs.writeFileSync(input, 'hello from the program bench\n', { mode: 0o644 });
  const kids = childPids(server.pid);
  const nats = kids.find((p) => commOf(p).startsWith('nats'));
  const launcher = kids.find((p) => !commOf(p).startsWith('nats'));
  process.stdout.write(`server ${server.pid}, launcher ${launcher} (${launcher && commOf(launcher)}), nats ${nats}\n`);
  let logOffset = fs.statSync(server.stdoutFile).size;
  const measure = async (label: string, work: () => Promise<string>) => {
    const before = { s: cpuMs(server.pid), n: nats ? cpuMs(nats) : undefined, l: launcher ? cpuMs(launcher) : undefined, cg: launcher ? sandboxCgroupMs(launcher) : undefined };
    const t0 = performance.now();
    const detail = await work();
    const wall = performance.now() - t0;
    const after = { s: cpuMs(server.pid), n: nats ? cpuMs(nats) : undefined, l: launcher ? cpuMs(launcher) : undefined, cg: launcher ? sandboxCgroupMs(launcher) : undefined };
    const per = (a: number, b: number, n: number) => ((b - a) / n).toFixed(3);
    const n = Number(/calls=(\d+)/.exec(detail)?.[1] ?? calls);
    process.stdout.write(
      `${label.padEnd(28)} calls ${n} wall ${(wall / 1000).toFixed(1)}s | CPU ms/call: server ${per(before.s.own, after.s.own, n)}` +
        ` nats ${before.n && after.n ? per(before.n.own, after.n.own, n) : '-'} launcher ${before.l && after.l ? per(before.l.own, after.l.own, n) : '-'}` +
        ` sandboxes ${before.l && after.l ? per(before.l.children, after.l.children, n) : '-'}` +
        ` (cgroup ${before.cg !== undefined && after.cg !== undefined ? per(before.cg, after.cg, n) : '-'}) | ${detail}\n`,
    );
    process.stdout.write(`${''.padEnd(28)} ${auditMedians(server.stdoutFile, logOffset)}\n`);
    logOffset = fs.statSync(server.stdoutFile).size;
    emptyDir(server.outputDir);
  };
  const loadgen = async (workload: string) => {
    const run = await runLoadgen({ socket: server.socket, clients, requests: Math.ceil(calls / clients), timeoutMs: 5000, workloads: [workload] });
    return `calls=${run.requests} ${run.throughput.toFixed(0)}/s p50 ${run.latency_ms.p50.toFixed(2)} ms errors ${run.errors} ${run.error_samples[0] ?? ''}`;
  };
  const kinds = values.kinds.split(',');
  for (let round = 0; round < 2; round++) {
    if (kinds.includes('library')) await measure('library (socket)', () => loadgen(`1|=run\\n|${ws.lib('libbasic.so')} run`));
    if (kinds.includes('named-library')) await measure('@basic (socket)', () => loadgen(`1|=run\\n|@basic run`));
    if (kinds.includes('program')) await measure('@upcase (socket)', () => loadgen(`1|=HELLO FROM THE PROGRAM BENCH\\n|@upcase ${input}`));
    if (kinds.includes('http')) {
      await measure('POST /run/basic (http)', async () => {
        const seconds = 5;
        const out = await wrk(`http://${httpAddressesOf(server)[0]!}/run/basic`, clients, seconds);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
        const p50 = /50%\s+(\S+)/.exec(out)?.[1];
        const total = Number(/(\d+) requests in/.exec(out)?.[1]);
        return `calls=${total} ${rps.toFixed(0)}/s p50 ${p50} ${/Non-2xx.*/.exec(out)?.[0] ?? ''}`;
      });
    }
  }
  await server.stop();
}

runBench(main);
