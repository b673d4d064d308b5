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
import { cliMain, createTestArea, defaultTestPolicy, uidRangeForThisProcess, writePolicy } from '../helpers/environment.js';
import { readOutput, startServer } from '../helpers/server.js';

const exec = promisify(execFile);

describe('fnjail serve', () => {
  it('accepts connections right after it starts, and serves once the launcher is ready', async () => {
    const area = createTestArea();
    const socket = path.join(area.root, 'fnjail.sock');
    const range = uidRangeForThisProcess();
    const started = Date.now();
    const child = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', area.outputDir,
      '--policy', writePolicy(area, defaultTestPolicy(area)), '--uid-range', `${range.first}-${range.last}`], { stdio: 'ignore' });
    try {
      let connectedAfter = -1;
      while (Date.now() - started < 5000) {
        const ok = await new Promise<boolean>((resolve) => {
          const conn = net.connect(socket, () => {
            conn.destroy();
            resolve(true);
          });
          conn.on('error', () => resolve(false));
        });
        if (ok) {
          connectedAfter = Date.now() - started;
          break;
        }
        await sleep(5);
      }
      assert.ok(connectedAfter >= 0, 'the server accepted a connection');
      // Tools start it and connect right away; the bound is loose here (a busy
      // test machine), bench/ measures the real figure.
      assert.ok(connectedAfter < 2000, `first connection accepted after ${connectedAfter} ms`);
      assert.equal(readOutput(await callClassic(socket, path.join(area.libDir, 'libbasic.so'))), 'run\n');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      assert.ok(!fs.existsSync(socket), 'the socket file is removed on SIGTERM');
      area.cleanup();
    }
  });

  it('starts over a stale socket file, refuses a live one', async () => {
    const first = await startServer();
    try {
      // Another server on the same socket: refused, the first keeps serving.
      const second = await exec(process.execPath, [cliMain, 'serve', '--no-config', '--socket', first.socket, '--output-dir', first.area.outputDir,
        '--policy', first.policyFile]).then(
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
      const result = await exec(process.execPath, [cliMain, 'serve', '--no-config', '--socket', path.join(area.root, 's.sock'), '--policy', policy]).then(
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

  it('documents its options in --help', async () => {
    const { stdout } = await exec(process.execPath, [cliMain, 'serve', '--help']);
    for (const option of ['--socket', '--output-dir', '--policy', '--allow-dir', '--compat classic', '--uid-range']) {
      assert.ok(stdout.includes(option), `--help mentions ${option}`);
    }
  });
});
