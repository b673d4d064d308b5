// Every way the launcher can fail is loud, bounded and reported: a kernel
// without a feature it needs stops the start with the feature's name; a failed
// switch of credentials fails the call (or stops the launcher, when it cannot
// switch back); a sandbox that cannot be prepared tells the waiting call why,
// and says so in the log. The failures are made real with a seccomp program
// under the whole server (test/helpers/seccomp/exec-filtered.c) that makes one
// system call fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { callAs, installClient } from '../helpers/as-user.js';
import { callClassic } from '../helpers/client.js';
import { createTestArea, nextUidRange, writeData } from '../helpers/environment.js';
import { buildHelper } from '../helpers/seccomp/native.js';
import { childrenOf } from '../helpers/processes.js';
import { launcherPid, readOutput, startServer, waitForLog, waitForOutputs, type StartOptions, type TestServer } from '../helpers/server.js';
import { compileProfile } from '../../src/seccomp/compile.js';
import { parseProfile } from '../../src/seccomp/profile.js';

const ANA = { uid: 4341, gid: 4341 };

/** Runs the server with one system call failing (when its first argument passes `args`). */
function failing(syscall: string, errno: string, args: object[] = []): StartOptions {
  const area = createTestArea();
  const profile = parseProfile(JSON.stringify({ defaultAction: 'allow', syscalls: [{ names: [syscall], action: 'errno', errno, args }] }), `${syscall}.json`);
  const program = path.join(area.root, `${syscall}.bpf`);
  fs.writeFileSync(program, compileProfile(profile, { supervised: false }).program);
  return { area, wrapper: [buildHelper('exec-filtered'), program] };
}

async function withServer(options: StartOptions, body: (server: TestServer) => Promise<void> | void): Promise<void> {
  const server = await startServer(options);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

describe('launcher failures', () => {
  it('refuses to start on a kernel without a feature it needs, naming it and the Linux version', async () => {
    const options = failing('openat2', 'ENOSYS');
    try {
      await assert.rejects(startServer(options), (error: Error) => {
        assert.match(error.message, /server exited \(1\) before listening/);
        assert.match(error.message, /this kernel lacks openat2 \(inputs and libraries opened without following symlinks\): Function not implemented; fnjail needs Linux 5\.6 or later with it enabled \[FNJ_LAUNCHER_FAILED\]/);
        return true;
      });
    } finally {
      options.area!.cleanup();
    }
  });

  it('fails a call whose input cannot be opened with the tenant\'s credentials, rather than open it as root', async () => {
    // setfsuid to anything but root (or the read-back with -1) fails.
    const options = failing('setfsuid', 'EPERM', [{ index: 0, op: 'ne', value: 0 }, { index: 0, op: 'ne', value: '0xffffffff' }]);
    await withServer(options, (server) => {
      fs.chmodSync(server.area.root, 0o755);
      const secret = writeData(server.area, 'root-only.txt', 'root secret\n', 0o600);
      const output = readOutput(callAs(installClient(server.area), server.socket, ANA, [path.join(server.area.libDir, 'libbasic.so'), 'cat', secret]));
      assert.match(output, /^Error: \S+ cat \S+ could not be executed\.\nReason: the sandbox could not be set up: cannot take the file-system credentials of uid 4341 to open the input file: Operation not permitted\n$/);
    });
  });

  it('stops the launcher, loudly, when it cannot switch back to root\'s credentials; a new one serves', async () => {
    const options = failing('setfsuid', 'EPERM', [{ index: 0, op: 'eq', value: 0 }]);
    await withServer(options, async (server) => {
      fs.chmodSync(server.area.root, 0o755);
      const input = writeData(server.area, 'public.txt', 'hello\n');
      const first = launcherPid(server);
      const output = readOutput(callAs(installClient(server.area), server.socket, ANA, [path.join(server.area.libDir, 'libbasic.so'), 'cat', input]));
      assert.match(output, /Reason: the sandbox launcher stopped \(exited with status 1\) while the call was running\n$/);
      await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.includes("cannot switch back to root's file-system credentials after opening an input file: Operation not permitted; stopping"));
      await waitForLog(server, (l) => l.msg === 'sandbox launcher ready' && l.launcherPid !== first);
      assert.equal(readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'))), 'run\n');
    });
  });

  it('tells a waiting call why no sandbox could be prepared, and logs it', async () => {
    await withServer(failing('sethostname', 'EPERM'), async (server) => {
      const output = readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so')));
      assert.match(output, /Reason: the sandbox could not be set up: cannot set the sandbox's hostname: Operation not permitted\n$/);
      await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.endsWith("sandbox preparation failed: cannot set the sandbox's hostname: Operation not permitted"));
    });
  });

  it('a supervisor failing its first steps (closing inherited descriptors) says why, instead of dying silently', async () => {
    await withServer(failing('close_range', 'EPERM', [{ index: 0, op: 'eq', value: 4 }]), async (server) => {
      const output = readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so')));
      assert.match(output, /Reason: the sandbox could not be set up: cannot close the launcher's descriptors: Operation not permitted\n$/);
    });
  });

  it('a call waiting in the launcher for a sandbox is answered at its deadline, not left waiting', async () => {
    // One uid: one sandbox at a time, while the server lets two calls through.
    const range = nextUidRange();
    await withServer({ uidRange: { first: range.first, last: range.first }, args: ['--max-concurrent', '2', '--prepared', '0'], timeoutMs: 30_000 }, async (server) => {
      const sleeper = callClassic(server.socket, `${path.join(server.area.libDir, 'liblifecycle.so')} sleep_long`, 60_000);
      sleeper.catch(() => {}); // cancelled when the server stops
      await waitForOutputs(server, (content) => content.startsWith('going to sleep'));
      const output = readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'), 30_000));
      assert.match(output, /Reason: the sandbox could not be set up: no sandbox was ready for the call within 10000 ms \(1 running\)\n$/);
    });
  });

  it('a prepared supervisor that dies is logged and replaced', async () => {
    await withServer({ args: ['--prepared', '1'] }, async (server) => {
      const launcher = launcherPid(server);
      const supervisor = await readySupervisor(launcher);
      process.kill(supervisor, 'SIGKILL');
      await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.includes(`sandbox supervisor ${supervisor} was killed by signal 9 while waiting for a call; another takes its place`));
      assert.equal(readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'))), 'run\n');
    });
  });
});

/** A child of the launcher (a supervisor), once one is there. */
async function readySupervisor(launcher: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const supervisor = childrenOf(launcher).find((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'fnjail-sup';
      } catch {
        return false; // ended meanwhile
      }
    });
    if (supervisor !== undefined) return supervisor;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no supervisor appeared');
}
