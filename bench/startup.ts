// npm run bench:startup: how fast fnjail starts, on this machine, against a
// bare `node -e 0` in the same run:
//   - the server: from exec to the first accepted connection (the classic
//     checker connects 0.25 s after starting it), to the first answered call,
//     and where the time goes (policy loaded, launcher ready, serving), from
//     the server's own log;
//   - the CLI: `fnjail run` against a live server, `--cat`, `--help`;
//   - what the parts cost to load in a fresh process (ajv and compiling the
//     schemas at run time versus the precompiled validators, koffi, pino,
//     the server's modules).
// Medians of --runs (default 7). Writes bench/results/startup.{json,md}.
//
//   node dist/bench/startup.js [--runs N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { onCleanup, runBench } from './cleanup.js';
import { machineInfo } from './machine.js';
import { log } from './progress.js';
import { cliMain } from './servers.js';
import { median } from './stats.js';
import { createWorkspace, type Workspace } from './workspace.js';

const resultsDir = path.join(packageRoot, 'bench', 'results');

/** Wall time of a command, ms. */
function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = performance.now();
  const result = spawnSync(command, args, { stdio: 'ignore', env });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
  return performance.now() - started;
}

/** Tries to connect every 2 ms until it works; resolves with the connected socket. */
function connectWhenListening(socket: string, deadline: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const conn = net.connect(socket);
      conn.once('connect', () => resolve(conn));
      conn.once('error', (error: NodeJS.ErrnoException) => {
        conn.destroy();
        if (performance.now() > deadline) reject(new Error(`not listening: ${error.message}`));
        else setTimeout(attempt, 2);
      });
    };
    attempt();
  });
}

interface ServerStart {
  connectMs: number;
  answerMs: number;
  policyMs: number;
  launcherMs: number;
  servingMs: number;
}

/** One start of the server: exec, connect as soon as possible, send a classic call, read the answer; then stop it. */
async function serverStart(ws: Workspace, index: number): Promise<ServerStart> {
  const dir = ws.subdir(`startup-${index}`);
  const socket = path.join(dir, 'server.sock');
  const outputDir = ws.outputDir(`startup-${index}`);
  const first = 1_700_000 + index * 100;
  const spawnedAt = Date.now();
  const started = performance.now();
  const child = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', outputDir, '--policy', ws.policyFile, '--uid-range', `${first}-${first + 99}`, '--log-format', 'json', '--http-socket', path.join(dir, 'api.sock'), '--state-dir', path.join(dir, 'state')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const unregister = onCleanup(`stop startup server ${index}`, () => void child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  try {
    const conn = await connectWhenListening(socket, started + 20_000);
    const connectMs = performance.now() - started;
    const reply = await new Promise<string>((resolve, reject) => {
      conn.on('data', (chunk: Buffer) => resolve(chunk.toString()));
      conn.on('error', reject);
      conn.write(`${ws.lib('libbasic.so')} run`);
    });
    const answerMs = performance.now() - started;
    conn.destroy();
    if (!reply.startsWith(outputDir)) throw new Error(`unexpected reply ${reply}`);
    // The server's own account, from its log (pino's ISO times, ms).
    const at = (event: string) => {
      const line = stdout.split('\n').find((l) => l.includes(`"event":"${event}"`));
      const time = line ? Date.parse((JSON.parse(line) as { time: string }).time) : NaN;
      return time - spawnedAt;
    };
    await new Promise((resolve) => setTimeout(resolve, 50)); // the log lines of the start, written before the answer
    return { connectMs, answerMs, policyMs: at('policy-load'), launcherMs: at('launcher-ready'), servingMs: at('server-start') };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    unregister();
  }
}

/** What loading (and, for ajv, compiling) each part costs in a fresh process, ms. */
function loadCosts(): Record<string, number> {
  const probe = (code: string): number => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); ${code}; console.log(performance.now() - t);`], { cwd: packageRoot, encoding: 'utf8' });
    return Number(out.trim());
  };
  const src = (file: string) => JSON.stringify(path.join(packageRoot, 'dist', 'src', file));
  const schemas = ['config', 'policy', 'seccomp-profile', 'request'];
  const compile = `const { Ajv } = (await import('ajv')).default; const a = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true }); a.addFormat('absolute-path', /^\\//); const fs = await import('node:fs'); for (const s of ${JSON.stringify(schemas)}) a.compile(JSON.parse(fs.readFileSync('policies/' + s + '.schema.json', 'utf8')))`;
  const precompiled = `const { createRequire } = await import('node:module'); const r = createRequire(${JSON.stringify(`${packageRoot}/`)}); for (const s of ${JSON.stringify(schemas)}) r('./dist/validators/' + s + '.cjs')`;
  return {
    'ajv, loaded': probe(`await import('ajv')`),
    'ajv, loaded and 4 schemas compiled (before)': probe(compile),
    '4 precompiled validators (now)': probe(precompiled),
    koffi: probe(`await import('koffi')`),
    pino: probe(`await import('pino')`),
    'pino-pretty': probe(`await import('pino-pretty')`),
    'the CLI of fnjail run (cli/run.js)': probe(`await import(${src('cli/run.js')})`),
    'what serve loads before it listens (cli/serve.js)': probe(`await import(${src('cli/serve.js')})`),
    'the rest of the server (cli/serve-server.js)': probe(`await import(${src('cli/serve-server.js')})`),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`--runs must be an integer from 1 to 100, not '${values.runs}'`);
  const machine = machineInfo();
  log(`machine: ${machine.line}`);
  const ws = createWorkspace();

  const node: number[] = [];
  const starts: ServerStart[] = [];
  for (let i = 0; i < runs; i++) {
    node.push(timeCommand(process.execPath, ['-e', '0']));
    starts.push(await serverStart(ws, i));
  }
  log(`server start: connect ${median(starts.map((s) => s.connectMs)).toFixed(0)} ms after exec (median of ${runs})`);

  // The CLI against one live server.
  const dir = ws.subdir('cli');
  const socket = path.join(dir, 'server.sock');
  const server = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', ws.outputDir('cli'), '--policy', ws.policyFile, '--uid-range', '1790000-1790099', '--http-socket', path.join(dir, 'api.sock'), '--state-dir', path.join(dir, 'state'), '--nats', 'off'], { stdio: 'ignore' });
  onCleanup('stop the CLI server', () => void server.kill('SIGKILL'));
  (await connectWhenListening(socket, performance.now() + 20_000)).destroy();
  const env = { ...process.env, FNJAIL_SOCKET: socket };
  const cli = { run: [] as number[], cat: [] as number[], help: [] as number[], node: [] as number[] };
  for (let i = 0; i < runs * 2; i++) {
    cli.node.push(timeCommand(process.execPath, ['-e', '0']));
    cli.run.push(timeCommand(process.execPath, [cliMain, 'run', ws.lib('libbasic.so')], env));
    cli.cat.push(timeCommand(process.execPath, [cliMain, 'run', '--cat', ws.lib('libbasic.so')], env));
    cli.help.push(timeCommand(process.execPath, [cliMain, '--help'], env));
  }
  server.kill('SIGTERM');
  const loads = loadCosts();

  const m = (xs: number[]) => Math.round(median(xs));
  const nodeMs = m([...node, ...cli.node]);
  const results = {
    date: new Date().toISOString(),
    machine: machine.line,
    runs,
    nodeMs,
    server: {
      connectMs: m(starts.map((s) => s.connectMs)),
      answerMs: m(starts.map((s) => s.answerMs)),
      policyLoadedMs: m(starts.map((s) => s.policyMs)),
      launcherReadyMs: m(starts.map((s) => s.launcherMs)),
      servingMs: m(starts.map((s) => s.servingMs)),
      connectMsEach: starts.map((s) => Math.round(s.connectMs)),
    },
    cli: { runMs: m(cli.run), catMs: m(cli.cat), helpMs: m(cli.help) },
    loadMs: Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, Math.round(v * 10) / 10])),
  };
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const md = [
    `Machine: ${results.machine}; ${results.date.slice(0, 10)}; medians of ${runs} runs. A shared machine: read the ratios.`,
    '',
    '| what | ms |',
    '|:---|---:|',
    `| \`node -e 0\` | ${nodeMs} |`,
    `| server: exec to first accepted connection | ${results.server.connectMs} (each: ${results.server.connectMsEach.join(', ')}) |`,
    `| server: exec to policy loaded (its log) | ${results.server.policyLoadedMs} |`,
    `| server: exec to sandbox launcher ready (its log) | ${results.server.launcherReadyMs} |`,
    `| server: exec to serving (its log: fnjail listening) | ${results.server.servingMs} |`,
    `| server: exec to the answer of a call sent at connect | ${results.server.answerMs} |`,
    `| \`fnjail run lib\` (a call answered) | ${results.cli.runMs} (${(results.cli.runMs / nodeMs).toFixed(2)}x node) |`,
    `| \`fnjail run --cat lib\` | ${results.cli.catMs} (${(results.cli.catMs / nodeMs).toFixed(2)}x node) |`,
    `| \`fnjail --help\` | ${results.cli.helpMs} |`,
    '',
    'Loading, in a fresh process (ms):',
    '',
    '| part | ms |',
    '|:---|---:|',
    ...Object.entries(results.loadMs).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    'Targets (issue 12):',
    '',
    `- **${verdict(results.server.connectMs <= 250)}** server accepts within 250 ms of exec: ${results.server.connectMs} ms`,
    `- **${verdict(results.cli.runMs <= 3 * nodeMs)}** \`fnjail run\` within 3x \`node -e 0\`: ${results.cli.runMs} vs ${nodeMs} ms (${(results.cli.runMs / nodeMs).toFixed(2)}x)`,
    '',
  ].join('\n');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'startup.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(resultsDir, 'startup.md'), md);
  process.stdout.write(`\n${md}\n`);
}

runBench(main);
