// --uid-range is checked against this host before the server starts: a range
// that holds an account's id, an id some process runs with, or one owning a
// file in the output directory is refused, and so is one overlapping the range
// of another fnjail server while that server runs (src/launcher/uid-range.ts).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createTestArea, nextUidRange } from '../helpers/environment.js';
import { startServer, type StartOptions } from '../helpers/server.js';

async function refused(options: StartOptions, reason: RegExp): Promise<void> {
  const area = options.area ?? createTestArea();
  try {
    await assert.rejects(startServer({ ...options, area }), (error: Error) => {
      assert.match(error.message, /server exited \(1\) before listening/);
      assert.match(error.message, /--uid-range \d+-\d+ is in use on this host: /);
      assert.match(error.message, reason);
      assert.match(error.message, /\[FNJ_UID_RANGE_IN_USE\]/);
      return true;
    });
  } finally {
    area.cleanup();
  }
}

describe('--uid-range checked against the host', () => {
  it('refuses a range holding an account\'s uid', async () => {
    const [name, , uid] = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).stdout.trim().split(':');
    assert.ok(name && uid, 'this host has a nobody account');
    await refused({ uidRange: { first: Number(uid) - 5, last: Number(uid) + 5 } }, new RegExp(`user nobody \\(uid ${uid}\\)`));
  });

  it('refuses a range holding the uid of a running process', async () => {
    const range = nextUidRange();
    const sleeper = spawn('setpriv', [`--reuid=${range.first + 7}`, `--regid=${range.first + 7}`, '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => sleeper.once('spawn', resolve));
      // setpriv becomes sleep: wait until the process runs with the new uid.
      for (let i = 0; i < 500 && !/^Uid:\s+\d+/m.exec(fs.readFileSync(`/proc/${sleeper.pid}/status`, 'utf8'))?.[0].includes(String(range.first + 7)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await refused({ uidRange: range }, new RegExp(`process ${sleeper.pid} \\(\\S+\\) runs with uid ${range.first + 7}`));
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('refuses a range holding the owner of a file in the output directory', async () => {
    const range = nextUidRange();
    const area = createTestArea();
    fs.mkdirSync(area.outputDir, { mode: 0o711 });
    const file = path.join(area.outputDir, 'out-OWNED1');
    fs.writeFileSync(file, '');
    fs.chownSync(file, range.last, range.last);
    await refused({ area, uidRange: range }, new RegExp(`${file} is owned by uid ${range.last}`));
  });

  it('refuses a range overlapping that of another server while it runs, and takes it once that one stopped', async () => {
    const first = await startServer();
    const overlapping = { first: first.uidRange.first + 50, last: first.uidRange.last };
    try {
      await refused({ uidRange: overlapping }, new RegExp(`the fnjail server with pid ${first.process.pid} uses ${first.uidRange.first}-${first.uidRange.last}`));
    } finally {
      await first.stop();
    }
    const second = await startServer({ uidRange: overlapping });
    await second.stop();
  });
});
