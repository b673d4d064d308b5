// The policy as tenants meet it: real users (the classic client run under
// setpriv, so the server reads their credentials from the socket), tenants by
// uid and by group, function globs, per-tenant limits and seccomp profiles, the
// checks that hold whatever the policy says; and `fnjail policy explain` giving
// the same reason the server writes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callAs, installClient, type User } from '../helpers/as-user.js';
import { cliMain, writeData, type TestArea } from '../helpers/environment.js';
import { callClassic } from '../helpers/client.js';
import { readOutput, startServer, waitForLogs, type TestServer } from '../helpers/server.js';

const ALICE = { uid: 4501, gid: 4501 };
const OPS_MEMBER = { uid: 4502, gid: 4502, groups: [4600] };
const LEARNER = { uid: 4503, gid: 4503 };
const IN_TWO_TEAMS = { uid: 4504, gid: 4504, groups: [4600, 4700] };
const NOBODY_KNOWN = { uid: 4509, gid: 4509 };

function policy(area: TestArea): object {
  const basic = path.join(area.libDir, 'libbasic.so');
  return {
    defaults: { libraryDirs: [area.libDir], limits: { timeoutMs: 3000 } },
    tenants: [
      {
        name: 'alice',
        match: { uids: [ALICE.uid] },
        inputDirs: [area.dataDir],
        functions: [{ library: basic, allow: ['cat', 'ec*'] }],
      },
      { name: 'ops', match: { gids: [4600] }, limits: { timeoutMs: 200 } },
      { name: 'qa', match: { gids: [4700] } },
      { name: 'learner', match: { uids: [LEARNER.uid] }, seccompProfile: 'learn' },
      { name: 'one-at-a-time', match: { uids: [0] }, maxConcurrent: 1 },
    ],
  };
}

describe('policy: tenants and their rules', () => {
  let server: TestServer;
  let client: string;
  let call: (user: User, words: string[]) => string;
  let lib: (name: string) => string;
  let data: string;

  before(async () => {
    server = await startServer({ policy });
    fs.chmodSync(server.area.root, 0o755);
    client = installClient(server.area);
    lib = (name) => path.join(server.area.libDir, name);
    call = (user, words) => readOutput(callAs(client, server.socket, user, words));
    data = writeData(server.area, 'hello.txt', 'hello\n');
  });
  after(() => server.stop());

  const denial = (rule: string, detail: string) => new RegExp(`^Error: .* could not be executed\\.\\nReason: denied by policy '${server.policyFile}', rule ${rule}: ${detail}\\n$`);

  it('lets a tenant matched by uid call the functions its globs allow', () => {
    assert.equal(call(ALICE, [lib('libbasic.so'), 'cat', data]), 'hello\n');
    assert.equal(call(ALICE, [lib('libbasic.so'), 'echo_arg', data]), `${data}\n`);
  });

  it('denies a function outside the globs, naming the rule', () => {
    assert.match(call(ALICE, [lib('libbasic.so')]), denial('tenants\\[0\\]\\.functions\\[0\\]', `function 'run' of \\S+libbasic\\.so is not allowed for tenant 'alice' \\(allowed: cat, ec\\*\\)`));
  });

  it('denies a library no functions entry covers, naming the rule', () => {
    assert.match(call(ALICE, [lib('liblifecycle.so')]), denial('tenants\\[0\\]\\.functions', `tenant 'alice' may call no function of \\S+liblifecycle\\.so \\(no entry covers it\\)`));
  });

  it('gives whoever no tenant matches the defaults, inputs included', () => {
    assert.equal(call(NOBODY_KNOWN, [lib('libbasic.so')]), 'run\n');
    assert.match(
      call(NOBODY_KNOWN, [lib('libbasic.so'), 'cat', data]),
      denial('defaults\\.inputDirs', `input file ${data} is not in an input directory of the default tenant \\(inputDirs: none\\)`),
    );
  });

  it("applies a tenant's own limits to members of its group, and inherits the rest", () => {
    assert.match(call(OPS_MEMBER, [lib('liblifecycle.so'), 'sleep_half']), /^before sleep\nError: .* could not be executed\.\nReason: timed out after 200 ms \(wall clock limit\)/);
    assert.equal(call(NOBODY_KNOWN, [lib('liblifecycle.so'), 'sleep_half']), 'before sleep\nafter sleep\n');
  });

  it("runs a tenant's calls under its own seccomp profile", () => {
    assert.match(call(LEARNER, [lib('libsyscalls.so'), 'try_socket']), /^calling socket\nsocket returned \d+ \(ok\)\n$/);
    assert.match(call(NOBODY_KNOWN, [lib('libsyscalls.so'), 'try_socket']), /Reason: blocked system call socket \(41\) by seccomp profile 'default'\n$/);
  });

  it("runs a tenant's calls one at a time when its maxConcurrent is 1", async () => {
    // Root (this test process) is the tenant 'one-at-a-time': three calls of half a second at once.
    const from = server.logs.length;
    const outputs = await Promise.all([1, 2, 3].map(() => callClassic(server.socket, `${lib('liblifecycle.so')} sleep_half`)));
    for (const output of outputs) assert.equal(readOutput(output), 'before sleep\nafter sleep\n');
    const finished = await waitForLogs(server, (l) => l.msg === 'call finished' && l.tenant === 'one-at-a-time', { from, count: 3 });
    const waits = finished.map((l) => l.queueMs as number).sort((a, b) => a - b);
    // Each waited for the ones before it to finish their half second.
    assert.ok(waits[1]! >= 450 && waits[2]! >= 950, `waits in line: ${waits.join(', ')} ms`);
  });

  it('refuses a user whom two tenants match through groups, rather than pick one', () => {
    assert.match(
      call(IN_TWO_TEAMS, [lib('libbasic.so')]),
      denial('tenants\\[1\\]\\.match and tenants\\[2\\]\\.match', `uid 4504 \\(gid 4504, groups 4600,4700\\) matches tenant 'ops' \\(gid 4600, \\S+\\) and tenant 'qa' \\(gid 4700, \\S+\\) through its groups; .*`),
    );
  });

  it('refuses a library that a group can change, whatever the policy says', () => {
    const writable = lib('libgroupwritable.so');
    fs.copyFileSync(lib('libbasic.so'), writable);
    fs.chmodSync(writable, 0o664);
    assert.match(
      call(NOBODY_KNOWN, [writable]),
      /^Error: .* could not be executed\.\nReason: refused whatever the policy says: library \S+libgroupwritable\.so is writable by its group \(mode 0664\): only libraries that nobody but root or a trusted owner can change are loaded\n$/,
    );
  });

  it('refuses a symlink in an allowed directory that leads out of it', () => {
    const outside = path.join(server.area.root, 'elsewhere');
    fs.mkdirSync(outside, { mode: 0o755 });
    fs.copyFileSync(lib('libbasic.so'), path.join(outside, 'libbasic.so'));
    fs.symlinkSync(path.join(outside, 'libbasic.so'), lib('libescape.so'));
    assert.match(call(NOBODY_KNOWN, [lib('libescape.so')]), denial('defaults\\.libraryDirs', `library \\S+libescape\\.so resolves to ${outside}/libbasic\\.so, outside the libraryDirs of the default tenant .*`));
  });

  it('is explained by fnjail policy explain with the reason the server writes', () => {
    const words = [lib('libbasic.so'), 'run'];
    const served = call(ALICE, words).split('\n')[1];
    const explained = spawnSync(process.execPath, [cliMain, 'policy', 'explain', '--no-config', '--policy', server.policyFile, '--uid', String(ALICE.uid), '--gid', String(ALICE.gid), '--groups', '', ...words], {
      encoding: 'utf8',
    });
    assert.equal(explained.status, 1, explained.stderr);
    assert.ok(explained.stdout.split('\n').includes(served!), `explain:\n${explained.stdout}\nserver: ${served}`);
    assert.match(explained.stdout, /^tenant: tenant 'alice' \(\S+, tenants\[0\]\)$/m);
    assert.match(explained.stdout, /^decision: refused \(denied\)$/m);
  });
});
