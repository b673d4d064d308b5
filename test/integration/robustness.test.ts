// The server keeps serving whatever clients and libraries do.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { callClassic, callSession } from '../helpers/client.js';
import { sandboxProcesses } from '../helpers/processes.js';
import { HANG_GUARD_MS } from '../helpers/environment.js';
import { launcherPid, readOutput, startServer, waitForStats, type TestServer } from '../helpers/server.js';

describe('robustness', () => {
  let server: TestServer;
  let lib: (name: string) => string;
  const works = async () => assert.equal(readOutput(await callClassic(server.socket, lib('libbasic.so'))), 'run\n');

  before(async () => {
    server = await startServer({ timeoutMs: 3000 });
    lib = (name) => path.join(server.area.libDir, name);
    fs.writeFileSync(lib('libtext.so'), 'this is not an ELF file\n'.repeat(10), { mode: 0o644 });
  });
  after(() => server.stop());

  it('survives a crashing library', async () => {
    assert.match(readOutput(await callClassic(server.socket, `${lib('liblifecycle.so')} crash`)), /SIGSEGV/);
    await works();
  });

  it('survives the launcher being killed: the call in flight gets an error line, the next call works', async () => {
    const inFlight = callClassic(server.socket, `${lib('liblifecycle.so')} sleep_half`);
    await waitForStats(server, (s) => s.executions.running === 1);
    process.kill(launcherPid(server), 'SIGKILL');
    const output = readOutput(await inFlight);
    assert.match(output, /Error: \S+ sleep_half could not be executed\.\nReason: the sandbox launcher stopped \(killed by SIGKILL\) while the call was running\n$/);
    await works();
    // The dead launcher's sandboxes died with it.
    for (let i = 0; i < HANG_GUARD_MS / 20 && sandboxProcesses().length; i++) await sleep(20);
    assert.deepEqual(sandboxProcesses(), []);
  });

  it('answers a blank command with an error file', async () => {
    const output = readOutput(await callClassic(server.socket, '   '));
    assert.match(output, /^Error: {2}could not be executed\.\nReason: empty command; expected <libname> \[<funcname> \[<filename>\]\]\n$/);
    await works();
  });

  it('ignores blank lines in a session and ends it on exit', async () => {
    assert.deepEqual(await callSession(server.socket, ['', '  ', 'exit', lib('libbasic.so')]), []);
  });

  it('answers a 2000-byte message', async () => {
    const long = `/${'a'.repeat(1999)}`;
    const output = readOutput(await callClassic(server.socket, long));
    assert.match(output, /^Error: \/a+\.\.\. could not be executed\.\nReason: denied by policy/, 'the error line shows the start of the command');
    await works();
  });

  it('answers a message with NUL bytes', async () => {
    const output = readOutput(await callClassic(server.socket, Buffer.from(`${lib('libbasic.so')}\0 run`)));
    assert.match(output, /^Error: \S+libbasic\.so\\x00 run could not be executed\.\nReason: command contains a NUL byte\n$/);
  });

  it('refuses a relative library path', async () => {
    const output = readOutput(await callClassic(server.socket, './libbasic.so run'));
    assert.match(output, /Reason: library path '\.\/libbasic\.so' must be absolute, or a bare file name/);
  });

  it('refuses a directory as library', async () => {
    const output = readOutput(await callClassic(server.socket, `${server.area.libDir} run`));
    assert.match(output, /Reason: library \S+ is a directory, not a file\n$/);
  });

  it('reports a file that is not a shared library', async () => {
    const output = readOutput(await callClassic(server.socket, `${lib('libtext.so')} run`));
    assert.match(output, /Reason: refused whatever the policy says: library \S+libtext\.so is not an ELF file: only ELF shared objects for 64-bit x86 are loaded\n$/);
  });

  it('survives clients that connect and close at once', async () => {
    await Promise.all(
      Array.from({ length: 50 }, () => new Promise<void>((resolve) => {
        const conn = net.connect(server.socket, () => conn.destroy());
        conn.on('close', () => resolve());
        conn.on('error', () => resolve());
      })),
    );
    await works();
  });

  it('serves a request while 200 idle connections are held open', async () => {
    const idle = await Promise.all(
      Array.from({ length: 200 }, () => new Promise<net.Socket>((resolve, reject) => {
        const conn = net.connect(server.socket, () => resolve(conn));
        conn.on('error', reject);
      })),
    );
    try {
      await works();
      assert.ok(idle.every((conn) => !conn.destroyed), 'the idle connections are still open');
    } finally {
      for (const conn of idle) conn.destroy();
    }
  });
});
