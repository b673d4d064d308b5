// Registered functions end to end: a real server with its private
// nats-server, the real launcher, and real clients as real users (the fnjail
// CLI, an HTTP client on the API socket, the classic C client, a JSON
// session). Deploying (a directory, a .tar.gz), calling by name everywhere,
// the policy on who may deploy, call, see and remove whose functions, quotas,
// the audit trail, hostile bundles over the API, program and build bundles
// refused until the launcher runs them, a redeploy while a call runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { schemaValidator } from '../../../src/config/json-file.js';
import { packageRoot } from '../../../src/paths.js';
import { callAs, installClient, type User } from '../../helpers/as-user.js';
import { callSession } from '../../helpers/client.js';
import { createTestArea, fixturesBuild, writeData, type TestArea } from '../../helpers/environment.js';
import { fnjailAs, toupperBundle } from '../../helpers/fnjail-cli.js';
import { httpRequest } from '../../helpers/http.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';
import { readOutput, startServer, waitForOutputs, type TestServer } from '../../helpers/server.js';
import { tarGz, validEntries } from '../../helpers/tar-builder.js';

const ALICE: User = { uid: 4511, gid: 4511 };
const BOB: User = { uid: 4512, gid: 4512 };
const CAROL: User = { uid: 4513, gid: 4513 };
/** No tenant matches: the default tenant's. */
const DAVE: User = { uid: 4514, gid: 4514 };

/** A library bundle directory, readable by every test user: a fixture library and its manifest. */
export function libraryBundle(area: TestArea, name: string, library: string, functions: string[], extra: Record<string, unknown> = {}, note = ''): string {
  const dir = path.join(area.root, 'bundles', `${name}-${fs.readdirSync(area.root).length}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true, mode: 0o755 });
  fs.copyFileSync(path.join(fixturesBuild, library), path.join(dir, 'lib', library));
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name, kind: 'library', functions, entry: `lib/${library}`, ...extra }));
  fs.writeFileSync(path.join(dir, 'NOTE'), note);
  for (const entry of [path.dirname(dir), dir, path.join(dir, 'lib')]) fs.chmodSync(entry, 0o755);
  return dir;
}

/** The same directory as a .tar.gz made by GNU tar. */
export function tarball(dir: string): string {
  const file = `${dir}.tar.gz`;
  const made = spawnSync('tar', ['czf', file, '-C', dir, '.']);
  assert.equal(made.status, 0, made.stderr.toString());
  fs.chmodSync(file, 0o644);
  return file;
}

const policy = (area: TestArea) => ({
  defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 10000 } },
  tenants: [
    { name: 'alice', match: { uids: [ALICE.uid] }, deploy: { maxFunctions: 4 } },
    { name: 'bob', match: { uids: [BOB.uid] }, deploy: true },
    { name: 'carol', match: { uids: [CAROL.uid] }, callFunctionsOf: ['alice'] },
  ],
});

describe('registered functions', () => {
  let server: TestServer;
  let area: TestArea;
  let input: string;

  before(async () => {
    server = await startServer({ policy, registry: true, args: ['--node-name', 'test-node'] });
    area = server.area;
    input = writeData(area, 'input.txt', 'the input file\n');
  });
  after(async () => {
    await server?.stop();
  });

  it('deploys a directory and a .tar.gz with fnjail deploy, and calls them by name with fnjail call', async () => {
    const basic = libraryBundle(area, 'basic', 'libbasic.so', ['run', 'cat']);
    const deployed = await fnjailAs(server, ALICE, ['deploy', basic]);
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(deployed.stdout, /^basic: deployed, version [0-9a-f]{12}, library, owner alice\n$/);
    const lifecycle = tarball(libraryBundle(area, 'lifecycle', 'liblifecycle.so', ['run', 'crash', 'sleep_long'], { limits: { timeoutMs: 3000 } }));
    const fromTar = await fnjailAs(server, ALICE, ['deploy', lifecycle, '--json']);
    assert.equal(fromTar.status, 0, fromTar.stderr);
    const reply = JSON.parse(fromTar.stdout) as { created: boolean; function: { name: string; owner: string; manifest: { limits: object } } };
    assert.equal(reply.created, true);
    assert.equal(reply.function.name, 'lifecycle');
    assert.deepEqual(reply.function.manifest.limits, { timeoutMs: 3000 });

    assert.deepEqual(await fnjailAs(server, ALICE, ['call', 'basic']), { status: 0, stdout: 'run\n', stderr: '' });
    // The input file is read by the CLI, as alice, and sent: the server never opens her file.
    assert.deepEqual(await fnjailAs(server, ALICE, ['call', 'basic', '--function', 'cat', '--input', input]), { status: 0, stdout: 'the input file\n', stderr: '' });
    assert.deepEqual(await fnjailAs(server, ALICE, ['call', 'basic', '--function', 'cat', '--input', '-'], 'from stdin\n'), { status: 0, stdout: 'from stdin\n', stderr: '' });
    const crash = await fnjailAs(server, ALICE, ['call', 'lifecycle', '--function', 'crash']);
    assert.equal(crash.status, 11, 'the exit status of a crash, as fnjail run');
    assert.equal(crash.stdout, 'about to crash\n', 'what it printed before it crashed');
    assert.match(crash.stderr, /^fnjail: @lifecycle crash could not be executed: killed by signal 11 \(SIGSEGV.*\[signal\]\n$/);
    const missing = await fnjailAs(server, ALICE, ['call', 'basic', '--function', 'solve']);
    assert.equal(missing.status, 16);
    assert.match(missing.stderr, /function 'solve' is not one that 'basic' offers \(its manifest lists: run, cat\)/);
    const unknown = await fnjailAs(server, ALICE, ['call', 'nothing-here']);
    assert.equal(unknown.status, 16);
    assert.match(unknown.stderr, /no function named 'nothing-here' is registered/);

    const listed = await fnjailAs(server, ALICE, ['functions', '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string; owner: string }>).map((f) => [f.name, f.owner]), [['basic', 'alice'], ['lifecycle', 'alice']]);
    const table = await fnjailAs(server, ALICE, ['functions']);
    assert.match(table.stdout, /^NAME +OWNER +KIND +VERSION +DEPLOYED +BY\nbasic +alice +library +[0-9a-f]{12} +\S+ +uid 4511\n/);
    const shown = await fnjailAs(server, ALICE, ['functions', 'show', 'lifecycle']);
    assert.match(shown.stdout, /^name: +lifecycle\nowner: +alice\nkind: +library \(functions: run, crash, sleep_long\)\n/m);
  });

  it('calls by name over the API socket, from the classic C client and in a JSON request', async () => {
    const ok = await httpRequest(server.apiSocket, { method: 'POST', path: '/run/basic?function=cat', body: 'over HTTP\n', as: ALICE });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'over HTTP\n');
    assert.equal(ok.headers['x-fnjail-outcome'], 'ok');
    assert.match(ok.headers['x-fnjail-request']!, /^[0-9a-f]{8}-\d+$/);
    assert.match(ok.headers['x-fnjail-duration-ms']!, /^\d+\.\d{3}$/);
    const alias = await httpRequest(server.apiSocket, { method: 'POST', path: '/runLambda/basic', as: ALICE });
    assert.deepEqual([alias.status, alias.body.toString()], [200, 'run\n']);

    const crashed = await httpRequest(server.apiSocket, { method: 'POST', path: '/run/lifecycle?function=crash', as: ALICE });
    assert.equal(crashed.status, 502);
    assert.match(crashed.headers['content-type']!, /^application\/problem\+json/);
    const problem = crashed.json<{ outcome: string; reasons: string[]; output: string; request: string; status: number }>();
    assert.equal(problem.outcome, 'signal');
    assert.equal(problem.status, 502);
    assert.equal(problem.output, 'about to crash\n', 'the partial output, without the error lines');
    assert.match(problem.reasons[0]!, /^killed by signal 11 \(SIGSEGV/);
    assert.equal(problem.request, crashed.headers['x-fnjail-request']);

    const client = installClient(area);
    const classic = callAs(client, server.socket, ALICE, ['@basic', 'cat', input]);
    assert.equal(readOutput(classic), 'the input file\n');
    const [line] = await callSession(server.socket, [JSON.stringify({ name: 'basic', function: 'cat', input, return: 'content' })]);
    const json = JSON.parse(line!) as { outcome: string; content: string };
    assert.deepEqual([json.outcome, json.content], ['ok', 'the input file\n']);
  });

  it('lets a tenant call, see and remove only its own functions, unless the policy grants others', async () => {
    const bobCalls = await fnjailAs(server, BOB, ['call', 'basic']);
    assert.equal(bobCalls.status, 17);
    assert.match(bobCalls.stderr, /denied by policy '[^']+', rule defaults\.callFunctionsOf: function 'basic' belongs to tenant 'alice'; tenant 'bob' may call its own functions only \[denied\]/);
    const overHttp = await httpRequest(server.apiSocket, { method: 'POST', path: '/run/basic', as: BOB });
    assert.equal(overHttp.status, 403);
    assert.equal(overHttp.json().outcome, 'denied');
    const bobShows = await fnjailAs(server, BOB, ['functions', 'show', 'basic']);
    assert.equal(bobShows.status, 1);
    assert.match(bobShows.stderr, /tenant 'bob' may see its own functions only \[FNJ_DENIED\]/);
    assert.equal((await fnjailAs(server, BOB, ['functions'])).stdout, 'no functions (fnjail deploy PATH deploys one)\n');
    const bobRemoves = await fnjailAs(server, BOB, ['functions', 'rm', 'basic']);
    assert.match(bobRemoves.stderr, /\[FNJ_DENIED\]/);
    const bobTakesName = await fnjailAs(server, BOB, ['deploy', libraryBundle(area, 'basic', 'libbasic.so', ['run'])]);
    assert.equal(bobTakesName.status, 1);
    assert.match(bobTakesName.stderr, /function 'basic' belongs to another tenant \[FNJ_FUNCTION_CONFLICT\]/);

    // carol: callFunctionsOf alice.
    assert.deepEqual(await fnjailAs(server, CAROL, ['call', 'basic']), { status: 0, stdout: 'run\n', stderr: '' });
    assert.equal((await fnjailAs(server, CAROL, ['functions', 'show', 'basic'])).status, 0);
    const carolRemoves = await fnjailAs(server, CAROL, ['functions', 'rm', 'basic']);
    assert.match(carolRemoves.stderr, /rule defaults\.manageFunctionsOf: function 'basic' belongs to tenant 'alice'; tenant 'carol' may redeploy or remove its own functions only \[FNJ_DENIED\]/);
    assert.equal((await fnjailAs(server, ALICE, ['call', 'basic'])).status, 0, 'still there');
  });

  it('lets only tenants with deploy deploy, within their quota; root deploys for its tenant, without one', async () => {
    const carolDeploys = await fnjailAs(server, CAROL, ['deploy', libraryBundle(area, 'carols', 'libbasic.so', ['run'])]);
    assert.equal(carolDeploys.status, 1);
    assert.match(carolDeploys.stderr, /rule defaults\.deploy: tenant 'carol' may not deploy functions \(no "deploy" in its policy\) \[FNJ_DENIED\]/);
    assert.equal((await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'third', 'libbasic.so', ['run'])])).status, 0);
    assert.equal((await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'fourth', 'libbasic.so', ['run'])])).status, 0);
    const fifth = await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'fifth', 'libbasic.so', ['run'])]);
    assert.equal(fifth.status, 1);
    assert.match(fifth.stderr, /tenant 'alice' has 4 functions already, its quota is 4 \[FNJ_QUOTA_EXCEEDED\]/);
    assert.equal((await fnjailAs(server, ALICE, ['functions', 'rm', 'fourth'])).status, 0);
    assert.equal((await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'fifth', 'libbasic.so', ['run'])])).status, 0, 'room again');

    // Root is an admin whatever the policy says: it deploys (for the tenant it
    // matches, here the default one), sees and removes anyone's functions.
    const rootDeploys = await fnjailAs(server, undefined, ['deploy', libraryBundle(area, 'shared', 'libbasic.so', ['run'])]);
    assert.match(rootDeploys.stdout, /^shared: deployed, .*owner default\n$/);
    assert.deepEqual(await fnjailAs(server, DAVE, ['call', 'shared']), { status: 0, stdout: 'run\n', stderr: '' }, 'a user of the same (default) tenant calls it');
    assert.equal((await fnjailAs(server, undefined, ['functions', 'rm', 'fifth'])).status, 0, "root removes alice's function");
  });

  it('runs program functions per request, the input on stdin, and builds a bundle in the build sandbox once (TP7 toupper)', async () => {
    const script = path.join(area.root, 'program.tar.gz');
    fs.writeFileSync(script, tarGz(validEntries()), { mode: 0o644 });
    const deployed = await fnjailAs(server, BOB, ['deploy', script]);
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.deepEqual(await fnjailAs(server, BOB, ['call', 'hello', '--input', '-'], 'a shell script, run by /bin/sh\n'), { status: 0, stdout: 'a shell script, run by /bin/sh\n', stderr: '' });
    const named = await fnjailAs(server, BOB, ['call', 'hello', '--function', 'run']);
    assert.equal(named.status, 18);
    assert.match(named.stderr, /'hello' is a program: it has no functions to name \('run'\) \[bad-request\]/);

    // TP7: the sources and their Makefile, built by fnjail deploy in the build sandbox.
    const toupper = toupperBundle(area);
    const built = await fnjailAs(server, BOB, ['deploy', toupper, '--json']);
    assert.equal(built.status, 0, built.stderr);
    const record = (JSON.parse(built.stdout) as { function: { version: string; versions: Array<{ version: string; builtFrom?: string }> } }).function;
    assert.match(record.versions[0]!.builtFrom ?? '', /^[0-9a-f]{64}$/, 'the built version records its sources');
    assert.notEqual(record.versions[0]!.builtFrom, record.version);
    const again = await fnjailAs(server, BOB, ['deploy', toupper]);
    assert.match(again.stdout, /^toupper: unchanged /, 'the same sources are not built again');

    const upper = await fnjailAs(server, BOB, ['call', 'toupper', '--input', '-'], 'hello\nbonjour\n');
    assert.equal(upper.status, 0, upper.stderr);
    assert.match(upper.stdout, /^test-node (\d+) HELLO\ntest-node \1 BONJOUR\n$/, "the node's name as the sandbox's host name, one process per request");
    assert.ok(fs.statSync(path.join(server.stateDir, 'functions', record.version, 'toupper')).mode & 0o111, 'what the build made is what runs');
    const file = writeData(area, 'lines.txt', 'from a file\n');
    fs.chmodSync(path.join(area.dataDir), 0o755);
    const [line] = await callSession(server.socket, [JSON.stringify({ name: 'toupper', input: file, return: 'content' })]);
    const json = JSON.parse(line!) as { outcome: string; content: string };
    assert.equal(json.outcome, 'ok');
    assert.match(json.content, /^test-node \d+ FROM A FILE\n$/);
    const [classic] = await callSession(server.socket, [`@toupper ${file}`]);
    assert.match(fs.readFileSync(classic!, 'utf8'), /^test-node \d+ FROM A FILE\n$/, 'a classic command names the input file after the name');

    const failing = path.join(area.root, 'failing.tar.gz');
    fs.writeFileSync(
      failing,
      tarGz([
        { name: 'fnjail.json', data: JSON.stringify({ name: 'reach', kind: 'program', mode: 'per-request', entry: 'reach', build: true }) },
        { name: 'Makefile', data: fs.readFileSync(path.join(packageRoot, 'fixtures', 'builds', 'network', 'Makefile')) },
        { name: 'reach.c', data: fs.readFileSync(path.join(packageRoot, 'fixtures', 'builds', 'network', 'reach.c')) },
      ]),
      { mode: 0o644 },
    );
    const refused = await fnjailAs(server, BOB, ['deploy', failing]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^fnjail: the build of 'reach' \(make\) failed: blocked system call socket \(41\) by seccomp profile 'program' \[FNJ_BUILD_FAILED\]\n  the end of its log:\n  cc -o reach reach.c\n  \.\/reach 10\.255\.255\.1 80\n/);
    assert.match(refused.stderr, /hint: fix the build; its whole log is kept in \S+\/builds\/[0-9a-f]{16}-[0-9a-f]{12}\.log on the server/);
    const overHttp = await httpRequest(server.apiSocket, { method: 'PUT', path: '/registry/reach', body: fs.readFileSync(failing), as: BOB });
    assert.equal(overHttp.status, 422);
    assert.equal(overHttp.json().code, 'FNJ_BUILD_FAILED');
  });

  it('refuses hostile bundles over the API and writes nothing outside the registry', async () => {
    const outside = path.join(area.root, 'escaped');
    const before = fs.readdirSync(path.join(server.stateDir, 'functions')).sort();
    const hostile: Array<[string, Parameters<typeof tarGz>[0], number, string]> = [
      ['parent', [...validEntries(), { name: '../escaped', data: 'x' }], 422, 'FNJ_BUNDLE_UNSAFE'],
      ['absolute', [...validEntries(), { name: outside, data: 'x' }], 422, 'FNJ_BUNDLE_UNSAFE'],
      ['symlink', [...validEntries(), { name: 'out', type: '2', linkName: outside }], 422, 'FNJ_BUNDLE_UNSAFE'],
      ['through-link', [...validEntries(), { name: 'dir', type: '2', linkName: area.root }, { name: 'dir/escaped', data: 'x' }], 422, 'FNJ_BUNDLE_UNSAFE'],
      ['device', [...validEntries(), { name: 'null', type: '3' }], 422, 'FNJ_BUNDLE_UNSAFE'],
      ['bomb', [...validEntries(), { name: 'zeros', data: Buffer.alloc(257 * 1024 * 1024) }], 413, 'FNJ_BUNDLE_TOO_LARGE'],
    ];
    for (const [what, entries, status, code] of hostile) {
      const reply = await httpRequest(server.apiSocket, { method: 'PUT', path: `/registry/hostile-${what}`, body: tarGz(entries), as: BOB });
      assert.equal(reply.status, status, `${what}: ${reply.body.toString()}`);
      assert.equal(reply.json().code, code, what);
    }
    const notGzip = await httpRequest(server.apiSocket, { method: 'PUT', path: '/registry/plain', body: 'not a bundle', as: BOB });
    assert.deepEqual([notGzip.status, notGzip.json().code], [400, 'FNJ_BUNDLE_INVALID']);
    assert.equal(fs.existsSync(outside), false, 'nothing written outside');
    assert.deepEqual(fs.readdirSync(path.join(server.stateDir, 'functions')).sort(), before, 'nothing unpacked');
    const names = (await httpRequest(server.apiSocket, { method: 'GET', path: '/registry' })).json<{ functions: Array<{ name: string }> }>().functions.map((f) => f.name);
    assert.ok(!names.some((n) => n.startsWith('hostile') || n === 'plain'), names.join(', '));
  });

  it('does not disturb a running call when its function is redeployed', async () => {
    const call = httpRequest(server.apiSocket, { method: 'POST', path: '/run/lifecycle?function=sleep_long', as: ALICE });
    await waitForOutputs(server, (content) => content === 'going to sleep for a minute\n');
    const running = (await httpRequest(server.apiSocket, { method: 'GET', path: '/registry/lifecycle' })).json<{ version: string }>().version;
    const redeployed = await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'lifecycle', 'liblifecycle.so', ['run', 'crash', 'sleep_long'], { limits: { timeoutMs: 3000 } }, 'version 2'), '--json']);
    const now = (JSON.parse(redeployed.stdout) as { function: { version: string } }).function.version;
    assert.notEqual(now, running);
    assert.ok(fs.existsSync(path.join(server.stateDir, 'functions', running, 'lib', 'liblifecycle.so')), 'the running version stays unpacked');
    const reply = await call;
    assert.equal(reply.status, 504, reply.body.toString());
    const problem = reply.json<{ outcome: string; reasons: string[]; output: string }>();
    assert.equal(problem.outcome, 'timeout');
    assert.match(problem.reasons[0]!, /^timed out after 3000 ms \(wall clock limit\)/, "the manifest's limit, tighter than the tenant's 10 s");
    assert.equal(problem.output, 'going to sleep for a minute\n');
    const after = await httpRequest(server.apiSocket, { method: 'POST', path: '/run/lifecycle', as: ALICE });
    assert.deepEqual([after.status, after.body.toString()], [200, 'run\n']);
    const record = server.logs.find((l) => l.event === 'execution' && l.request === after.headers['x-fnjail-request']) as { registered: { version: string } };
    assert.equal(record.registered.version, now, 'the next call runs the new version');
  });

  it('writes an audit record for every deploy, removal and call, valid against the schema', async () => {
    const validate = schemaValidator('audit-event');
    const records = server.logs.filter((l) => typeof l.event === 'string');
    for (const record of records) assert.ok(validate(record), `${JSON.stringify(record)}: ${JSON.stringify(validate.errors)}`);
    const deploys = records.filter((l) => l.event === 'function-deploy');
    const byOutcome = (list: typeof records, outcome: string) => list.filter((l) => l.outcome === outcome).map((l) => l.function);
    assert.deepEqual(byOutcome(deploys, 'ok'), ['basic', 'lifecycle', 'third', 'fourth', 'fifth', 'shared', 'hello', 'toupper', 'toupper', 'lifecycle']);
    assert.deepEqual(byOutcome(deploys, 'denied'), ['carols']);
    assert.ok(['basic', 'reach', 'hostile-parent'].every((name) => byOutcome(deploys, 'error').includes(name)), 'refusals and failed builds too');
    const removals = records.filter((l) => l.event === 'function-remove');
    assert.deepEqual(byOutcome(removals, 'ok'), ['fourth', 'fifth']);
    assert.deepEqual(byOutcome(removals, 'denied'), ['basic', 'basic']);
    const calls = records.filter((l) => l.event === 'execution' && l.registered !== null);
    const names = new Set(calls.map((l) => (l.registered as { name: string }).name));
    assert.deepEqual([...names].sort(), ['basic', 'hello', 'lifecycle', 'shared', 'toupper']);
    const denied = calls.find((l) => l.outcome === 'denied' && (l.peer as { uid: number }).uid === BOB.uid);
    assert.ok(denied, "bob's refused call is a record");
  });
});

describe('function bundles in a sandbox that serves every call', () => {
  let server: TestServer;
  before(async () => {
    // One sandbox, serving the calls in turn: it has the previous call's bundle mounted when the next comes.
    server = await startServer({
      policy: () => ({ tenants: [{ name: 'alice', match: { uids: [ALICE.uid] }, deploy: true }, { name: 'bob', match: { uids: [BOB.uid] }, deploy: true }] }),
      registry: true,
      args: ['--max-concurrent', '1', '--prepared', '0'],
    });
  });
  after(async () => {
    await server?.stop();
  });

  /** A program function that prints the VERSION file of its bundle, then what it sees of the functions directory. */
  const deployPeek = async (user: User, name: string, version: string): Promise<string> => {
    const file = path.join(server.area.root, `${name}-${version}.tar.gz`);
    const script = '#!/bin/sh\ncat "$(dirname "$0")/VERSION"\nls "$(dirname "$0")/.."\n';
    fs.writeFileSync(
      file,
      tarGz([
        { name: 'fnjail.json', data: JSON.stringify({ name, kind: 'program', mode: 'per-request', entry: 'run.sh' }) },
        { name: 'run.sh', mode: 0o755, data: script },
        { name: 'VERSION', data: `${version}\n` },
      ]),
      { mode: 0o644 },
    );
    const deployed = await fnjailAs(server, user, ['deploy', file, '--json']);
    assert.equal(deployed.status, 0, deployed.stderr);
    return (JSON.parse(deployed.stdout) as { function: { version: string } }).function.version;
  };
  const call = async (user: User, name: string) => {
    const reply = await fnjailAs(server, user, ['call', name]);
    assert.equal(reply.status, 0, reply.stderr);
    return reply.stdout;
  };

  it("a redeployed function is what the next call runs, even where the old version was mounted, and two tenants never see each other's bundle", async () => {
    const one = await deployPeek(ALICE, 'peek', 'one');
    assert.equal(await call(ALICE, 'peek'), `one\n${one}\n`);
    assert.equal(await call(ALICE, 'peek'), `one\n${one}\n`, 'the same again, from the bundle kept mounted');
    const two = await deployPeek(ALICE, 'peek', 'two');
    assert.notEqual(two, one);
    assert.equal(await call(ALICE, 'peek'), `two\n${two}\n`, 'the new version, and it alone');
    const bobs = await deployPeek(BOB, 'bob-peek', 'bob');
    assert.equal(await call(BOB, 'bob-peek'), `bob\n${bobs}\n`, "bob's call sees his bundle, not alice's");
    assert.equal(await call(ALICE, 'peek'), `two\n${two}\n`, "alice's next call sees hers, not bob's");
  });
});

describe('the registry across restarts', () => {
  let server: TestServer | undefined;
  let area: TestArea;

  before(() => {
    area = createTestArea();
  });
  after(async () => {
    await server?.stop({ keepArea: true });
    area.cleanup();
  });

  const status = async (s: TestServer) => (await httpRequest(s.apiSocket, { method: 'GET', path: '/status' })).json<{ status: string; registry: { state: string; privateServerPid?: number; privateServerRestarts?: number; reason?: string } }>();

  it('notices its nats-server killed mid-run, restarts it, and calls go on; everything survives a restart of the server', async () => {
    server = await startServer({ area, policy, registry: true });
    assert.equal((await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'lifecycle', 'liblifecycle.so', ['run', 'sleep_half'])])).status, 0);
    const first = await status(server);
    assert.equal(first.status, 'ready');
    const pid = first.registry.privateServerPid!;
    assert.ok(pid > 0);

    const running = httpRequest(server.apiSocket, { method: 'POST', path: '/run/lifecycle?function=sleep_half', as: ALICE });
    await waitForOutputs(server, (content) => content === 'before sleep\n');
    process.kill(pid, 'SIGKILL');
    const reply = await running;
    assert.deepEqual([reply.status, reply.body.toString()], [200, 'before sleep\nafter sleep\n'], 'the running call is not disturbed');
    const died = server.logs.find((l) => typeof l.msg === 'string' && /^private nats-server .*: restarting it$/.test(l.msg));
    assert.ok(died, 'its death is logged');

    // The next call waits for the registry to come back, then runs.
    const next = await fnjailAs(server, ALICE, ['call', 'lifecycle']);
    assert.deepEqual(next, { status: 0, stdout: 'run\n', stderr: '' });
    const after = await status(server);
    assert.equal(after.status, 'ready');
    assert.ok(after.registry.privateServerRestarts! >= 1);
    assert.notEqual(after.registry.privateServerPid, pid);

    await server.stop({ keepArea: true });
    server = await startServer({ area, policy, registry: true });
    const listed = await fnjailAs(server, ALICE, ['functions', '--json']);
    assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string }>).map((f) => f.name), ['lifecycle']);
    assert.deepEqual(await fnjailAs(server, ALICE, ['call', 'lifecycle']), { status: 0, stdout: 'run\n', stderr: '' });
  });

  it('answers calls by name with a clear reason while it has no registry', async () => {
    await server?.stop({ keepArea: true });
    server = await startServer({ area, policy });
    const called = await fnjailAs(server, ALICE, ['call', 'lifecycle']);
    assert.equal(called.status, 20);
    assert.match(called.stderr, /this server has no function registry \(--nats off\): 'lifecycle' cannot be called by name \[server-error\]/);
    const listed = await fnjailAs(server, ALICE, ['functions']);
    assert.equal(listed.status, 1);
    assert.match(listed.stderr, /the function registry is not available: the function registry is off on this server \(--nats off\) \[FNJ_REGISTRY_UNAVAILABLE\]/);
    assert.equal((await status(server)).registry.state, 'off');
  });
});


describe('a NATS system given with --nats', () => {
  let area: TestArea;
  let nats: TestNatsServer;

  before(async () => {
    area = createTestArea();
    nats = await startTestNatsServer(area.root);
  });
  after(async () => {
    await nats.stop();
    area.cleanup();
  });

  it('keeps the registry there (plain NATS to loopback only with --insecure)', async () => {
    await assert.rejects(startServer({ area, policy, args: ['--nats', nats.url] }), /plain NATS \(no TLS\) is refused unless asked for, even on loopback \[FNJ_NATS_INSECURE\]/);
    const server = await startServer({ area, policy, args: ['--nats', nats.url, '--insecure'] });
    try {
      assert.equal((await fnjailAs(server, ALICE, ['deploy', libraryBundle(area, 'basic', 'libbasic.so', ['run'])])).status, 0);
      assert.deepEqual(await fnjailAs(server, ALICE, ['call', 'basic']), { status: 0, stdout: 'run\n', stderr: '' });
      assert.ok(!fs.existsSync(path.join(server.stateDir, 'nats')), 'no private nats-server');
    } finally {
      await server.stop({ keepArea: true });
    }
  });
});
