// A sandbox serves several calls one after the other (--sandbox-reuse); the
// reset in between must leave nothing of one call that the next can observe.
// Each test compares what a call finds in a reused sandbox with what it finds
// in a fresh one (a server whose every call gets new namespaces), after a call
// that did its best to leave a trace; each fails when the reset step it names
// is removed (SECURITY.md lists them).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callAs, installClient } from '../helpers/as-user.js';
import { callClassic } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

const ANA = { uid: 4321, gid: 4321 };
const BOB = { uid: 4322, gid: 4322 };

/** The lines of a probe's output that must match, with the area's own path made neutral. */
const neutral = (server: TestServer, output: string) => output.split(server.area.root).join('AREA');
const field = (output: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(output)?.[1];

describe('sandbox reuse', () => {
  let reused: TestServer;
  let fresh: TestServer;
  const probe = (server: TestServer) => path.join(server.area.libDir, 'libprobe.so');
  const basic = (server: TestServer) => path.join(server.area.libDir, 'libbasic.so');
  const call = async (server: TestServer, command: string) => readOutput(await callClassic(server.socket, command));

  before(async () => {
    // One sandbox, calls one at a time, none prepared ahead: every call lands
    // in the same one (--prepared 0: no spare sandbox that a call arriving
    // while the first is still being reset would take instead, as a fast
    // server's next call may). Without the seccomp filter, which would refuse
    // SysV IPC and message queues: the reset must hold even for a profile that
    // allows them.
    [reused, fresh] = await Promise.all([
      startServer({ args: ['--sandbox-reuse', '1000', '--max-concurrent', '1', '--prepared', '0', '--seccomp', 'none'] }),
      startServer({ args: ['--sandbox-reuse', '1', '--seccomp', 'none'] }),
    ]);
  });
  after(() => Promise.all([reused.stop(), fresh.stop()]));

  it('the next call finds no file, IPC object, placed path or process of the previous one', async () => {
    const input = writeData(reused.area, `private-${randomBytes(4).toString('hex')}.txt`, 'x\n');
    const left = await call(reused, `${probe(reused)} leave_traces`);
    assert.match(left, /^tmp file: left\nsysv shm: left\nsysv msg: left\nposix mq: left\npid=\d+\npidns=pid:\[\d+\]\n$/);
    // A call with an input file places it, and its directories, in the root.
    assert.match(await call(reused, `${basic(reused)} cat ${input}`), /^x\n$/);
    const found = await call(reused, `${probe(reused)} find_traces`);
    assert.match(found, /^tmp file: No such file or directory\n/);
    assert.match(found, /^sysv shm: No such file or directory$/m);
    assert.match(found, /^sysv msg: No such file or directory$/m);
    assert.match(found, /^posix mq: No such file or directory$/m);
    // The root lists what a fresh sandbox's does: nothing of the input's.
    const rootOf = (output: string) => field(output, 'root-dir')?.split(',').sort();
    assert.deepEqual(rootOf(found), rootOf(await call(fresh, `${probe(fresh)} find_traces`)));
    assert.equal(field(found, 'pidns'), field(left, 'pidns'), 'one sandbox served both calls');
  });

  it('renews /tmp: after 777 files made and removed there, the next call finds it as in a fresh sandbox', async () => {
    const before = await call(reused, `${probe(reused)} tmp_state`);
    assert.equal(await call(reused, `${probe(reused)} churn_tmp`), 'churned\n');
    const after = await call(reused, `${probe(reused)} tmp_state`);
    const reference = await call(fresh, `${probe(fresh)} tmp_state`);
    assert.equal(field(after, 'pidns'), field(before, 'pidns'), 'one sandbox served the calls');
    for (const key of ['tmp-new-file-ino', 'tmp-links']) assert.equal(field(after, key), field(reference, key), `${key}:\n${after}`);
    assert.match(after, new RegExp(`tmp-inodes-used=${/tmp-inodes-used=(\d+)/.exec(reference)![1]} `), after);
  });

  it('places a call\'s files in a tmpfs of its own: the root and the directories of an input look the same to every call', async () => {
    const deep = (server: TestServer, name: string) => {
      const dir = path.join(server.area.dataDir, 'a', 'b', name, 'c');
      fs.mkdirSync(dir, { recursive: true });
      return writeData(server.area, path.join('a', 'b', name, 'c', 'in.txt'), 'deep\n');
    };
    const reference = neutral(fresh, await call(fresh, `${probe(fresh)} stat_path ${deep(fresh, 'mine')}`));
    // The previous call placed another input, deeper and elsewhere.
    const other = deep(reused, 'theirs');
    assert.equal(await call(reused, `${basic(reused)} cat ${other}`), 'deep\n');
    const first = neutral(reused, await call(reused, `${probe(reused)} stat_path ${deep(reused, 'mine')}`));
    assert.equal(await call(reused, `${basic(reused)} cat ${other}`), 'deep\n');
    const second = neutral(reused, await call(reused, `${probe(reused)} stat_path ${deep(reused, 'mine')}`));
    const withoutRoot = (output: string) => output.replace(/^\/ .*\n/m, '').replace(/^pidns=.*\n/m, '');
    assert.equal(withoutRoot(first), withoutRoot(reference), 'inode numbers and link counts as in a fresh sandbox');
    assert.equal(second, first, 'the root itself (its times included) did not change between calls');
  });

  it('gives every call the pids of a fresh namespace, however many processes the previous one made', async () => {
    assert.match(await call(reused, `${probe(reused)} fork_many`), /^forked 50, pid=\d+\n$/);
    const next = await call(reused, `${probe(reused)} tmp_state`);
    assert.equal(field(next, 'pid'), field(await call(fresh, `${probe(fresh)} tmp_state`), 'pid'));
    assert.equal(field(next, 'pid'), '2');
  });

  it('the next call finds nothing of the previous call in its memory', async () => {
    const marker = `fnjailreuse${randomBytes(6).toString('hex')}`;
    // Deep in a long directory name, so that the next call's shorter paths
    // cannot simply overwrite the marker where it lay.
    const deepDir = path.join(reused.area.libDir, 'd'.repeat(200));
    fs.mkdirSync(deepDir, { mode: 0o755 });
    const markerLib = path.join(deepDir, `lib${marker}.so`);
    fs.copyFileSync(basic(reused), markerLib);
    const reversedMarker = writeData(reused.area, 'marker-reuse.txt', [...marker].reverse().join(''));
    assert.equal(await call(reused, `${markerLib} run`), 'run\n');
    const scan = await call(reused, `${probe(reused)} scan_memory ${reversedMarker}`);
    assert.match(scan, /^scanned [1-9]\d* bytes, marker found 0 times$/m, scan);
  });

  it('keeps a library mounted only for calls to that same file', async () => {
    const lib = (name: string) => path.join(reused.area.libDir, name);
    assert.equal(await call(reused, `${lib('libbasic.so')} run`), 'run\n');
    assert.equal(await call(reused, `${lib('libbasic.so')} run`), 'run\n');
    assert.equal(await call(reused, `${lib('libcounter.so')} run`), 'Got called 1 times\n');
    // The previous call's library is gone from the root of the next one.
    const list = writeData(reused.area, 'previous-library.txt', `${lib('libcounter.so')}\n`);
    assert.match(await call(reused, `${probe(reused)} try_paths ${list}`), /^read \S+libcounter\.so: No such file or directory\n$/);
    // A library replaced on disk by rename (a new inode) is not served stale.
    fs.copyFileSync(lib('libbasic.so'), lib('libswap.so'));
    assert.equal(await call(reused, `${lib('libswap.so')} run`), 'run\n');
    fs.copyFileSync(lib('libcounter.so'), lib('libswap.so.new'));
    fs.renameSync(lib('libswap.so.new'), lib('libswap.so'));
    assert.equal(await call(reused, `${lib('libswap.so')} run`), 'Got called 1 times\n');
  });

  it('keeps a library mounted only for the next call of the same tenant without an input', () => {
    fs.chmodSync(reused.area.root, 0o755);
    const client = installClient(reused.area);
    const ages = (user: typeof ANA) => readOutput(callAs(client, reused.socket, user, [probe(reused), 'mount_ages']));
    assert.equal(ages(ANA), 'library mounted after /tmp\n', 'the first call mounts it');
    assert.equal(ages(ANA), 'library mounted before /tmp\n', 'the same tenant\'s next call finds it mounted');
    assert.equal(ages(BOB), 'library mounted after /tmp\n', 'another tenant\'s call gets it mounted anew');
    const input = writeData(reused.area, 'for-ana.txt', 'x\n');
    assert.match(readOutput(callAs(client, reused.socket, ANA, [probe(reused), 'stat_path', input])), /pidns=/);
    assert.equal(ages(ANA), 'library mounted after /tmp\n', 'a call with an input leaves no library behind');
  });
});
