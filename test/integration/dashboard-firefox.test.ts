// The dashboard in Firefox (Debian's firefox-esr over plain WebDriver BiDi:
// test/helpers/firefox-bidi.ts says why not through playwright-core) against a
// real server, opened as a person opens it: through the address `fnjail
// dashboard` prints. The page goes live; a call made while it is open appears
// in "last calls" with its outcome, a crash with its Reason line; on a narrow
// screen the page does not scroll sideways. What the Chromium test covers
// besides (the filter, 403s, the key) is the server's, not the browser's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { startDashboardCommand } from '../helpers/dashboard-command.js';
import { launchFirefox, type FirefoxBidi } from '../helpers/firefox-bidi.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** A row of "last calls" with this outcome whose text holds this request. */
function hasCallRow(outcome: string, request: string): boolean {
  return [...document.querySelectorAll<HTMLElement>('#last-calls tbody tr')].some((row) => row.dataset.outcome === outcome && row.innerText.includes(request));
}

describe('dashboard in Firefox', () => {
  let server: TestServer;
  let firefox: FirefoxBidi;
  let dashboard: Awaited<ReturnType<typeof startDashboardCommand>>;

  before(async () => {
    server = await startServer();
    dashboard = await startDashboardCommand(server.apiSocket);
    firefox = await launchFirefox();
  });

  after(async () => {
    await firefox?.close();
    await dashboard?.stop();
    await server?.stop();
  });

  it('goes live on a fresh server, then shows a call made while it is open, with its outcome, and a crash with its Reason line', async () => {
    const tab = await firefox.newTab();
    await firefox.navigate(tab, dashboard.url);
    assert.equal(await firefox.evaluate(tab, () => location.pathname + location.search), '/dashboard', 'the key leaves the address at once');
    await firefox.waitFor(tab, 'the page to go live', () => document.querySelector('#connection[data-state="live"]') !== null);
    // Live is the stream's opening; its first frame (which fills the nodes' note) may come a moment later.
    await firefox.waitFor(tab, 'the first frame', () => document.querySelector<HTMLElement>('#nodes-note')!.innerText !== '');
    assert.match(await firefox.evaluate(tab, () => document.querySelector<HTMLElement>('#nodes-note')!.innerText), /No cluster/);
    assert.equal(await firefox.evaluate(tab, () => document.querySelectorAll('#last-calls tbody tr').length), 0, 'a fresh server has no calls to show');

    assert.match(await callClassic(server.socket, `${server.area.libDir}/libbasic.so run`), /out-/);
    await firefox.waitFor(tab, 'the call in "last calls", ok', hasCallRow, 'ok', 'libbasic.so run');
    const okRow = await firefox.evaluate(tab, () => [...document.querySelectorAll<HTMLElement>('#last-calls tbody tr[data-outcome="ok"]')].map((row) => row.innerText).join('\n'));
    assert.match(okRow, /libbasic\.so run[\s\S]*\bok\b/);

    await callClassic(server.socket, `${server.area.libDir}/liblifecycle.so crash`);
    await firefox.waitFor(tab, 'the crash in "last calls"', hasCallRow, 'signal', 'liblifecycle.so crash');
    const reason = await firefox.evaluate(tab, () => document.querySelector<HTMLElement>('#last-calls tbody tr[data-outcome="signal"] td.reason')!.innerText);
    assert.match(reason, /^Reason: killed by signal 11 \(SIGSEGV/);
  });

  it('does not scroll sideways on a narrow screen (390 px)', async () => {
    const tab = await firefox.newTab();
    await firefox.setViewport(tab, 390, 844);
    await firefox.navigate(tab, dashboard.url);
    await firefox.waitFor(tab, 'the page to go live', () => document.querySelector('#connection[data-state="live"]') !== null);
    // The page filled as in use: the crash of the test above, with its long Reason line.
    await firefox.waitFor(tab, 'the crash in "last calls"', () => document.querySelector('#last-calls tbody tr[data-outcome="signal"]') !== null);
    assert.equal(await firefox.evaluate(tab, () => window.innerWidth), 390, 'the viewport is narrow');
    const overflow = await firefox.evaluate(tab, () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `on a narrow screen the page itself does not scroll sideways (tables scroll in their own region): ${overflow}px too wide`);
  });
});
