// The classic assignment's checker, as its authors run it: libipc.so built
// from clients/c/ipc.c exactly as the assignment's Makefile builds it, a
// classic client linked against that library alone, the server started and
// the client run 0.25 s later (the checker's own scenario; how fast the
// server really starts is measured in bench/startup.ts), each answer checked.
// test/scenario/ runs on its own after the other suites (npm test), so that
// the machine is as quiet as the checker's: a Node.js process alone takes
// 0.1 s to start here, and several times that beside a thousand test clients.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/paths.js';
import { cliMain, createTestArea, defaultTestPolicy, uidRangeForThisProcess, writeData, writePolicy, type TestArea } from '../helpers/environment.js';
import { readOutput } from '../helpers/server.js';

const exec = promisify(execFile);
/** The checker connects this long after it started the server. */
const CHECKER_DELAY_MS = 250;

describe("the classic checker's scenario", () => {
  let area: TestArea;
  let dir: string;

  before(() => {
    area = createTestArea();
    // The assignment's directory: its sources, built its way (no other flag, no library on the link line).
    dir = path.join(area.root, 'checker');
    fs.mkdirSync(dir, { mode: 0o755 });
    for (const file of ['ipc.c', 'ipc.h', 'classic-client.c']) fs.copyFileSync(path.join(packageRoot, 'clients', 'c', file), path.join(dir, file));
    execFileSync('gcc', ['-fPIC', '-Wall', '-Wextra', '-c', 'ipc.c'], { cwd: dir });
    execFileSync('gcc', ['-shared', '-o', 'libipc.so', 'ipc.o'], { cwd: dir });
    execFileSync('gcc', ['-Wall', '-Wextra', '-o', 'client', 'classic-client.c', '-L.', '-lipc'], { cwd: dir });
  });
  after(() => area.cleanup());

  it('builds libipc.so as the assignment does, and the client needs nothing but it and libc', () => {
    const needed = (file: string) =>
      execFileSync('readelf', ['-d', path.join(dir, file)], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes('(NEEDED)'))
        .map((line) => /\[(.*)\]/.exec(line)?.[1])
        .sort();
    assert.deepEqual(needed('client'), ['libc.so.6', 'libipc.so']);
    assert.deepEqual(needed('libipc.so'), ['libc.so.6']);
  });

  it('starts the server, connects 0.25 s later and gets the right answers', async () => {
    const socket = path.join(area.root, 'fnjail.sock');
    const range = uidRangeForThisProcess();
    const input = writeData(area, 'file128.txt', `${'x'.repeat(127)}\n`);
    const server = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', area.outputDir,
      '--policy', writePolicy(area, defaultTestPolicy(area)), '--uid-range', `${range.first}-${range.last}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await sleep(CHECKER_DELAY_MS);
      const client = (...words: string[]) => exec(path.join(dir, 'client'), words, { env: { FNJAIL_SOCKET: socket, LD_LIBRARY_PATH: dir }, encoding: 'utf8' });
      const first = await client(path.join(area.libDir, 'libbasic.so')).catch((error: { stderr?: string }) => assert.fail(`the client, 0.25 s after the server started: ${error.stderr}; server: ${stderr}`));
      const output = /^Output file: (\S+)\n$/.exec(first.stdout)?.[1];
      assert.ok(output, first.stdout);
      assert.equal(readOutput(output), 'run\n');
      // And the rest of what the checker asks, one client process each.
      const answers = await Promise.all([
        client(path.join(area.libDir, 'libcounter.so'), 'run'),
        client(path.join(area.libDir, 'libbasic.so'), 'cat', input),
        client(path.join(area.libDir, 'libcounter.so'), 'reset'),
        client(path.join(area.libDir, 'libmissing.so')),
      ]);
      const contents = answers.map(({ stdout }) => readOutput(/^Output file: (\S+)\n$/.exec(stdout)![1]!));
      assert.deepEqual(contents.slice(0, 3), ['Got called 1 times\n', `${'x'.repeat(127)}\n`, 'Counter reset\n']);
      assert.match(contents[3]!, new RegExp(`^Error: ${path.join(area.libDir, 'libmissing.so')} could not be executed\\.\\n`));
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  });
});

