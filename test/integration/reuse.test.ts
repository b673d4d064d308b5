// A sandbox serves several calls one after the other (--sandbox-reuse); the
// reset in between must leave nothing of one call to the next.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

describe('sandbox reuse', () => {
  let server: TestServer;
  let probe: string;

  before(async () => {
    // One sandbox, calls one at a time: every call lands in the same one
    // (--prepared 0: no spare sandbox that a call arriving while the first is
    // still being reset would take instead, as a fast server's next call may).
    // Without the seccomp filter, which would refuse SysV IPC and message
    // queues: the reset must hold even for a profile that allows them.
    server = await startServer({ args: ['--sandbox-reuse', '1000', '--max-concurrent', '1', '--prepared', '0', '--seccomp', 'none'] });
    probe = path.join(server.area.libDir, 'libprobe.so');
  });
  after(() => server.stop());

  it('the next call finds no file, IPC object, placed path or process of the previous one', async () => {
    const input = writeData(server.area, `private-${randomBytes(4).toString('hex')}.txt`, 'x\n');
    const left = readOutput(await callClassic(server.socket, `${probe} leave_traces`));
    assert.match(left, /^tmp file: left\nsysv shm: left\nsysv msg: left\nposix mq: left\npid=(\d+)\n$/);
    // A call with an input file places it, and its directories, in the root.
    assert.match(readOutput(await callClassic(server.socket, `${path.join(server.area.libDir, 'libbasic.so')} cat ${input}`)), /^x\n$/);
    const found = readOutput(await callClassic(server.socket, `${probe} find_traces`));
    assert.match(found, /^tmp file: No such file or directory\n/);
    assert.match(found, /^sysv shm: No such file or directory$/m);
    assert.match(found, /^sysv msg: No such file or directory$/m);
    assert.match(found, /^posix mq: No such file or directory$/m);
    // The root holds what every sandbox has, and the top of the probe's own
    // library path (/var/lib/fnjail-tests/...), nothing of the input's.
    const systemDirs = ['usr', 'bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32'].filter((d) => fs.existsSync(`/${d}`));
    const rootDir = /^root-dir=(.*)$/m.exec(found)?.[1]?.split(',').sort();
    assert.deepEqual(rootDir, [...systemDirs, 'dev', 'etc', 'proc', 'tmp', 'var'].sort());
    // Proof that the same sandbox served them: its pid numbers went on.
    const firstPid = Number(/pid=(\d+)/.exec(left)?.[1]);
    const lastPid = Number(/pid=(\d+)/.exec(found)?.[1]);
    assert.ok(lastPid > firstPid, `pids ${firstPid} then ${lastPid}: one pid namespace served the calls`);
  });

  it('the next call finds nothing of the previous call in its memory', async () => {
    const marker = `fnjailreuse${randomBytes(6).toString('hex')}`;
    // Deep in a long directory name, so that the next call's shorter paths
    // cannot simply overwrite the marker where it lay.
    const deepDir = path.join(server.area.libDir, 'd'.repeat(200));
    fs.mkdirSync(deepDir, { mode: 0o755 });
    const markerLib = path.join(deepDir, `lib${marker}.so`);
    fs.copyFileSync(path.join(server.area.libDir, 'libbasic.so'), markerLib);
    const reversedMarker = writeData(server.area, 'marker-reuse.txt', [...marker].reverse().join(''));
    assert.equal(readOutput(await callClassic(server.socket, `${markerLib} run`)), 'run\n');
    const scan = readOutput(await callClassic(server.socket, `${probe} scan_memory ${reversedMarker}`));
    assert.match(scan, /^scanned [1-9]\d* bytes, marker found 0 times$/m, scan);
  });

  it('keeps a library mounted only for calls to that same file', async () => {
    const lib = (name: string) => path.join(server.area.libDir, name);
    const call = async (command: string) => readOutput(await callClassic(server.socket, command));
    assert.equal(await call(`${lib('libbasic.so')} run`), 'run\n');
    assert.equal(await call(`${lib('libbasic.so')} run`), 'run\n');
    assert.equal(await call(`${lib('libcounter.so')} run`), 'Got called 1 times\n');
    // The previous call's library is gone from the root of the next one.
    const list = writeData(server.area, 'previous-library.txt', `${lib('libcounter.so')}\n`);
    assert.match(await call(`${probe} try_paths ${list}`), /^read \S+libcounter\.so: No such file or directory\n$/);
    // A library replaced on disk by rename (a new inode) is not served stale.
    fs.copyFileSync(lib('libbasic.so'), lib('libswap.so'));
    assert.equal(await call(`${lib('libswap.so')} run`), 'run\n');
    fs.copyFileSync(lib('libcounter.so'), lib('libswap.so.new'));
    fs.renameSync(lib('libswap.so.new'), lib('libswap.so'));
    assert.equal(await call(`${lib('libswap.so')} run`), 'Got called 1 times\n');
  });
});

