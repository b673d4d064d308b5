// The dashboard in a real browser (Debian's Chromium through playwright-core)
// against a real server: the page loads on a fresh server; a call made while
// it is open appears in "last calls" with its outcome, a crash with its
// Reason line, a request holding markup as text; the outcome filter keeps
// what it names; on a narrow screen the page does not scroll sideways; anyone but root and
// the policy's monitors gets 403 and none of the page or its data. The
// screenshots in docs/ are taken here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { newToken, tokenSha256 } from '../../src/policy/tokens.js';
import { launchChromium } from '../helpers/browser.js';
import { callClassic } from '../helpers/client.js';
import { startDashboardCommand } from '../helpers/dashboard-command.js';
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
    // Live is the stream's opening; its first frame (which fills the notes) may come a moment later.
    await page.locator('#nodes-note:not(:empty)').waitFor();
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

    // A request is shown as text, never as markup, whatever it holds.
    const markup = '<img src=x onerror="document.title=1">.so';
    await callClassic(server.socket, markup);
    const refused = page.locator('#last-calls tbody tr', { hasText: markup });
    await refused.waitFor();
    assert.equal(await page.locator('#last-calls img').count(), 0, 'no element made from what a client sent');
    assert.notEqual(await page.title(), '1');

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

  it('fnjail dashboard opens the page to a browser on this host that holds its key, and passes on nothing but the dashboard', async () => {
    const command = await startDashboardCommand(server.apiSocket);
    try {
      const origin = new URL(command.url).origin;
      const stranger = await (await open(undefined)).newPage();
      const refused = await stranger.goto(`${origin}/dashboard`);
      assert.equal(refused?.status(), 401, 'without the key: nothing');
      assert.doesNotMatch(await refused!.text(), /<html|libbasic/);

      const page = await (await open(undefined)).newPage();
      await page.goto(command.url);
      assert.equal(new URL(page.url()).pathname, '/dashboard');
      assert.equal(new URL(page.url()).search, '', 'the key leaves the address bar (and the history) at once');
      await page.locator('#connection[data-state="live"]').waitFor();
      await callClassic(server.socket, `${server.area.libDir}/liblifecycle.so exit_one`);
      await page.locator('#last-calls tbody tr[data-outcome="exit"]', { hasText: 'liblifecycle.so exit_one' }).waitFor();
      for (const url of ['/stats', '/registry', '/openapi.json']) {
        const response = await page.request.get(`${origin}${url}`);
        assert.equal(response.status(), 404, `${url}: only the dashboard is passed on`);
      }
    } finally {
      await command.stop();
    }
  });

  it('fnjail dashboard run by a user who is not a monitor shows that user nothing (the server answers 403)', async () => {
    const command = await startDashboardCommand(server.apiSocket, { uid: 4602, gid: 4602 });
    try {
      const page = await (await open(undefined)).newPage();
      const response = await page.goto(command.url);
      assert.equal(response?.status(), 403);
      assert.match(await response!.text(), /uid 4602 .*may not see the dashboard/);
    } finally {
      await command.stop();
    }
  });
});
