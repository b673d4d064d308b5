// A real browser for the dashboard's tests: Debian's Chromium (installed by
// scripts/install.sh), driven by playwright-core, headless. Playwright never
// downloads a browser here: playwright-core has none of its own, and the
// executable is given.
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet, offline, headless Chromium as root in a container. */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Fails loudly when Chromium is missing (the tests never skip for it: npm install installs it). */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium (scripts/install.sh installs it: apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' } });
}
