// The dashboard's Jobs section in a real browser (Debian's Chromium) against a
// real server with its job queue (its private nats-server, the real sandbox):
// with one job slot held by a long replica, a second job shows WAITING in the
// recent tickets and the queue's summary counts it waiting (with the age of
// the oldest); when the first ends, the second is COMPLETED on the page.
// Every wait is for the page to show it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { newToken, tokenSha256 } from '../../src/policy/tokens.js';
import type { User } from '../helpers/as-user.js';
import { launchChromium } from '../helpers/browser.js';
import type { TestArea } from '../helpers/environment.js';
import { fnjailAs } from '../helpers/fnjail-cli.js';
import { httpAddresses } from '../helpers/http.js';
import { libraryBundle } from '../helpers/jobs.js';
import { startServer, type TestServer } from '../helpers/server.js';

const WATCHER = newToken();
const ALICE: User = { uid: 4631, gid: 4631 };

describe('dashboard jobs in Chromium', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startServer({
      registry: true,
      args: ['--http', '127.0.0.1:0', '--insecure', '--job-slots', '1'],
      policy: (area: TestArea) => ({
        monitors: { tokens: ['watcher'] },
        defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 60_000 } },
        tenants: [
          { name: 'ops', match: { uids: [4632] }, tokens: [{ id: 'watcher', sha256: tokenSha256(WATCHER) }] },
          { name: 'alice', match: { uids: [ALICE.uid] }, deploy: true },
        ],
      }),
    });
    for (const bundle of [libraryBundle(server.area, 'basic', 'libbasic.so', ['run']), libraryBundle(server.area, 'lifecycle', 'liblifecycle.so', ['sleep_long'])]) {
      const deployed = await fnjailAs(server, ALICE, ['deploy', bundle]);
      assert.equal(deployed.status, 0, deployed.stderr);
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const submit = async (args: string[]) => {
    const submitted = await fnjailAs(server, ALICE, ['jobs', 'submit', ...args]);
    assert.equal(submitted.status, 0, submitted.stderr);
    return submitted.stdout.trim();
  };

  it('shows a job waiting behind a running one, the queue counting it, then both ended', async () => {
    const { host, port } = httpAddresses(server.logs)[0]!;
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${WATCHER}` } });
    try {
      const page = await context.newPage();
      await page.goto(`http://${host}:${port}/`);
      await page.locator('#connection[data-state="live"]').waitFor();
      await page.locator('#jobs-note', { hasText: 'No tickets yet.' }).waitFor();

      // The one slot is held until the first job's timeout; the second waits for it.
      const holder = await submit(['lifecycle', '--function', 'sleep_long', '--timeout', '8s']);
      const holderRow = page.locator('#jobs-table tbody tr', { hasText: holder });
      await holderRow.filter({ hasText: 'RUNNING' }).waitFor();
      const waiter = await submit(['basic', '--replicas', '2']);
      const waiterRow = page.locator('#jobs-table tbody tr', { hasText: waiter });
      await waiterRow.filter({ hasText: 'WAITING' }).waitFor();
      assert.match(await waiterRow.innerText(), /\bbasic\b[^]*\b2\b/, 'the function and the replicas');
      // The queue as the node last looked at it (every 2 s): two items waiting, one taken.
      await page.locator('#jobs-waiting', { hasText: /^2$/ }).waitFor();
      assert.equal(await page.locator('#jobs-running').innerText(), '1');
      assert.equal(await page.locator('#jobs-queue').innerText(), '3');
      assert.notEqual(await page.locator('#jobs-oldest').innerText(), '–', 'the age of the oldest waiting item');

      await holderRow.filter({ hasText: 'INVALID' }).waitFor(); // its timeout
      await waiterRow.filter({ hasText: 'COMPLETED' }).waitFor();
      await page.locator('#jobs-waiting', { hasText: /^0$/ }).waitFor();
      assert.equal(await page.locator('#jobs-oldest').innerText(), '–');
      const order = await page.locator('#jobs-table tbody tr td:first-child').allInnerTexts();
      assert.deepEqual(order.slice(0, 2), [waiter, holder], 'the latest submitted first');
    } finally {
      await context.close();
    }
  });
});
