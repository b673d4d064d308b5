// What stops the server must not cut the calls it runs short: Ctrl-C at its
// terminal (SIGINT to its whole process group), `timeout`, or a service
// manager signalling every process of the server (systemctl stop sends SIGTERM
// to the whole cgroup). The launcher lives in a session of its own and ignores
// those signals; the server lets running calls finish within --shutdown-grace,
// then stops the launcher itself.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { childrenOf } from '../helpers/processes.js';
import { launcherPid, readOutput, startServer, waitForOutputs, type TestServer } from '../helpers/server.js';

/** Starts a half-second call and resolves once it runs (its first line is in its output file). */
async function callRunning(server: TestServer): Promise<{ reply: Promise<string> }> {
  const reply = callClassic(server.socket, `${path.join(server.area.libDir, 'liblifecycle.so')} sleep_half`);
  await waitForOutputs(server, (content) => content === 'before sleep\n');
  // Wrapped: an async function returning the promise itself would wait for it.
  return { reply };
}

const exited = (server: TestServer) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => server.process.once('exit', (code, signal) => resolve({ code, signal })));

describe('signals that stop the server', () => {
  it('Ctrl-C (SIGINT to the server\'s process group) lets the running call finish', async () => {
    const server = await startServer({ detached: true });
    try {
      const { reply } = await callRunning(server);
      const done = exited(server);
      process.kill(-server.process.pid!, 'SIGINT');
      assert.equal(readOutput(await reply), 'before sleep\nafter sleep\n');
      assert.deepEqual(await done, { code: 0, signal: null });
    } finally {
      server.area.cleanup();
    }
  });

  it('SIGTERM to every process of the server (server, launcher, supervisors) lets the running call finish', async () => {
    const server = await startServer();
    try {
      const { reply } = await callRunning(server);
      const launcher = launcherPid(server);
      const targets = [server.process.pid!, launcher, ...childrenOf(launcher)];
      assert.ok(targets.length >= 3, `the launcher has supervisors: ${targets.join(' ')}`);
      const done = exited(server);
      for (const pid of targets) process.kill(pid, 'SIGTERM');
      assert.equal(readOutput(await reply), 'before sleep\nafter sleep\n');
      assert.deepEqual(await done, { code: 0, signal: null });
    } finally {
      server.area.cleanup();
    }
  });
});
