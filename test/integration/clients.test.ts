// The real clients: an unmodified classic C client on libipc.so, and the CLI.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliMain, clientsBuild, writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';
import { packageRoot } from '../../src/paths.js';

const exec = promisify(execFile);
const TENANT = 4242;
const OTHER_TENANT = 4343;

describe('the classic C client library', () => {
  let server: TestServer;
  let clientDir: string;

  before(async () => {
    server = await startServer();
    // A copy of the client in the test area, where any uid can run it.
    clientDir = path.join(server.area.root, 'client');
    fs.mkdirSync(clientDir, { mode: 0o755 });
    for (const file of ['libipc.so', 'classic-client']) fs.copyFileSync(path.join(clientsBuild, file), path.join(clientDir, file));
    fs.chmodSync(path.join(clientDir, 'classic-client'), 0o755);
  });
  after(() => server.stop());

  it('an unmodified classic client compiles against ipc.h', async () => {
    const source = path.join(packageRoot, 'clients', 'c');
    const out = path.join(clientDir, 'compiled-client');
    await exec('cc', ['-Wall', '-Werror', '-o', out, path.join(source, 'classic-client.c'), `-I${source}`, `-L${clientsBuild}`, '-lipc']);
    assert.ok(fs.existsSync(out));
  });

  it('gets the path of a file owned by the calling user, mode 0600, holding the output', () => {
    const result = spawnSync(path.join(clientDir, 'classic-client'), [path.join(server.area.libDir, 'libbasic.so'), 'run'], {
      uid: TENANT,
      gid: TENANT,
      env: { FNJAIL_SOCKET: server.socket },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    const match = /^Output file: (\S+)\n$/.exec(result.stdout);
    assert.ok(match, `classic output: ${result.stdout}`);
    const file = match[1]!;
    const stat = fs.statSync(file);
    assert.equal(stat.uid, TENANT);
    assert.equal(stat.gid, TENANT);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(readOutput(file), 'run\n');

    const own = spawnSync('cat', [file], { uid: TENANT, gid: TENANT, encoding: 'utf8' });
    assert.equal(own.stdout, 'run\n', 'the tenant reads its own file');
    const other = spawnSync('cat', [file], { uid: OTHER_TENANT, gid: OTHER_TENANT, encoding: 'utf8' });
    assert.notEqual(other.status, 0, 'another tenant cannot read it');
    const list = spawnSync('ls', [server.area.outputDir], { uid: TENANT, gid: TENANT, encoding: 'utf8' });
    assert.notEqual(list.status, 0, 'nobody but root lists the output directory');
  });
});

describe('the fnjail CLI', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer();
    writeData(server.area, 'hello.txt', 'hello\n');
  });
  after(() => server.stop());

  it('prints the output file path; --cat prints its content', async () => {
    const lib = path.join(server.area.libDir, 'libbasic.so');
    const { stdout } = await exec(process.execPath, [cliMain, 'run', '--socket', server.socket, lib]);
    assert.equal(readOutput(stdout.trim()), 'run\n');
    const cat = await exec(process.execPath, [cliMain, 'run', '--socket', server.socket, '--cat', '--output-dir', server.area.outputDir, lib]);
    assert.equal(cat.stdout, 'run\n');
  });

  it('takes the socket from FNJAIL_SOCKET and makes a relative input path absolute', async () => {
    const { stdout } = await exec(process.execPath, [cliMain, 'run', '--cat', '--output-dir', server.area.outputDir, 'libbasic.so', 'cat', 'hello.txt'], {
      cwd: server.area.dataDir,
      env: { ...process.env, FNJAIL_SOCKET: server.socket },
    });
    assert.equal(stdout, 'hello\n');
  });

  it('explains a missing server', async () => {
    const result = await exec(process.execPath, [cliMain, 'run', '--socket', path.join(server.area.root, 'none.sock'), 'libbasic.so']).then(
      () => assert.fail('should fail'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot connect to the fnjail server at \S+none\.sock: .*\[FNJ_CONNECT_FAILED\]\n {2}hint: is the server running\?/);
  });

  it('rejects a wrong command line with a hint', async () => {
    const result = await exec(process.execPath, [cliMain, 'run', '--bogus', 'x']).then(
      () => assert.fail('should fail'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\[FNJ_USAGE\]\n {2}hint: see fnjail run --help/);
  });
});
