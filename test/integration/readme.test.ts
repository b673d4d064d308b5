// README's promise: after `npm install`, the server on the shipped default
// policy runs the shipped example libraries (and nothing else).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliMain, createTestArea, nextUidRange, type TestArea } from '../helpers/environment.js';
import { shippedPolicy } from '../../src/paths.js';
import { spawn, type ChildProcess } from 'node:child_process';

const exec = promisify(execFile);

describe('the shipped default policy and example libraries', () => {
  let area: TestArea;
  let server: ChildProcess;
  let socket: string;

  before(async () => {
    for (const file of ['/opt/fnlib/libbasic.so', '/opt/fnlib/data/hello.txt']) {
      assert.ok(fs.existsSync(file), `${file} is missing: npm install (as root) installs the examples`);
    }
    area = createTestArea();
    const range = nextUidRange();
    const uidRange = `${range.first}-${range.last}`;
    socket = path.join(area.root, 'fnjail.sock');
    // What `npm start` runs, on a private socket and output directory.
    server = spawn(process.execPath, [cliMain, 'serve', '--no-config', '--socket', socket, '--output-dir', area.outputDir, '--policy', shippedPolicy, '--uid-range', uidRange, '--http-socket', path.join(area.root, 'api.sock'), '--state-dir', path.join(area.root, 'state')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('fnjail listening') && resolve());
      server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
  });
  after(async () => {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    area.cleanup();
  });

  const fnjail = (...args: string[]) => exec(process.execPath, [cliMain, 'run', '--socket', socket, '--cat', ...args]);
  /** A call that must fail: its output and its exit status (17: denied). */
  const refused = (...args: string[]) =>
    fnjail(...args).then(
      () => assert.fail(`fnjail run ${args.join(' ')} succeeded`),
      (error: { code: number; stdout: string }) => error,
    );

  it('runs the README examples', async () => {
    assert.equal((await fnjail('/opt/fnlib/libbasic.so')).stdout, 'run\n');
    assert.equal((await fnjail('libbasic.so', 'cat', '/opt/fnlib/data/hello.txt')).stdout, 'Hello from fnjail: this file was read inside a sandbox.\n');
  });

  it('allows nothing else', async () => {
    const { code, stdout } = await refused('/usr/lib/x86_64-linux-gnu/libc.so.6', 'getpid');
    assert.equal(code, 17);
    assert.match(stdout, /^Error: .* could not be executed\.\nReason: denied by policy '.*default-policy\.json', rule defaults\.libraryDirs: library .* is not in a library directory of the default tenant/);
    const input = await refused('libbasic.so', 'cat', '/etc/hostname');
    assert.match(input.stdout, /Reason: denied by policy '.*', rule defaults\.inputDirs: input file \/etc\/hostname is not in an input directory of the default tenant/);
  });
});
