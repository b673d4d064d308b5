// The real clients: an unmodified classic C client on libipc.so, and the CLI.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliAs } from '../helpers/as-user.js';
import { cliMain, clientsBuild, writeData } from '../helpers/environment.js';
import { callSession } from '../helpers/client.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';
import { packageRoot } from '../../src/paths.js';

const exec = promisify(execFile);
const TENANT = 4242;
const OTHER_TENANT = 4343;
/** A user with no account: anonymous over TCP, whoever runs the CLI. */
const NOBODY = { uid: 65534, gid: 65534 };

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
    assert.equal(result.code, 3, 'the server cannot be reached');
    assert.match(result.stderr, /cannot connect to the fnjail server at \S+none\.sock: .*\[FNJ_CONNECT_FAILED\]\n {2}hint: is the server running\?/);
  });

  /** The CLI, whatever its exit status. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    exec(process.execPath, [cliMain, 'run', ...args], { env, encoding: 'utf8', maxBuffer: 8 << 20 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it('exits with the outcome of the call in every mode, with one line on stderr when it failed', async () => {
    const lib = (name: string) => path.join(server.area.libDir, name);
    const cases: Array<{ words: string[]; code: number; outcome: string }> = [
      { words: [lib('libbasic.so')], code: 0, outcome: 'ok' },
      { words: [lib('liblifecycle.so'), 'exit_one'], code: 10, outcome: 'exit' },
      { words: [lib('liblifecycle.so'), 'crash'], code: 11, outcome: 'signal' },
      { words: [lib('libbasic.so'), 'no_such_function'], code: 16, outcome: 'missing-function' },
      { words: [lib('libnone.so')], code: 15, outcome: 'load-error' },
      { words: ['/usr/lib/x86_64-linux-gnu/libc.so.6', 'getpid'], code: 17, outcome: 'denied' },
    ];
    for (const { words, code, outcome } of cases) {
      for (const mode of [[], ['--cat'], ['--json']]) {
        const result = await cli(['--socket', server.socket, ...mode, ...words]);
        const what = `fnjail run ${[...mode, ...words].join(' ')}`;
        assert.equal(result.code, code, `${what}: ${result.stderr}`);
        if (mode[0] === '--json') assert.equal((JSON.parse(result.stdout) as { outcome: string }).outcome, outcome, what);
        if (code === 0) {
          assert.equal(result.stderr, '', what);
        } else {
          assert.match(result.stderr, new RegExp(`^fnjail: \\S+.* could not be executed: .+ \\[${outcome}\\]\n$`), what);
          assert.doesNotMatch(result.stderr, /\n\s+at /, `${what}: no stack trace`);
        }
        if (mode[0] === '--cat' && code !== 0 && outcome !== 'signal') assert.match(result.stdout, /Error: .* could not be executed\.\nReason: /, what);
      }
    }
  });

  it('--cat gets the content in the JSON reply ("return": "content"), so it works against a server on another host', async () => {
    const remote = await startServer({ args: ['--listen', '127.0.0.1:0', '--insecure'] });
    try {
      const start = await waitForLog(remote, (l) => l.event === 'server-start');
      const address = (start.listen as string[])[0]!;
      const basic = path.join(remote.area.libDir, 'libbasic.so');
      const binary = writeData(remote.area, 'binary.bin', Buffer.from([0xff, 0x00, 0xfe, 0x0a]));
      const big = writeData(remote.area, 'big.txt', 'y'.repeat(2 * 1024 * 1024));

      // The protocol: text as text, anything else in base64, at most 1 MiB, with the whole size.
      const [text, bytes, large] = await callSession(remote.socket, [
        JSON.stringify({ library: basic, return: 'content' }),
        JSON.stringify({ library: basic, function: 'cat', input: binary, return: 'content' }),
        JSON.stringify({ library: basic, function: 'cat', input: big, return: 'content' }),
      ]).then((lines) => lines.map((line) => JSON.parse(line) as Record<string, unknown>));
      assert.deepEqual([text!.content, text!.contentBytes, text!.contentTruncated], ['run\n', 4, false]);
      assert.deepEqual([bytes!.contentBase64, bytes!.content], [Buffer.from([0xff, 0x00, 0xfe, 0x0a]).toString('base64'), undefined]);
      assert.deepEqual([(large!.content as string).length, large!.contentBytes, large!.contentTruncated], [1024 * 1024, 2 * 1024 * 1024, true]);

      // The CLI over TCP prints it; beyond 1 MiB it prints that much and says where the rest is.
      // (As a user: a root CLI refuses plain TCP, SECURITY.md.)
      const [command, ...args] = cliAs(NOBODY, ['run', '--connect', address, '--insecure', '--cat', basic, 'cat', binary]);
      const binaryCat = spawnSync(command!, args);
      assert.equal(binaryCat.status, 0, binaryCat.stderr.toString());
      assert.deepEqual(binaryCat.stdout, Buffer.from([0xff, 0x00, 0xfe, 0x0a]));
      const [bigCommand, ...bigArgs] = cliAs(NOBODY, ['run', '--connect', address, '--insecure', '--cat', basic, 'cat', big]);
      const bigCat = spawnSync(bigCommand!, bigArgs, { encoding: 'utf8', maxBuffer: 8 << 20 });
      assert.equal(bigCat.status, 1);
      assert.equal(bigCat.stdout.length, 1024 * 1024);
      assert.match(bigCat.stderr, /^fnjail: the output is 2097152 bytes, more than a reply carries: the rest is in \S+ on the server's host \[FNJ_OUTPUT_TRUNCATED\]\n/);
      // On this host, over the UNIX socket, the rest comes from the file (a file
      // of the output directory, owned by the caller: cli-reply.test.ts).
      const local = await cli(['--socket', remote.socket, '--cat', '--output-dir', remote.area.outputDir, basic, 'cat', big]);
      assert.equal(local.code, 0, local.stderr);
      assert.equal(local.stdout.length, 2 * 1024 * 1024);
    } finally {
      await remote.stop();
    }
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
