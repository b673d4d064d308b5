// fnjail serve: starting, stale and live sockets, bad policies, --help.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { callClassic } from '../helpers/client.js';
import { cliMain, createTestArea, defaultTestPolicy, nextUidRange, writePolicy, type TestArea } from '../helpers/environment.js';
import { launcherPid, readOutput, startServer, waitForStats } from '../helpers/server.js';

const exec = promisify(execFile);

/** Its own API socket and state (no nats-server): never the host's. */
const ownState = (area: TestArea) => ['--http-socket', path.join(area.root, 'api.sock'), '--state-dir', path.join(area.root, 'state'), '--nats', 'off'];

describe('fnjail serve', () => {
  it('accepts connections before it is ready, holds their commands and answers them once it is', async (t) => {
    const area = createTestArea();
    const socket = path.join(area.root, 'fnjail.sock');
    const range = nextUidRange();
    const child = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', area.outputDir, ...ownState(area),
      '--policy', writePolicy(area, defaultTestPolicy(area)), '--uid-range', `${range.first}-${range.last}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      // Connect the moment the socket accepts (waiting for that event, however
      // long it takes), and send a classic command at once.
      let conn: net.Socket | undefined;
      while (!conn) {
        conn = await new Promise<net.Socket | undefined>((resolve) => {
          const attempt = net.connect(socket, () => resolve(attempt));
          attempt.on('error', () => resolve(undefined));
        });
        if (!conn) await sleep(2);
        assert.equal(child.exitCode, null, 'the server is still running');
      }
      const servingWhenConnected = log.includes('fnjail listening');
      const reply = await new Promise<string>((resolve, reject) => {
        conn.on('data', (chunk: Buffer) => resolve(chunk.toString()));
        conn.on('error', reject);
        conn.write(path.join(area.libDir, 'libbasic.so'));
      });
      conn.destroy();
      assert.equal(readOutput(reply), 'run\n');
      // Where the time went is bench/startup.ts's to measure; this says which case ran.
      t.diagnostic(`connected ${servingWhenConnected ? 'after' : 'before'} the server said it serves`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      assert.ok(!fs.existsSync(socket), 'the socket file is removed on SIGTERM');
      area.cleanup();
    }
  });

  it('removes its socket when it cannot start after binding it', async () => {
    const area = createTestArea();
    const socket = path.join(area.root, 's.sock');
    try {
      const policy = path.join(area.root, 'bad.json');
      fs.writeFileSync(policy, '{ "defaults": { "timeout": 5 } }');
      const result = await exec(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', area.outputDir, ...ownState(area), '--policy', policy]).then(
        () => assert.fail('started with a bad policy'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\[FNJ_POLICY_INVALID\]/);
      assert.ok(!fs.existsSync(socket), 'no socket file is left behind');
    } finally {
      area.cleanup();
    }
  });

  it('starts over a stale socket file, refuses a live one', async () => {
    const first = await startServer();
    try {
      // Another server on the same socket: refused, the first keeps serving.
      const range = nextUidRange();
      const second = await exec(process.execPath, [cliMain, 'serve', '--no-config', '--socket', first.socket, '--output-dir', first.area.outputDir, ...ownState(first.area),
        '--policy', first.policyFile, '--uid-range', `${range.first}-${range.last}`]).then(
        () => assert.fail('a second server started on a live socket'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(second.code, 1);
      assert.match(second.stderr, /another fnjail server is listening on \S+ \[FNJ_SOCKET_IN_USE\]/);
      assert.equal(readOutput(await callClassic(first.socket, path.join(first.area.libDir, 'libbasic.so'))), 'run\n');
    } finally {
      first.process.kill('SIGKILL'); // a crash: the socket file stays
      await new Promise((resolve) => first.process.once('exit', resolve));
    }
    assert.ok(fs.existsSync(first.socket), 'a crashed server leaves its socket file');
    const restarted = await startServer({ area: first.area });
    try {
      assert.equal(readOutput(await callClassic(restarted.socket, path.join(first.area.libDir, 'libbasic.so'))), 'run\n');
    } finally {
      await restarted.stop();
    }
  });

  it('refuses an invalid policy, naming file, line, column and field', async () => {
    const area = createTestArea();
    try {
      const policy = path.join(area.root, 'bad.json');
      fs.writeFileSync(policy, '{\n  "defaults": {\n    "libraryDirs": ["relative/dir"],\n    "timeout": 5\n  }\n}\n');
      const result = await exec(process.execPath, [cliMain, 'serve', '--no-config', '--socket', path.join(area.root, 's.sock'), ...ownState(area), '--policy', policy]).then(
        () => assert.fail('started with a bad policy'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`${policy}:3:21: /defaults/libraryDirs/0: must be an absolute path`));
      assert.match(result.stderr, new RegExp(`${policy}:4:5: /defaults/timeout: unknown property 'timeout'`));
      assert.match(result.stderr, /\[FNJ_POLICY_INVALID\]/);
    } finally {
      area.cleanup();
    }
  });

  it('raises its own and its launcher\'s priority, and nothing they start inherits it: every sandbox runs at nice 0', async () => {
    // A call that runs until the server stops it: its processes are there to look at.
    const server = await startServer({ timeoutMs: 600_000, args: ['--shutdown-grace', '0'] });
    /** The nice value and parent of a process, or undefined once it is gone. */
    const stat = (pid: number) => {
      try {
        const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
        return { ppid: Number(fields[1]), nice: Number(fields[16]) };
      } catch {
        return undefined;
      }
    };
    const children = (pid: number) => fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => stat(p)?.ppid === pid);
    try {
      const running = callClassic(server.socket, `${path.join(server.area.libDir, 'liblifecycle.so')} sleep_long`);
      running.catch(() => undefined); // cancelled when the server stops
      await waitForStats(server, (s) => s.executions.running === 1);
      assert.equal(stat(server.process.pid!)?.nice, -10, 'the server');
      const launcher = launcherPid(server);
      assert.equal(stat(launcher)?.nice, -10, 'the launcher');
      const sandboxes: number[] = [];
      for (let next = children(launcher); next.length; next = next.flatMap(children)) sandboxes.push(...next);
      const seen = sandboxes.map((pid) => ({ pid, nice: stat(pid)?.nice })).filter((p) => p.nice !== undefined);
      assert.ok(seen.length >= 2, `its sandboxes and the running call: ${JSON.stringify(seen)}`);
      for (const { pid, nice } of seen) assert.equal(nice, 0, `process ${pid} under the launcher`);
    } finally {
      await server.stop();
    }
  });

  it('documents its options in --help', async () => {
    const { stdout } = await exec(process.execPath, [cliMain, 'serve', '--help']);
    for (const option of ['--socket', '--output-dir', '--policy', '--allow-dir', '--compat classic', '--uid-range']) {
      assert.ok(stdout.includes(option), `--help mentions ${option}`);
    }
  });
});
