// File locks: the sandbox shares inodes with the host and other tenants (its
// input file, its library, system files, all bind-mounted read-only), so a
// lock taken there would block them. Every lock call answers ENOLCK in every
// sandbox (src/seccomp/baseline.ts): while a hostile function "holds" locks on
// all of them in every way, the host and another tenant lock, write and read
// those files unhindered; ordinary code goes on working.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import koffi from 'koffi';
import { callAsAsync, installClient } from '../helpers/as-user.js';
import { callClassic } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, waitForOutputs, type TestServer } from '../helpers/server.js';

const ANA = { uid: 4331, gid: 4331 };
const BOB = { uid: 4332, gid: 4332 };
const SYSTEM_FILE = '/usr/lib/os-release';

const lockf = koffi.load('libc.so.6').func('int lockf(int fd, int cmd, long len)') as (fd: number, cmd: number, len: number) => number;
const F_ULOCK = 0;
const F_TLOCK = 2;

/** What the host can do to a file while the sandboxes hold on: take an
 * exclusive flock, a POSIX write lock (which any read lock, POSIX or OFD,
 * would refuse), and open it for writing without waiting for a lease break. */
function hostLocks(file: string): string {
  const flock = spawnSync('flock', ['--nonblock', '--exclusive', file, 'true']);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  } catch (error) {
    return `${path.basename(file)}: open for writing: ${(error as NodeJS.ErrnoException).code}`;
  }
  try {
    const posix = lockf(fd, F_TLOCK, 0) === 0 ? 'ok' : `errno ${koffi.errno()}`;
    lockf(fd, F_ULOCK, 0);
    return `${path.basename(file)}: flock ${flock.status === 0 ? 'ok' : 'BLOCKED'}, write lock ${posix}, open for writing ok`;
  } finally {
    fs.closeSync(fd);
  }
}

describe('file locks across tenants and with the host', () => {
  let server: TestServer;
  let client: string;

  before(async () => {
    assert.ok(fs.existsSync(SYSTEM_FILE), `${SYSTEM_FILE} is missing`);
    server = await startServer({ timeoutMs: 20_000 });
    fs.chmodSync(server.area.root, 0o755);
    client = installClient(server.area);
  });
  after(() => server.stop());

  it('a lock on a shared file blocks neither the host nor another tenant, and is refused with ENOLCK', async () => {
    const library = path.join(server.area.libDir, 'liblocks.so');
    // Ana's own file (shown to her sandbox through an idmapped mount, as if
    // the sandbox owned it: leases would be allowed), and one all may read.
    const own = writeData(server.area, 'ana-locks.txt', 'wait\n', 0o600);
    fs.chownSync(own, ANA.uid, ANA.gid);
    const shared = writeData(server.area, 'shared-locks.txt', 'wait\n', 0o644);
    const ana = callAsAsync(client, server.socket, ANA, [library, 'hold_locks', own]);
    const bob = callAsAsync(client, server.socket, BOB, [library, 'hold_locks', shared]);
    await waitForOutputs(server, (content) => content.includes('holding\n'), 2);

    for (const file of [own, shared, library, SYSTEM_FILE]) {
      assert.equal(hostLocks(file), `${path.basename(file)}: flock ok, write lock ok, open for writing ok`);
    }
    // Another tenant reads the shared file meanwhile.
    assert.equal(readOutput(await callClassic(server.socket, `${path.join(server.area.libDir, 'libbasic.so')} cat ${shared}`)), 'wait\n');

    fs.appendFileSync(own, 'go\n');
    fs.appendFileSync(shared, 'go\n');
    const expected = ['input', 'library', 'system']
      .map((target) => ['flock', 'F_SETLK', 'F_OFD_SETLK', 'F_SETLEASE'].map((call) => `${target} ${call}: ENOLCK\n`).join(''))
      .join('');
    for (const file of await Promise.all([ana, bob])) assert.equal(readOutput(file), `${expected}holding\nreleased\n`);
  });
});
