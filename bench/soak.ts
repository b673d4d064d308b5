// npm run bench:soak: a long run of ordinary calls mixed with abusive
// connections, watching that the server's memory and descriptors stay bounded.
//
//   node dist/bench/soak.js [--calls N] [--clients N] [--max-minutes N] [--keep]
//
// While the load generator makes --calls trivial calls (in rounds of
// ROUND_CALLS, the output directory emptied between rounds), abusers
// (soak-abusers.ts, as user nobody) keep at it: held, pipelined, half-open TLS
// and garbage connections. Every second the server's RSS, its launcher's, and its open descriptors are
// sampled. Writes bench/results/soak.json and soak.md. Bounded: it stops after
// --max-minutes whatever the calls made, and every abuser is capped.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { makeTestPki } from '../test/helpers/tls.js';
import { cleanupAll, onCleanup } from './cleanup.js';
import { runLoadgen } from './loadgen.js';
import { childrenOf, rssBytes } from './procfs.js';
import { log } from './progress.js';
import { ABUSERS } from './soak-abusers.js';
import { CALL_TIMEOUT_MS, trivialWorkloads } from './scenarios.js';
import { startFnjail, type BenchServer } from './servers.js';
import { createWorkspace, emptyDir } from './workspace.js';

const USAGE = `usage: npm run bench:soak [-- --calls N] [--clients N] [--max-minutes N] [--keep]

  --calls N        trivial calls in all (default 100000)
  --clients N      concurrent load generator clients (default 16)
  --max-minutes N  stop after this long whatever was done (default 60)
  --keep           keep the workspace under /var/lib/fnjail-bench
Must run as root. Writes bench/results/soak.json and soak.md.
`;

const ROUND_CALLS = 5000;

interface Sample {
  t: number;
  calls: number;
  serverRss: number;
  launcherRss: number;
  fds: number;
}

const fdCount = (pid: number) => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
};

function tlsPort(server: BenchServer): number {
  const stdout = fs.readFileSync(path.join(path.dirname(server.socket), 'stdout.log'), 'utf8');
  const start = stdout.split('\n').find((line) => line.includes('"event":"server-start"'));
  const listen = start ? (JSON.parse(start) as { listen: string[] }).listen[0] : undefined;
  if (!listen) throw new Error('the server logged no TLS address');
  return Number(listen.split(':').at(-1));
}

function renderMarkdown(report: { settings: object; samples: Sample[]; summary: Record<string, unknown> }): string {
  const MiB = (b: number) => (b / 1048576).toFixed(1);
  const rows = report.samples.filter((_, i, all) => i === 0 || i === all.length - 1 || i % Math.max(1, Math.floor(all.length / 20)) === 0);
  return [
    '# Soak: calls mixed with abusive connections',
    '',
    `Settings: ${JSON.stringify(report.settings)}`,
    '',
    `Summary: ${JSON.stringify(report.summary)}`,
    '',
    '| s | calls | server RSS MiB | launcher RSS MiB | server fds |',
    '|---:|---:|---:|---:|---:|',
    ...rows.map((s) => `| ${s.t} | ${s.calls} | ${MiB(s.serverRss)} | ${MiB(s.launcherRss)} | ${s.fds} |`),
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '100000' },
      clients: { type: 'string', default: '16' },
      'max-minutes': { type: 'string', default: '60' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const calls = Number(values.calls);
  const clients = Number(values.clients);
  const maxMs = Number(values['max-minutes']) * 60_000;
  if (!(calls >= 100 && clients >= 1 && maxMs > 0)) throw new Error(`bad arguments\n${USAGE}`);

  const ws = createWorkspace({ keep: values.keep });
  const pki = makeTestPki(ws.subdir('pki'));
  const server = await startFnjail(ws, ['--idle-timeout', '5s', '--listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert]);
  const port = tlsPort(server);
  log(`soak: fnjail pid ${server.pid}, TLS on 127.0.0.1:${port}; ${calls} calls from ${clients} clients, abusers ${JSON.stringify(ABUSERS)}`);

  // The abusers run as nobody: another peer than the load generator (root), with a budget of its own.
  const abuserProcess = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(packageRoot, 'dist', 'bench', 'soak-abusers.js'), server.socket, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onCleanup('stop the abusers', () => void abuserProcess.kill('SIGKILL'));
  let abuserOutput = '';
  abuserProcess.stdout!.on('data', (chunk: Buffer) => (abuserOutput += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    abuserProcess.stdout!.once('data', () => resolve());
    abuserProcess.once('exit', (code) => reject(new Error(`the abusers exited (${code}) before starting`)));
  });
  const started = Date.now();
  let done = 0;
  let errors = 0;
  const samples: Sample[] = [];
  const sample = async () => {
    const launcher = (await childrenOf(server.pid))[0];
    samples.push({
      t: Math.round((Date.now() - started) / 1000),
      calls: done,
      serverRss: await rssBytes(server.pid),
      launcherRss: launcher ? await rssBytes(launcher) : 0,
      fds: fdCount(server.pid),
    });
  };
  await sample();
  const sampler = setInterval(() => void sample(), 1000);
  const errorSamples: string[] = [];
  try {
    while (done < calls && Date.now() - started < maxMs) {
      const round = Math.min(ROUND_CALLS, calls - done);
      const run = await runLoadgen({ socket: server.socket, clients, requests: Math.ceil(round / clients), timeoutMs: CALL_TIMEOUT_MS, workloads: trivialWorkloads(ws) });
      done += run.requests;
      errors += run.errors;
      errorSamples.push(...run.error_samples.slice(0, 2));
      emptyDir(server.outputDir);
      log(`soak: ${done}/${calls} calls, ${errors} errors, server RSS ${Math.round((samples.at(-1)?.serverRss ?? 0) / 1048576)} MiB, ${samples.at(-1)?.fds ?? 0} fds`);
    }
  } finally {
    clearInterval(sampler);
    const exited = new Promise<void>((resolve) => abuserProcess.once('exit', () => resolve()));
    abuserProcess.kill('SIGTERM');
    await exited;
  }
  await sample();
  const alive = server.exited() === null;
  await server.stop();

  const max = (key: 'serverRss' | 'launcherRss' | 'fds') => Math.max(...samples.map((s) => s[key]));
  const summary = {
    calls: done,
    errors,
    errorSamples: errorSamples.slice(0, 5),
    seconds: Math.round((Date.now() - started) / 1000),
    serverAliveAtEnd: alive,
    restarts: server.restarts,
    abuserConnections: JSON.parse(abuserOutput.trim().split('\n').at(-1) ?? '{}') as unknown,
    serverRssMiB: { first: +(samples[0]!.serverRss / 1048576).toFixed(1), max: +(max('serverRss') / 1048576).toFixed(1), last: +(samples.at(-1)!.serverRss / 1048576).toFixed(1) },
    launcherRssMaxMiB: +(max('launcherRss') / 1048576).toFixed(1),
    fds: { first: samples[0]!.fds, max: max('fds'), last: samples.at(-1)!.fds },
  };
  const report = { version: 1, date: new Date().toISOString(), settings: { calls, clients, abusers: ABUSERS, idleTimeout: '5s' }, summary, samples };
  const dir = path.join(packageRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'soak.json'), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'soak.md'), renderMarkdown(report));
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return alive && server.restarts === 0 ? 0 : 1;
}

main().then(
  async (code) => {
    await cleanupAll();
    process.exitCode = code;
  },
  async (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
