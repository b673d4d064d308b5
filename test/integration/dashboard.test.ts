// The dashboard in a real browser (Debian's Chromium through playwright-core)
// against a real server: the page loads on a fresh server; a call made while
// it is open appears in "last calls" with its outcome, a crash with its
// Reason line; the outcome filter keeps what it names; anyone but root and
// the policy's monitors gets 403 and none of the page or its data. The
// screenshots in docs/ are taken here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { newToken, tokenSha256 } from '../../src/policy/tokens.js';
import { launchChromium } from '../helpers/browser.js';
import { callClassic } from '../helpers/client.js';
import { packageRoot } from '../../src/paths.js';
import { startServer, type TestServer } from '../helpers/server.js';

const WATCHER = newToken();
const CALLER = newToken();

/** The base URL of the server's --http listener, from its start message. */
function httpBase(server: TestServer): string {
  const start = server.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('fnjail listening'));
  const match = /(127\.0\.0\.1:\d+) \(HTTP\)/.exec(String(start?.msg));
  assert.ok(match, `the server names its HTTP listener: ${String(start?.msg)}`);
  return `http://${match[1]}`;
}

describe('dashboard in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let base: string;
  const contexts: BrowserContext[] = [];

  const open = async (token: string | undefined, viewport = { width: 1280, height: 900 }) => {
    const context = await browser.newContext({ viewport, ...(token ? { extraHTTPHeaders: { authorization: `Bearer ${token}` } } : {}) });
    contexts.push(context);
    return context;
  };

  before(async () => {
    server = await startServer({
      args: ['--http', '127.0.0.1:0', '--insecure'],
      policy: (area) => ({
        monitors: { tokens: ['watcher'] },
        defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 2000 } },
        tenants: [
          { name: 'ops', match: { uids: [4601] }, tokens: [{ id: 'watcher', sha256: tokenSha256(WATCHER) }] },
          { name: 'ana', match: { uids: [4602] }, tokens: [{ id: 'ana-laptop', sha256: tokenSha256(CALLER) }] },
        ],
      }),
    });
    base = httpBase(server);
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  it('loads on a fresh server, then shows a call made while it is open, with its outcome', async () => {
    const page = await (await open(WATCHER)).newPage();
    const response = await page.goto(`${base}/`);
    assert.equal(response?.status(), 200);
    await page.locator('#connection[data-state="live"]').waitFor();
    assert.match(await page.locator('#nodes-note').innerText(), /No cluster/);
    assert.match(await page.locator('#jobs-note').innerText(), /No jobs/);
    assert.equal(await page.locator('#last-calls tbody tr').count(), 0, 'a fresh server has no calls to show');

    const reply = await callClassic(server.socket, `${server.area.libDir}/libbasic.so run`);
    assert.match(reply, /out-/);
    const row = page.locator('#last-calls tbody tr', { hasText: 'libbasic.so run' });
    await row.waitFor();
    assert.equal(await row.getAttribute('data-outcome'), 'ok');
    assert.match(await row.innerText(), /\bok\b/);
    await page.locator('#functions-table tbody tr', { hasText: 'libbasic.so run' }).waitFor();
  });

  it('shows a crash with its Reason line, and the filter keeps the outcome it names', async () => {
    const page = await (await open(WATCHER)).newPage();
    await page.goto(`${base}/dashboard`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await callClassic(server.socket, `${server.area.libDir}/liblifecycle.so crash`);
    const row = page.locator('#last-calls tbody tr[data-outcome="signal"]', { hasText: 'liblifecycle.so crash' });
    await row.waitFor();
    assert.match(await row.locator('td.reason').innerText(), /^Reason: killed by signal 11 \(SIGSEGV/);

    await page.locator('#outcome-filter').selectOption('signal');
    await page.locator('#last-calls tbody tr[data-outcome="ok"]').waitFor({ state: 'detached' });
    const outcomes = await page.locator('#last-calls tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.outcome));
    assert.ok(outcomes.length > 0 && outcomes.every((o) => o === 'signal'), `only signal rows: ${outcomes.join(', ')}`);
    await page.locator('#outcome-filter').selectOption('');
    await page.locator('#last-calls tbody tr[data-outcome="ok"]').first().waitFor();
    await page.screenshot({ path: path.join(packageRoot, 'docs', 'dashboard.png'), fullPage: true });

    const narrow = await (await open(WATCHER, { width: 390, height: 844 })).newPage();
    await narrow.goto(`${base}/`);
    await narrow.locator('#last-calls tbody tr[data-outcome="signal"]').first().waitFor();
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `on a narrow screen the page itself does not scroll sideways (tables scroll in their own region): ${overflow}px too wide`);
    await narrow.screenshot({ path: path.join(packageRoot, 'docs', 'dashboard-narrow.png'), fullPage: true });
  });

  it("gives anyone but the policy's monitors 403 and none of the page or its data", async () => {
    for (const token of [CALLER, undefined]) {
      const page = await (await open(token)).newPage();
      for (const url of ['/', '/dashboard', '/dashboard/assets/main.js', '/dashboard/events']) {
        const response = await page.goto(`${base}${url}`);
        assert.equal(response?.status(), 403, `${url} with ${token ? "a tenant's token" : 'no token'}`);
        const body = await response!.text();
        assert.match(body, /may not see the dashboard/);
        assert.doesNotMatch(body, /libbasic|liblifecycle|<html|EventSource/, 'no data and no page');
      }
    }
  });
});
