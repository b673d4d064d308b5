// A real Firefox for the dashboard's tests: Debian's firefox-esr (installed by
// scripts/install.sh), headless, driven over plain WebDriver BiDi. Not through
// playwright-core: its Firefox support makes every browser context with
// `emulation.setMediaFeaturesOverride`, which firefox-esr's BiDi lacks, and its
// own patched Firefox is a download the project never makes. The few commands
// a test needs are here; the websocket client is the one playwright-core ships
// and exports (`playwright-core/lib/utilsBundle`, the `ws` package), so the
// tests take no dependency of their own for it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { HANG_GUARD_MS } from './environment.js';

export const FIREFOX = '/usr/bin/firefox-esr';

/** The part of `ws`'s client the helper uses (playwright-core's bundle has no types). */
interface WebSocketClient {
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  send(data: string): void;
  close(): void;
}
const { ws: WebSocket } = createRequire(import.meta.url)('playwright-core/lib/utilsBundle') as {
  ws: new (url: string, options: { perMessageDeflate: boolean }) => WebSocketClient;
};

/** Preferences that keep a test's Firefox off the network (only the pages the
 * test opens, all on loopback) and quiet: no updates, telemetry, captive-portal
 * or connectivity checks, safe browsing lists, remote settings, experiments,
 * add-on or search updates, prefetching, and no proxy from the environment. */
const PREFS: Record<string, string | number | boolean> = {
  'app.update.disabledForTesting': true,
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.page': 0,
  'browser.startup.homepage': 'about:blank',
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.newtabpage.enabled': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.ping-centre.telemetry': false,
  'browser.aboutwelcome.enabled': false,
  'browser.search.update': false,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.sessionstore.resume_from_crash': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'toolkit.startup.max_resumed_crashes': -1,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'network.proxy.type': 0,
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'messaging-system.rsexperimentloader.enabled': false,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-gmpopenh264.enabled': false,
  'geo.provider.network.url': '',
};

/** A BiDi command's failure, with the command named. */
class BidiError extends Error {}

export interface FirefoxBidi {
  /** A new tab; its context id. */
  newTab(): Promise<string>;
  /** Opens url in the tab and waits for the page's load event. */
  navigate(context: string, url: string): Promise<void>;
  /** Runs fn in the page (sent as its source: it sees only its arguments, passed as JSON); its result through JSON. */
  evaluate<T, A extends unknown[]>(context: string, fn: (...args: A) => T | Promise<T>, ...args: A): Promise<T>;
  /** Waits until condition (run in the page like evaluate's fn) holds, re-checking it in the page on every
   * DOM change; fails naming what was awaited after HANG_GUARD_MS. */
  waitFor<A extends unknown[]>(context: string, what: string, condition: (...args: A) => boolean, ...args: A): Promise<void>;
  /** The tab's viewport in CSS pixels. */
  setViewport(context: string, width: number, height: number): Promise<void>;
  /** Ends the session, stops Firefox (its whole process group) and removes its profile. */
  close(): Promise<void>;
}

/** Starts Debian's firefox-esr, headless, on a fresh profile, and opens a BiDi session.
 * Fails loudly when it is missing (the tests never skip for it: npm install installs it). */
export async function launchFirefox(): Promise<FirefoxBidi> {
  if (!fs.existsSync(FIREFOX)) {
    throw new Error(`${FIREFOX} is missing: the dashboard's Firefox test needs Debian's firefox-esr (run npm install: scripts/install.sh installs it with apt-get install firefox-esr)`);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-firefox-'));
  const profile = path.join(root, 'profile');
  fs.mkdirSync(profile);
  fs.writeFileSync(path.join(profile, 'user.js'), Object.entries(PREFS).map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});\n`).join(''));
  // Its own process group, so that closing takes its content processes too; its own
  // HOME, so that nothing of the host's user (caches, other profiles) is read or written.
  const child = spawn(FIREFOX, ['--headless', '--no-remote', '--remote-debugging-port=0', '--profile', profile, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, HOME: root, XDG_CACHE_HOME: path.join(root, 'cache'), XDG_CONFIG_HOME: path.join(root, 'config'), MOZ_CRASHREPORTER_DISABLE: '1' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const removeAll = async () => {
    await stopGroup(child, exited);
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    const address = await bidiAddress(child);
    const socket = await connect(`${address}/session`);
    const browser = session(socket);
    await browser.send('session.new', { capabilities: {} });
    return {
      newTab: async () => ((await browser.send('browsingContext.create', { type: 'tab' })) as { context: string }).context,
      navigate: async (context, url) => {
        await browser.send('browsingContext.navigate', { context, url, wait: 'complete' });
      },
      evaluate: (context, fn, ...args) => browser.evaluate(context, `(${fn.toString()})(...${JSON.stringify(args)})`),
      waitFor: async (context, what, condition, ...args) => {
        let guard: NodeJS.Timeout | undefined;
        const hung = new Promise<never>((_, reject) => {
          guard = setTimeout(() => reject(new Error(`Firefox: waited ${HANG_GUARD_MS} ms for ${what}`)), HANG_GUARD_MS);
        });
        try {
          await Promise.race([browser.evaluate(context, inPageWaiter(condition.toString(), args)), hung]);
        } finally {
          clearTimeout(guard);
        }
      },
      setViewport: async (context, width, height) => {
        await browser.send('browsingContext.setViewport', { context, viewport: { width, height } });
      },
      close: async () => {
        // Asked to close, Firefox exits by itself; the group is stopped anyway after.
        const closing = await browser.send('browser.close', {}).then(() => true, () => false);
        socket.close();
        if (closing) await withinGuard(exited);
        await removeAll();
      },
    };
  } catch (error) {
    await removeAll();
    throw error;
  }
}

/** An expression that resolves once condition (a function's source) holds in the page: checked now and after each DOM change. */
function inPageWaiter(condition: string, args: unknown[]): string {
  return `new Promise((resolve) => {
    const holds = () => (${condition})(...${JSON.stringify(args)});
    if (holds()) return resolve(true);
    const observer = new MutationObserver(() => { if (holds()) { observer.disconnect(); resolve(true); } });
    observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  })`;
}

/** The BiDi websocket address Firefox prints on stderr once it listens. */
function bidiAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let heard = false;
    // Read to the end (a full pipe would stall Firefox), kept only until the address is heard.
    child.stderr!.on('data', (chunk: Buffer) => {
      if (heard) return;
      stderr += chunk.toString();
      const match = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) {
        heard = true;
        resolve(match[1]!);
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`firefox-esr exited (${code ?? signal}) before listening: ${stderr}`)));
  });
}

function connect(url: string): Promise<WebSocketClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.on('open', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Commands over the socket, each answered by the reply with its id. */
function session(socket: WebSocketClient) {
  let nextId = 1;
  const waiting = new Map<number, { method: string; resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: number; type: string; result?: unknown; error?: string; message?: string };
    const pending = message.id === undefined ? undefined : waiting.get(message.id);
    if (!pending) return; // events: the helper subscribes to none
    waiting.delete(message.id!);
    if (message.type === 'success') pending.resolve(message.result);
    else pending.reject(new BidiError(`Firefox BiDi ${pending.method}: ${message.error}: ${message.message}`));
  });
  socket.on('close', () => {
    for (const [id, pending] of waiting) {
      waiting.delete(id);
      pending.reject(new BidiError(`Firefox BiDi ${pending.method}: the connection closed`));
    }
  });
  const send = (method: string, params: object): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { method, resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  /** Evaluates expression in the tab, awaiting a promise; the value comes back as JSON text, so any plain value crosses. */
  const evaluate = async <T>(context: string, expression: string): Promise<T> => {
    const reply = (await send('script.evaluate', {
      expression: `(async () => JSON.stringify(await (${expression}) ?? null))()`,
      target: { context },
      awaitPromise: true,
      resultOwnership: 'none',
    })) as { type: 'success'; result: { type: string; value?: string } } | { type: 'exception'; exceptionDetails: { text: string } };
    if (reply.type === 'exception') throw new BidiError(`Firefox: the page threw: ${reply.exceptionDetails.text}`);
    return JSON.parse(reply.result.value ?? 'null') as T;
  };
  return { send, evaluate };
}

/** Waits for Firefox to exit (killing its group if it does not within the guard), then sweeps the group. */
async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    killGroup('SIGTERM');
    await withinGuard(exited);
  }
  killGroup('SIGKILL');
}

/** Waits for done, or HANG_GUARD_MS at most (stopping must not hang a test run). */
async function withinGuard(done: Promise<void>): Promise<void> {
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((resolve) => (guard = setTimeout(resolve, HANG_GUARD_MS)))]);
  clearTimeout(guard);
}
