// npm run bench:dashboard: whether the dashboard keeps up with 1000 calls a
// second. The dashboard's feed (src/dashboard/) records calls at --rate a
// second (execution results as the executor makes them: the machine cannot
// run 1000 sandboxed calls a second, and what is measured here is what
// happens after a call is answered), its event stream goes over real HTTP to
// the real page in Debian's Chromium, and the same run measures the page
// idle as the baseline. Reported per scenario: frames a second the page
// drew, how far behind the server the page was when it drew a frame, the
// stream's bytes a second, the page's main-thread busy share (Chrome's
// TaskDuration), the server's time spent recording calls and building
// frames; and what a stream of one event per call would have sent instead.
// Writes bench/results/dashboard.{json,md}.
//
//   node dist/bench/dashboard-stream.js [--rate N] [--seconds N]
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DashboardFeed } from '../src/dashboard/dashboard-feed.js';
import { streamFrames } from '../src/dashboard/event-response.js';
import type { OutcomeKind } from '../src/executor/classify.js';
import { dashboardAssetsDir, packageRoot } from '../src/paths.js';
import { launchChromium } from '../test/helpers/browser.js';
import { executionResult } from '../test/helpers/execution-results.js';
import { onCleanup, runBench } from './cleanup.js';
import { machineInfo } from './machine.js';
import { log } from './progress.js';
import { percentile } from './stats.js';

const resultsDir = path.join(packageRoot, 'bench', 'results');

/** What a page's frames must stay within for the stream to count as keeping up. */
const TARGET = { framesPerSecond: [0.9, 1.1], lagP99Ms: 1000, pageBusyShare: 0.5 } as const;

interface Scenario {
  name: string;
  rate: number;
  seconds: number;
  callsRecorded: number;
  framesDrawn: number;
  framesPerSecond: number;
  lagMs: { p50: number; p99: number; max: number };
  streamBytesPerSecond: number;
  pageBusyShare: number;
  recordUsPerCall: number;
  tickMsPerFrame: number;
  /** What one event per call would send (the stream the aggregation replaces). */
  perCallEventsPerSecond: number;
  perCallBytesPerSecond: number;
  keepsUp: boolean;
}

/** A mix like a busy platform's: mostly ok, some failures with their Reason lines, durations from 1 to 60 ms. */
function loadResult(i: number) {
  const failures: Array<[OutcomeKind, string]> = [
    ['exit', 'the function exited with status 1 after 4 ms'],
    ['signal', 'killed by signal 11 (SIGSEGV, invalid memory reference) at address 0x0 after 3 ms'],
    ['timeout', 'timed out after 5000 ms (wall clock limit); the sandbox was killed'],
    ['denied', "denied by policy '/etc/fnjail/policy.json': library dir /tmp is not allowed for uid 1000"],
  ];
  const failure = i % 20 === 0 ? failures[(i / 20) % failures.length]! : undefined;
  return executionResult({
    tenant: `tenant-${i % 7}`,
    library: `/opt/fnlib/lib${['basic', 'image', 'text', 'math'][i % 4]}.so`,
    function: ['run', 'resize', 'upper', 'solve'][i % 4],
    kind: failure?.[0] ?? 'ok',
    reasons: failure ? [failure[1]] : [],
    totalMs: 1 + ((i * 7919) % 60),
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '15' } } });
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  if (process.getuid?.() !== 0) throw new Error('run as root (Chromium runs with --no-sandbox)');
  const machine = machineInfo();
  log(`dashboard stream bench: ${rate} calls/s for ${seconds} s, then idle for ${seconds} s (baseline); ${machine.line}`);

  const scenarios: Scenario[] = [];
  for (const scenarioRate of [0, rate]) scenarios.push(await runScenario(scenarioRate, seconds));

  const results = { machine: machine.line, date: new Date().toISOString(), target: TARGET, scenarios };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'dashboard.json'), `${JSON.stringify(results, null, 2)}\n`);
  const markdown = renderMarkdown(results);
  fs.writeFileSync(path.join(resultsDir, 'dashboard.md'), markdown);
  process.stdout.write(`\n${markdown}`);
}

async function runScenario(rate: number, seconds: number): Promise<Scenario> {
  const name = rate === 0 ? 'idle (baseline)' : `${rate} calls/s`;
  log(`${name}: ${seconds} s`);
  const feed = new DashboardFeed({ nodeName: 'bench', version: 'bench', load: () => ({ running: 8, capacity: 64 }), registryState: () => 'off', functions: async () => [] });
  let tickMs = 0;
  let ticks = 0;
  const tick = feed.tick.bind(feed);
  feed.tick = (now?: number) => {
    const started = performance.now();
    tick(now);
    tickMs += performance.now() - started;
    ticks++;
  };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    if (url === '/dashboard/events') {
      sockets.add(request.socket);
      streamFrames(feed, response, request.headers['last-event-id'] as string | undefined);
      return;
    }
    const file = url === '/dashboard' ? 'index.html' : url.startsWith('/dashboard/assets/') ? path.basename(url) : undefined;
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
    if (!file || !fs.existsSync(path.join(dashboardAssetsDir, file))) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(path.join(dashboardAssetsDir, file)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stopServer = () => {
    feed.close();
    server.closeAllConnections();
    server.close();
  };
  const unregisterServer = onCleanup('bench HTTP server', stopServer);
  const browser = await launchChromium();
  const unregisterBrowser = onCleanup('chromium', () => browser.close());
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const port = (server.address() as net.AddressInfo).port;
    await page.goto(`http://127.0.0.1:${port}/dashboard`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.evaluate(() => {
      const lags: number[] = [];
      (window as unknown as { lags: number[] }).lags = lags;
      new MutationObserver(() => lags.push(Date.now() - Number(document.documentElement.dataset.frameTime))).observe(document.documentElement, { attributes: true, attributeFilter: ['data-frame-time'] });
    });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const taskSeconds = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration')?.value ?? NaN;

    const busyBefore = await taskSeconds();
    const bytesBefore = [...sockets].reduce((sum, s) => sum + s.bytesWritten, 0);
    tickMs = 0;
    ticks = 0;
    let recordMs = 0;
    let recorded = 0;
    let perCallBytes = 0;
    const started = performance.now();
    // Calls arrive in 10 ms batches, as many as the rate asks for by now.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const elapsed = performance.now() - started;
        const due = Math.min(Math.floor((elapsed / 1000) * rate), rate * seconds);
        const batch: ReturnType<typeof loadResult>[] = [];
        for (; recorded < due; recorded++) batch.push(loadResult(recorded));
        const batchStart = performance.now();
        for (const result of batch) feed.calls.record(result);
        recordMs += performance.now() - batchStart;
        if (elapsed >= seconds * 1000) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    const elapsedS = (performance.now() - started) / 1000;
    // What one event per call would have sent: each call as its own event.
    const sample = feed.calls.recentSince(undefined).recent;
    if (sample.length) perCallBytes = sample.reduce((sum, c, i) => sum + `id: ${i}\ndata: ${JSON.stringify(c)}\n\n`.length, 0) / sample.length;
    const busy = (await taskSeconds()) - busyBefore;
    const bytes = [...sockets].reduce((sum, s) => sum + s.bytesWritten, 0) - bytesBefore;
    const lags = await page.evaluate(() => (window as unknown as { lags: number[] }).lags.splice(0));
    const sorted = [...lags].sort((a, b) => a - b);
    const framesPerSecond = lags.length / elapsedS;
    const scenario: Scenario = {
      name,
      rate,
      seconds: Math.round(elapsedS * 10) / 10,
      callsRecorded: recorded,
      framesDrawn: lags.length,
      framesPerSecond: round(framesPerSecond, 2),
      lagMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN },
      streamBytesPerSecond: Math.round(bytes / elapsedS),
      pageBusyShare: round(busy / elapsedS, 3),
      recordUsPerCall: recorded ? round((recordMs * 1000) / recorded, 2) : 0,
      tickMsPerFrame: ticks ? round(tickMs / ticks, 2) : 0,
      perCallEventsPerSecond: rate,
      perCallBytesPerSecond: Math.round(perCallBytes * rate),
      keepsUp: false,
    };
    scenario.keepsUp =
      framesPerSecond >= TARGET.framesPerSecond[0] && framesPerSecond <= TARGET.framesPerSecond[1] && scenario.lagMs.p99 < TARGET.lagP99Ms && scenario.pageBusyShare < TARGET.pageBusyShare;
    log(`${name}: ${JSON.stringify(scenario)}`);
    return scenario;
  } finally {
    await browser.close();
    unregisterBrowser();
    stopServer();
    unregisterServer();
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function renderMarkdown(results: { machine: string; date: string; scenarios: Scenario[] }): string {
  const rows = results.scenarios.map(
    (s) =>
      `| ${s.name} | ${s.callsRecorded} | ${s.framesPerSecond} | ${s.lagMs.p50} / ${s.lagMs.p99} / ${s.lagMs.max} | ${(s.streamBytesPerSecond / 1024).toFixed(1)} KiB | ${(s.pageBusyShare * 100).toFixed(1)}% | ${s.recordUsPerCall} µs | ${s.tickMsPerFrame} ms | ${s.perCallEventsPerSecond} events, ${(s.perCallBytesPerSecond / 1024).toFixed(1)} KiB | ${s.keepsUp ? 'PASS' : 'MISS'} |`,
  );
  return [
    '# Dashboard event stream',
    '',
    `${results.machine}; ${results.date}. \`npm run bench:dashboard\` (bench/dashboard-stream.ts).`,
    '',
    `Keeps up: ${TARGET.framesPerSecond[0]}–${TARGET.framesPerSecond[1]} frames drawn a second, the page at most ${TARGET.lagP99Ms} ms behind the server (p99), its main thread busy less than ${TARGET.pageBusyShare * 100}% of the time.`,
    '',
    '| scenario | calls | frames drawn/s | page behind, ms (p50 / p99 / max) | stream/s | page busy | record per call | frame build | one event per call would send /s | keeps up |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

runBench(main);
