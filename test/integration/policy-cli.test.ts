// fnjail policy check and explain, run as an admin runs them: the real CLI on
// real policy files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { shippedPolicy } from '../../src/paths.js';
import { cliMain, createTestArea, writeData, type TestArea } from '../helpers/environment.js';

function fnjail(...args: string[]) {
  const result = spawnSync(process.execPath, [cliMain, 'policy', '--no-config', ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fnjail policy check', () => {
  let area: TestArea;
  before(() => (area = createTestArea()));
  after(() => area.cleanup());

  it('accepts the shipped default policy', () => {
    const result = fnjail('check', shippedPolicy);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${shippedPolicy}: valid \\(sha256 [0-9a-f]{64}\\)\\n`));
    assert.match(result.stdout, /^defaults: \S+default-policy\.json$/m);
  });

  it('lists the tenants of a directory of files and what each matches', () => {
    const dir = path.join(area.root, 'good.d');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '10-a.json'), JSON.stringify({ tenants: [{ name: 'alice', match: { uids: [4501], users: ['daemon'] } }] }));
    fs.writeFileSync(path.join(dir, '20-b.json'), JSON.stringify({ tenants: [{ name: 'staff', match: { groups: ['staff'] } }] }));
    fs.writeFileSync(path.join(dir, 'README'), 'not a policy file: ignored');
    const result = fnjail('check', dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^files: \S+10-a\.json, \S+20-b\.json$/m);
    assert.match(result.stdout, /^  tenant 'alice' \(\S+10-a\.json, tenants\[0\]\): matches uids 4501,1$/m);
    assert.match(result.stdout, /^  tenant 'staff' \(\S+20-b\.json, tenants\[0\]\): matches gids 50$/m);
    assert.match(result.stdout, /^defaults: none \(a user no tenant matches is refused\)$/m);
  });

  it('prints every problem of every file with its line, column and JSON path, and fails', () => {
    const dir = path.join(area.root, 'bad.d');
    fs.mkdirSync(dir);
    const a = path.join(dir, '10-a.json');
    const b = path.join(dir, '20-b.json');
    const c = path.join(dir, '30-c.json');
    fs.writeFileSync(a, '{\n  "tenants": [\n    { "name": "alice", "match": { "uids": [4501] } }\n  ]\n}\n');
    fs.writeFileSync(b, '{\n  "tenants": [\n    { "name": "alice", "match": { "users": ["no-such-user-here"] } }\n  ]\n}\n');
    fs.writeFileSync(c, '{\n  "defaults": {\n    "limits": { "timeoutMs": -1 },\n    "libraryDir": ["/opt"]\n  }\n}\n');
    const result = fnjail('check', dir);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      `${b}:3:7: /tenants/0/name: tenant 'alice' is defined already in ${a}`,
      `${b}:3:45: /tenants/0/match/users/0: unknown user 'no-such-user-here'`,
      `${c}:3:17: /defaults/limits/timeoutMs: must be >= 1`,
      `${c}:4:5: /defaults/libraryDir: unknown property 'libraryDir'`,
      `${dir}: invalid: 4 problems`,
    ]);
  });

  it('refuses a policy that others can change', () => {
    const file = path.join(area.root, 'open-policy.json');
    fs.writeFileSync(file, JSON.stringify({ defaults: { libraryDirs: [area.libDir] } }));
    fs.chmodSync(file, 0o666);
    const result = fnjail('check', file);
    assert.equal(result.code, 1);
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      `${file}: (top level): refused: policy file ${file} is writable by others (mode 0666): whoever can change the policy decides who may run what`,
      `${file}: invalid: 1 problem`,
    ]);
  });

  it('says what cannot be read', () => {
    const result = fnjail('check', path.join(area.root, 'missing.json'));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^fnjail: cannot read the policy \S+missing\.json: ENOENT/);
  });
});

describe('fnjail policy explain', () => {
  let area: TestArea;
  let policyFile: string;
  let secret: string;
  before(() => {
    area = createTestArea();
    fs.chmodSync(area.root, 0o755);
    policyFile = path.join(area.root, 'policy.json');
    fs.writeFileSync(
      policyFile,
      JSON.stringify({
        defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 1500, memory: '64 MiB' } },
        tenants: [{ name: 'staff', match: { groups: ['staff'] }, maxConcurrent: 2, seccompProfile: 'minimal' }],
      }),
    );
    secret = writeData(area, 'secret.txt', 'only root\n', 0o600);
  });
  after(() => area.cleanup());

  const explain = (...args: string[]) => fnjail('explain', '--policy', policyFile, ...args);

  it('prints the decision, the rules that make it, and what the call would run with', () => {
    const data = writeData(area, 'open.txt', 'anyone\n');
    const result = explain('--uid', '4501', '--groups', '50', path.join(area.libDir, 'libbasic.so'), 'cat', data);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const lines = result.stdout.split('\n');
    assert.ok(lines.includes('user: uid 4501 (gid 4501, groups 50)'), result.stdout);
    assert.ok(lines.includes(`tenant: tenant 'staff' (${policyFile}, tenants[0])`), result.stdout);
    assert.ok(lines.includes('decision: allowed'), result.stdout);
    assert.ok(lines.includes(`rule: tenant 'staff' (gid 50); library: defaults.libraryDirs[0] (${area.libDir}); input: defaults.inputDirs[0] (${area.dataDir})`), result.stdout);
    assert.ok(lines.includes(`input: ${data} (uid 4501 can read it)`), result.stdout);
    assert.ok(lines.includes('limits: timeout 1500 ms, CPU 2000 ms, memory 64 MiB, processes 64, open files 256, output 16 MiB, /tmp 16 MiB'), result.stdout);
    assert.ok(lines.includes('seccomp profile: minimal'), result.stdout);
    assert.ok(lines.includes('max concurrent: 2'), result.stdout);
  });

  it("checks the input with the user's credentials, as the server will", () => {
    const asUser = explain('--uid', '4501', path.join(area.libDir, 'libbasic.so'), 'cat', secret);
    assert.equal(asUser.code, 1);
    assert.match(asUser.stdout, /^decision: refused when run$/m);
    assert.match(asUser.stdout, /^input: \S+secret\.txt \(uid 4501 cannot read it: Permission denied\)$/m);
    const asRoot = explain('--user', 'root', path.join(area.libDir, 'libbasic.so'), 'cat', secret);
    assert.equal(asRoot.code, 0, asRoot.stdout);
    assert.match(asRoot.stdout, /^user: uid 0 \(gid 0\)$/m);
  });

  it('prints the refusal and its rule, and exits 1', () => {
    const result = explain('--uid', '4501', '/usr/lib/x86_64-linux-gnu/libc.so.6', 'puts');
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^decision: refused \(denied\)$/m);
    assert.match(result.stdout, /^rule: defaults\.libraryDirs$/m);
    assert.match(result.stdout, /^Reason: denied by policy '\S+policy\.json', rule defaults\.libraryDirs: library \/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6 is not in a library directory of the default tenant/m);
  });

  it('makes a relative library path absolute, as fnjail run does', () => {
    const result = spawnSync(process.execPath, [cliMain, 'policy', 'explain', '--no-config', '--policy', policyFile, '--uid', '4501', 'lib/libbasic.so'], { cwd: area.root, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^library: ${area.libDir}/libbasic\\.so$`, 'm'));
  });

  it('refuses contradictory or malformed options with a hint', () => {
    const both = explain('--uid', '1', '--user', 'root', 'libbasic.so');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --uid or --user, not both/);
    assert.match(both.stderr, /see fnjail policy --help/);
    assert.match(explain('--uid', 'alice', 'libbasic.so').stderr, /--uid must be an integer from 0 to 4294967294, not 'alice'/);
    assert.match(explain('--user', 'no-such-user-here', 'libbasic.so').stderr, /unknown user 'no-such-user-here'/);
    assert.match(fnjail('check', '--uid', '1').stderr, /--uid is an option of explain/);
    assert.match(fnjail('frobnicate').stderr, /unknown policy command 'frobnicate'/);
  });
});
