// The dashboard of a cluster in a real browser (Debian's Chromium through
// playwright-core): two real `fnjail serve` nodes joined through one real
// nats-server (JetStream, plain NATS on loopback with --insecure, as
// docs/cluster.md allows for trying a cluster on one machine), with short
// heartbeat, suspect and down times. The page of node-a lists both nodes up
// with node-b's figures from its heartbeats, and node-b's calls per second once
// it answered calls; node-b killed with SIGKILL turns suspect, then down, on
// the page. Every wait is on the page's DOM. The screenshot of the cluster in
// docs/ is taken here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { packageRoot } from '../../src/paths.js';
import { newToken, tokenSha256 } from '../../src/policy/tokens.js';
import { launchChromium } from '../helpers/browser.js';
import { callClassic } from '../helpers/client.js';
import { createTestArea, HANG_GUARD_MS, requireRoot, type TestArea } from '../helpers/environment.js';
import { httpAddresses } from '../helpers/http.js';
import { startTestNatsServer, type TestNatsServer } from '../helpers/nats.js';
import { startServer, type TestServer } from '../helpers/server.js';

const WATCHER = newToken();
/** Short cluster timings; a suspect stays suspect for seconds, so that the page (a frame a second) shows it. */
const TIMINGS = ['--heartbeat', '200ms', '--suspect-after', '1s', '--down-after', '5s'];
/** A waited-for state that never comes fails the test rather than hanging it. */
const GUARD = { timeout: HANG_GUARD_MS };

describe('dashboard of a cluster in Chromium', { timeout: 4 * HANG_GUARD_MS }, () => {
  let natsArea: TestArea;
  let nats: TestNatsServer;
  const servers = new Map<string, TestServer>();
  let browser: Browser;

  const startNode = async (name: string, args: string[] = []) => {
    const server = await startServer({
      policy: (area) => ({
        monitors: { tokens: ['watcher'] },
        defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 2000 } },
        tenants: [{ name: 'ops', match: { uids: [4601] }, tokens: [{ id: 'watcher', sha256: tokenSha256(WATCHER) }] }],
      }),
      args: ['--nats', nats.url, '--insecure', '--node-name', name, ...TIMINGS, ...args],
    });
    servers.set(name, server);
    return server;
  };

  before(async () => {
    requireRoot();
    natsArea = createTestArea();
    nats = await startTestNatsServer(natsArea.root);
    await startNode('node-a', ['--http', '127.0.0.1:0']);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    for (const server of servers.values()) await server.stop().catch(() => undefined);
    await nats?.stop();
    natsArea?.cleanup();
  });

  it('shows both nodes up, then the node killed suspect, then down', async () => {
    const { host, port } = httpAddresses(servers.get('node-a')!.logs)[0]!;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, extraHTTPHeaders: { authorization: `Bearer ${WATCHER}` } });
    const page = await context.newPage();
    assert.equal((await page.goto(`http://${host}:${port}/`))?.status(), 200);
    await page.locator('#connection[data-state="live"]').waitFor();
    const rowOf = (node: string, state = 'up') => page.locator(`#nodes-table tbody tr[data-node="${node}"][data-state="${state}"]`);
    // Joining takes as long as JetStream and the first heartbeats: waited for on the page (HANG_GUARD_MS only stops a hang).
    // node-a coordinates before node-b starts: node-b's death is then judged by a coordinator that saw it
    // live, with no takeover of the lease in between (one would judge it later, maybe down at once).
    await page.locator('#nodes-table tbody tr[data-node="node-a"][data-state="up"][data-coordinator="true"]').waitFor(GUARD);
    assert.match(await page.locator('#nodes-note').innerText(), /^1 node in the cluster: 1 up\.$/);
    await startNode('node-b');
    await rowOf('node-b').waitFor(GUARD);
    assert.match(await page.locator('#nodes-note').innerText(), /^2 nodes in the cluster: 2 up\.$/);
    const a = await rowOf('node-a').locator('td').allInnerTexts();
    assert.match(a[0]!, /^node-a\s+coordinator$/, 'node-a holds the lease');
    assert.equal(a[2], 'this node');
    // node-b's figures come from its heartbeats: CPU, memory, running calls, free slots.
    const b = await rowOf('node-b').locator('td').allInnerTexts();
    assert.match(b[2]!, /^\d+(\.\d+)? (µs|ms|s) ago$/, `heartbeat age: ${b[2]}`);
    assert.match(b[3]!, /^\d+%$/, `CPU: ${b[3]}`);
    assert.match(b[4]!, /^[\d.]+ \w?i?B of [\d.]+ \w?i?B$/, `memory: ${b[4]}`);
    assert.match(b[5]!, /^\d+$/);
    assert.match(b[6]!, /^\d+$/);

    // Calls answered by node-b show in its calls per second (from two heartbeats' counts).
    const nodeB = servers.get('node-b')!;
    for (let i = 0; i < 3; i++) assert.match(await callClassic(nodeB.socket, `${nodeB.area.libDir}/libbasic.so run`), /out-/);
    await page.waitForFunction(() => {
      const label = document.querySelector('#nodes-table tr[data-node="node-b"] svg[aria-label^="Calls per second"]')?.getAttribute('aria-label') ?? '';
      return /peak [1-9]/.test(label) || /peak 0\.[1-9]/.test(label);
    }, undefined, GUARD);

    nodeB.process.kill('SIGKILL');
    await rowOf('node-b', 'suspect').waitFor(GUARD);
    await rowOf('node-b', 'down').waitFor(GUARD);
    await rowOf('node-a').waitFor();
    const down = await rowOf('node-b', 'down').locator('td').allInnerTexts();
    assert.match(down[1]!, /^down$/, 'the state in words as well as in colour');
    assert.equal(down[3], 'unknown', 'no figures of a node that is down');
    assert.match(await page.locator('#nodes-note').innerText(), /^2 nodes in the cluster: 1 up, 1 down\.$/);
    await page.screenshot({ path: path.join(packageRoot, 'docs', 'dashboard-cluster.png'), fullPage: true });
    await context.close();
  });
});
