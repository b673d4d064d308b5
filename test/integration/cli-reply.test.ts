// `fnjail run --cat` prints the content the server sends in its reply, and
// reads the rest of an output larger than a reply carries from the file the
// reply names, and only what the real server made for the caller: a fake
// server (any user can listen on a socket and point FNJAIL_SOCKET at it)
// naming a root-only file gets nothing printed, whoever runs the CLI; a root
// CLI does not even talk to a server that is not root, nor over plain TCP.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../../src/client/client.js';
import type { FnjailError } from '../../src/errors.js';
import { cliAs } from '../helpers/as-user.js';
import { cliMain, createTestArea, type TestArea } from '../helpers/environment.js';

const USER = 4901;
const SECRET = 'root only: the contents of a 0600 file\n';

function fnjail(args: string[], env: Record<string, string> = {}, as?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = as === undefined ? [process.execPath, cliMain, ...args] : cliAs({ uid: as, gid: as }, args);
  return new Promise((resolve) => {
    execFile(command[0]!, command.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

/** A JSON reply of a call that went well and printed more than a reply
 * carries, as the server makes it: the rest is in `output`. */
const truncatedReply = (output: string) =>
  JSON.stringify({ output, outcome: 'ok', reasons: [], content: 'the first bytes\n', contentBytes: 2 << 20, contentTruncated: true });

/** A fake server, run as `uid`, that answers every message with `reply`. */
async function fakeServer(socket: string, reply: string, uid: number): Promise<ChildProcess> {
  const code = `require('net').createServer((c) => c.once('data', () => c.end(process.argv[2]))).listen(process.argv[1], () => console.log('ready'))`;
  const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', code, socket, reply], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', () => resolve());
    child.on('exit', (status) => reject(new Error(`fake server exited with ${status}`)));
  });
  return child;
}

/** A fake server in this (root) process: it passes the "server is root" check, so the path checks are what stops it. */
function rootFakeServer(socket: string, reply: () => string): Promise<net.Server> {
  const server = net.createServer((c) => c.once('data', () => c.end(reply())));
  return new Promise((resolve) =>
    server.listen(socket, () => {
      fs.chmodSync(socket, 0o666); // as the real server's: any user may connect
      resolve(server);
    }),
  );
}

describe('fnjail run --cat and the server it talks to', () => {
  let area: TestArea;
  let secret: string;
  let userDir: string;
  const children: ChildProcess[] = [];
  const servers: net.Server[] = [];

  before(() => {
    area = createTestArea();
    fs.mkdirSync(area.outputDir, { mode: 0o711 });
    secret = path.join(area.root, 'secret.txt');
    fs.writeFileSync(secret, SECRET, { mode: 0o600 });
    userDir = path.join(area.root, 'user');
    fs.mkdirSync(userDir, { mode: 0o700 });
    fs.chownSync(userDir, USER, USER);
  });
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const server of servers) server.close();
    area.cleanup();
  });

  it("as root, refuses a server that another user runs, before sending anything", async () => {
    const socket = path.join(userDir, 'fake.sock');
    children.push(await fakeServer(socket, truncatedReply(secret), USER));
    const result = await fnjail(['run', '--cat', '--output-dir', area.outputDir, 'libbasic.so'], { FNJAIL_SOCKET: socket });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`the server on ${socket} runs as uid ${USER}, not root: refused, as this client runs as root \\[FNJ_SERVER_UNTRUSTED\\]`));
  });

  it("as root, the package's Client refuses an API socket that another user runs, on every connection it opens", async () => {
    const socket = path.join(userDir, 'fake-api.sock');
    children.push(await fakeServer(socket, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}', USER));
    const client = new Client({ socketPath: socket });
    try {
      // The refused connection is not kept: the next request opens another, checked again.
      for (let i = 0; i < 2; i++) {
        await assert.rejects(client.status(), (error: FnjailError) => {
          assert.equal(error.code, 'FNJ_SERVER_UNTRUSTED');
          assert.equal(error.message, `the server on ${socket} runs as uid ${USER}, not root: refused, as this client runs as root`);
          return true;
        });
      }
    } finally {
      client.close();
    }
  });

  it('never prints a file outside the output directory, through a link, or owned by someone else', async () => {
    const socket = path.join(area.root, 'root-fake.sock');
    let reply = secret;
    servers.push(await rootFakeServer(socket, () => truncatedReply(reply)));
    const cat = (as?: number) => fnjail(['run', '--socket', socket, '--cat', '--output-dir', area.outputDir, 'libbasic.so'], {}, as);
    const refused = async (pattern: RegExp, as?: number) => {
      const result = await cat(as);
      assert.equal(result.code, 1, result.stdout);
      assert.equal(result.stdout, '', 'nothing printed');
      assert.match(result.stderr, pattern);
      assert.match(result.stderr, /\[FNJ_REPLY_REFUSED\]/);
    };

    await refused(new RegExp(`reply "${secret}" is not a file of the output directory`));
    reply = path.join(area.outputDir, '..', 'secret.txt');
    await refused(/is not a file of the output directory/);

    const link = path.join(area.outputDir, 'out-link01');
    fs.symlinkSync(secret, link);
    reply = link;
    await refused(/cannot be opened: it is a symbolic link/);

    const others = path.join(area.outputDir, 'out-user01');
    fs.writeFileSync(others, 'a user file\n', { mode: 0o644 });
    fs.chownSync(others, USER, USER);
    reply = others;
    await refused(new RegExp(`is owned by uid ${USER}, not by this user \\(uid 0\\)`));

    const mine = path.join(area.outputDir, 'out-root01');
    fs.writeFileSync(mine, 'the caller\'s own output\n', { mode: 0o644 }); // readable by all: only the owner check stops another user
    reply = mine;
    const ok = await cat();
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "the caller's own output\n");
    // Another user gets its own file printed, and not root's.
    reply = others;
    assert.equal((await cat(USER)).stdout, 'a user file\n');
    reply = mine;
    await refused(new RegExp(`is owned by uid 0, not by this user \\(uid ${USER}\\)`), USER);
  });

  it('refuses an output directory whose path a user could change', async () => {
    const socket = path.join(area.root, 'root-fake-2.sock');
    const planted = path.join(userDir, 'output');
    fs.mkdirSync(planted);
    fs.chownSync(planted, USER, USER);
    fs.writeFileSync(path.join(planted, 'out-abcdef'), 'planted\n', { mode: 0o600 });
    servers.push(await rootFakeServer(socket, () => truncatedReply(path.join(planted, 'out-abcdef'))));
    const result = await fnjail(['run', '--socket', socket, '--cat', '--output-dir', planted, 'libbasic.so']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`in an output directory that cannot be trusted \\(${userDir} is owned by uid ${USER}, not root`));
  });
});
