// clients/c/ipc.c builds as the classic assignment builds it (no library on
// the link line) and loads OpenSSL at run time, declaring what it uses itself:
// those declarations are checked here against OpenSSL's own headers.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../../../src/paths.js';

const clientDir = path.join(packageRoot, 'clients', 'c');
const abiCheck = path.join(packageRoot, 'test', 'helpers', 'c-client', 'openssl-abi.c');

describe('the C client library and OpenSSL', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-ipc-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("compiles with the assignment's flags without a warning, and libipc.so needs nothing but libc", () => {
    for (const file of ['ipc.c', 'ipc.h']) fs.copyFileSync(path.join(clientDir, file), path.join(dir, file));
    const compile = spawnSync('gcc', ['-fPIC', '-Wall', '-Wextra', '-c', 'ipc.c'], { cwd: dir, encoding: 'utf8' });
    assert.equal(compile.status, 0, compile.stderr);
    assert.equal(compile.stderr, '', 'no warning');
    execFileSync('gcc', ['-shared', '-o', 'libipc.so', 'ipc.o'], { cwd: dir });
    const needed = execFileSync('readelf', ['-d', path.join(dir, 'libipc.so')], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('(NEEDED)'))
      .map((line) => /\[(.*)\]/.exec(line)?.[1]);
    assert.deepEqual(needed, ['libc.so.6']);
  });

  it("declares every OpenSSL function and constant it uses exactly as OpenSSL's headers do, and loads libssl.so.3", () => {
    const program = path.join(dir, 'openssl-abi');
    const compile = spawnSync('gcc', ['-Wall', '-Wextra', `-DIPC_C="${path.join(clientDir, 'ipc.c')}"`, '-o', program, abiCheck], { encoding: 'utf8' });
    assert.equal(compile.status, 0, `the declarations differ from OpenSSL's (libssl-dev's headers):\n${compile.stderr}`);
    assert.equal(execFileSync(program, { encoding: 'utf8' }), 'ok\n');
  });
});
