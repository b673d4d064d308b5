// npm run bench:routing: what forwarding a call to another node adds. Two
// real `fnjail serve` nodes on this machine join one nats-server (loopback,
// plain NATS with --insecure), node bench-a with --balance round-robin, so
// that its consecutive calls alternate between itself and bench-b: the calls
// run here and those forwarded are measured in the same run, interleaved,
// through the same HTTP API socket of bench-a, on the same function (a
// program printing the host name its sandbox sees, which says where it ran).
//
//   node dist/bench/routing.js [--calls N]
//
// Writes bench/results/routing.json and routing.md. Goal (issue 16):
// forwarding adds at most 1 ms at p50 on loopback. For scale, in the same
// run: a bare NATS request/reply round trip between this process and a
// responder process of its own, through the same nats-server, after each
// call. A forwarded call makes two such trips, one and a half on its path:
// the reservation and its "accepted" (while bench-a checks out and decides),
// then start, and its result back (docs/cluster.md, Speed): on a loaded
// machine, what each trip costs is what forwarding costs. And a raw TCP round
// trip on loopback to an echo process of its own, measured the same ways:
// what the trip would cost without the broker in between.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NatsSystem } from '../src/cluster/nats-connection.js';
import { packageRoot } from '../src/paths.js';
import { cliMain, createTestArea } from '../test/helpers/environment.js';
import { httpRequest } from '../test/helpers/http.js';
import { startTestNatsServer } from '../test/helpers/nats.js';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { onCleanup, runBench } from './cleanup.js';
import { log } from './progress.js';

const GOAL_P50_MS = 1;

/** A TCP echo server in a process of its own on loopback, and a connection to it: ping() is one round trip of 64 bytes. */
async function tcpEcho(): Promise<{ child: ChildProcess; ping: () => Promise<void>; close: () => void }> {
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); }).listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port] = (await once(child.stdout!, 'data')) as [Buffer];
  const socket = net.connect(Number(port.toString()), '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const payload = Buffer.alloc(64);
  const ping = () =>
    new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.length;
        if (got < payload.length) return;
        socket.off('data', onData);
        resolve();
      };
      socket.on('data', onData);
      socket.write(payload);
    });
  return { child, ping, close: () => socket.destroy() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string' } } });
  const calls = Number(values.calls ?? 2000);
  const area = createTestArea();
  onCleanup('bench area', () => area.cleanup());
  const nats = await startTestNatsServer(area.root);
  onCleanup('nats-server', () => nats.stop());
  const policy = { defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir] } };
  const start = (name: string, balance: string): Promise<TestServer> =>
    startServer({ policy, args: ['--node-name', name, '--nats', nats.url, '--insecure', '--balance', balance, '--max-concurrent', '4', '--log-level', 'warn'] });
  const a = await start('bench-a', 'round-robin');
  onCleanup('bench-a', async () => void (await a.stop()));
  const b = await start('bench-b', 'least-loaded');
  onCleanup('bench-b', async () => void (await b.stop()));

  const dir = path.join(area.root, 'where');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name: 'where', kind: 'program', mode: 'per-request', entry: 'main.sh' }), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'main.sh'), '#!/bin/sh\nexec cat /proc/sys/kernel/hostname\n', { mode: 0o755 });
  execFileSync(process.execPath, [cliMain, 'deploy', dir, '--api-socket', a.apiSocket], { stdio: 'ignore' });

  // Both up in bench-a's table before measuring.
  for (;;) {
    const reply = await httpRequest(a.apiSocket, { method: 'GET', path: '/cluster' });
    const rows = reply.json<{ members: Array<{ node: string; state: string; calls: unknown }> }>().members;
    if (rows.filter((r) => r.state === 'up' && r.calls).length === 2) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // The bare round trip: a responder in a process of its own, as a node is, both
  // connected as a node connects (NatsSystem: noAsyncTraces, its own inbox prefix; the
  // client sets TCP_NODELAY and writes at the next microtask).
  const natsConnection = path.join(packageRoot, 'dist', 'src', 'cluster', 'nats-connection.js');
  const responder = spawn(process.execPath, ['--input-type=module', '-e', `import { NatsSystem } from ${JSON.stringify(natsConnection)}; const { connection: c } = await NatsSystem.connect({ servers: [${JSON.stringify(nats.url)}], insecure: true, name: 'echo', inboxPrefix: '_INBOX.echo' }); c.subscribe('bench.echo', { callback: (e, m) => m.respond(m.data) }); await c.flush(); process.stdout.write('ready\\n');`], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup('responder', () => void responder.kill());
  await once(responder.stdout, 'data');
  const pingerSystem = await NatsSystem.connect({ servers: [nats.url], insecure: true, name: 'pinger', inboxPrefix: '_INBOX.pinger' });
  const pinger = pingerSystem.connection;
  onCleanup('pinger', () => pingerSystem.close());
  const roundTrips: number[] = [];
  const echo = await tcpEcho();
  onCleanup('tcp echo', () => {
    echo.close();
    echo.child.kill();
  });
  const tcpTrips: number[] = [];

  const times: Record<string, number[]> = { 'bench-a': [], 'bench-b': [] };
  const warmup = 100;
  log(`${calls} calls on bench-a, alternating between bench-a (here) and bench-b (forwarded), after ${warmup} to warm up`);
  for (let i = 0; i < warmup + calls; i++) {
    const started = performance.now();
    const reply = await httpRequest(a.apiSocket, { method: 'POST', path: '/run/where' });
    const ms = performance.now() - started;
    if (reply.status !== 200) throw new Error(`call ${i}: ${reply.status} ${reply.body.toString()}`);
    const ranOn = reply.body.toString().trim();
    if (i >= warmup) times[ranOn]!.push(ms);
    const sent = performance.now();
    await pinger.request('bench.echo', new Uint8Array(64), { timeout: 5000 });
    if (i >= warmup) roundTrips.push(performance.now() - sent);
    const tcpSent = performance.now();
    await echo.ping();
    if (i >= warmup) tcpTrips.push(performance.now() - tcpSent);
  }
  // The same round trip back to back (every process on its path still awake from the last
  // one): what a trip costs without the wake-ups that a call's trips, between sandbox runs, pay.
  const backToBack: number[] = [];
  for (let i = 0; i < warmup + calls; i++) {
    const sent = performance.now();
    await pinger.request('bench.echo', new Uint8Array(64), { timeout: 5000 });
    if (i >= warmup) backToBack.push(performance.now() - sent);
  }
  const tcpBackToBack: number[] = [];
  for (let i = 0; i < warmup + calls; i++) {
    const sent = performance.now();
    await echo.ping();
    if (i >= warmup) tcpBackToBack.push(performance.now() - sent);
  }
  const stats = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    return { calls: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) };
  };
  const local = stats(times['bench-a']!);
  const forwarded = stats(times['bench-b']!);
  const added = { p50: forwarded.p50 - local.p50, p99: forwarded.p99 - local.p99 };
  const natsRoundTrip = stats(roundTrips);
  const natsBackToBack = stats(backToBack);
  const tcpRoundTrip = stats(tcpTrips);
  const tcpBackToBackStats = stats(tcpBackToBack);
  const result = { time: new Date().toISOString(), calls, local, forwarded, added, natsRoundTrip, natsBackToBack, tcpRoundTrip, tcpBackToBack: tcpBackToBackStats, loadAverage: os.loadavg(), goal: `forwarding adds <= ${GOAL_P50_MS} ms at p50 on loopback`, met: added.p50 <= GOAL_P50_MS };
  const resultsDir = path.join(packageRoot, 'bench', 'results');
  fs.writeFileSync(path.join(resultsDir, 'routing.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  const md = [
    '# Routing overhead',
    '',
    `${result.time}: ${calls} calls of a program function (prints its host name) over HTTP on node bench-a's API socket, --balance round-robin between bench-a and bench-b (two fnjail serve on this machine, one nats-server on loopback), interleaved. \`npm run bench:routing\` (bench/routing.ts). Each call's time is the whole HTTP request, sandbox included.`,
    '',
    '| where the call ran | calls | p50 | p90 | p99 |',
    '|---|---:|---:|---:|---:|',
    `| here (bench-a, the baseline) | ${local.calls} | ${f(local.p50)} | ${f(local.p90)} | ${f(local.p99)} |`,
    `| forwarded to bench-b over NATS | ${forwarded.calls} | ${f(forwarded.p50)} | ${f(forwarded.p90)} | ${f(forwarded.p99)} |`,
    '',
    `Forwarding adds **${f(added.p50)} at p50** and ${f(added.p99)} at p99 (goal ≤ ${GOAL_P50_MS} ms at p50: ${result.met ? 'met' : 'MISSED'}).`,
    '',
    `For scale, in the same run: a bare NATS request/reply round trip between two processes through the same nats-server, connected as nodes are, took ${f(natsRoundTrip.p50)} at p50 (${f(natsRoundTrip.p99)} at p99) made after each call, as a call's trips are (the processes on its path woken from sleep), and ${f(natsBackToBack.p50)} at p50 (${f(natsBackToBack.p99)} at p99) back to back; a forwarded call makes two, one and a half on its path (the reservation, while bench-a checks out and decides; then start, and its result). Without the broker, a raw TCP round trip on loopback to an echo process took ${f(tcpRoundTrip.p50)} at p50 made after each call and ${f(tcpBackToBackStats.p50)} back to back. Load average during the run: ${result.loadAverage.map((l) => l.toFixed(2)).join(', ')} (${os.cpus().length} CPUs).`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(resultsDir, 'routing.md'), md);
  process.stdout.write(`\n${md}`);
}

runBench(main);
