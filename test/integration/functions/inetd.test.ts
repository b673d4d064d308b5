// Per-connection services end to end (TP7): a real server with its private
// nats-server and the real launcher; TP7's toupper, its sources and Makefile in
// a .tar.gz, deployed with fnjail deploy (built in the build sandbox) and
// exposed with --expose; real TCP clients (Node sockets, and nc as README
// shows it). One sandboxed process per connection, through the executor:
// policy, limits per function and per client address, idle limit, audit
// records with the client's address, redeploys, shutdown.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { schemaValidator } from '../../../src/config/json-file.js';
import type { User } from '../../helpers/as-user.js';
import { callSession } from '../../helpers/client.js';
import { createTestArea, writeData, type TestArea } from '../../helpers/environment.js';
import { fnjailAs, scriptBundle, toupperBundle } from '../../helpers/fnjail-cli.js';
import { lineClient, type LineClient } from '../../helpers/line-client.js';
import { startServer, waitForLog, type TestServer } from '../../helpers/server.js';
import { tarGz, validEntries } from '../../helpers/tar-builder.js';

const BOB: User = { uid: 4521, gid: 4521 };
const CAROL: User = { uid: 4522, gid: 4522 };
const NODE = 'tp7-node';

const policy = (area: TestArea) => ({
  defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 60_000 } },
  tenants: [
    { name: 'bob', match: { uids: [BOB.uid] }, deploy: true },
    { name: 'carol', match: { uids: [CAROL.uid] }, callFunctionsOf: ['bob'] },
    { name: 'dave', match: { uids: [4523] } },
  ],
});

type Record = { [key: string]: unknown };
const remoteOf = (l: Record) => (l.peer as { remote?: { address: string; service?: { function: string; listen: string; tenant?: string } } }).remote;

/** The execution record of the connection from `address` (ADDRESS:PORT), once written. */
function executionOf(server: TestServer, address: string): Promise<Record> {
  return waitForLog(server, (l) => l.event === 'execution' && remoteOf(l)?.address === address);
}

/** The addresses the server bound for --expose (port 0: any), from its start record. */
function exposedPorts(server: TestServer): Array<{ function: string; port: number; tenant?: string }> {
  const start = server.logs.find((l) => l.event === 'server-start') as { expose: Array<{ function: string; listen: string; tenant?: string }> };
  return start.expose.map((e) => ({ function: e.function, port: Number(/:(\d+)$/.exec(e.listen)![1]), ...(e.tenant ? { tenant: e.tenant } : {}) }));
}

describe('per-connection services (--expose), TP7 end to end', () => {
  let server: TestServer;
  let area: TestArea;
  /** The ports: clients acting as the function's owner, as carol, as dave. */
  let owner: number;
  let asCarol: number;
  let asDave: number;

  before(async () => {
    server = await startServer({
      policy,
      registry: true,
      args: [
        '--node-name', NODE,
        '--expose', 'toupper=127.0.0.1:0',
        '--expose', 'toupper=127.0.0.1:0@carol',
        '--expose', 'toupper=127.0.0.1:0@dave',
        '--expose-max-per-client', '10',
        '--expose-max-connections', '12',
      ],
    });
    area = server.area;
    [owner, asCarol, asDave] = exposedPorts(server).map((e) => e.port) as [number, number, number];
  });
  after(async () => {
    await server?.stop();
  });

  it('closes connections while no such function is deployed, each recorded; then deploys TP7 toupper, built in the sandbox', async () => {
    assert.deepEqual(
      exposedPorts(server).map((e) => [e.function, e.tenant]),
      [['toupper', undefined], ['toupper', 'carol'], ['toupper', 'dave']],
    );
    assert.ok(server.logs.some((l) => typeof l.msg === 'string' && l.msg.includes("no function 'toupper' is deployed yet")), 'the start says so');
    const early = lineClient(owner);
    const address = await early.connected;
    await early.closed;
    assert.deepEqual(early.lines, []);
    const record = await executionOf(server, address);
    assert.equal(record.outcome, 'missing-function');
    assert.deepEqual(record.reasons, ["no function named 'toupper' is registered (fnjail functions lists them)"]);
    assert.deepEqual(remoteOf(record)!.service, { function: 'toupper', listen: `127.0.0.1:${owner}` });

    const deployed = await fnjailAs(server, BOB, ['deploy', toupperBundle(area)]);
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(deployed.stdout, /^toupper: deployed, version [0-9a-f]{12}, program, owner bob\n$/);
  });

  it('serves 10 clients at once, each by a sandboxed process of its own, acting as the owner; each record names its client', async () => {
    const clients = Array.from({ length: 10 }, () => lineClient(owner));
    clients.forEach((c, i) => c.socket.write(`hello ${i}\n`));
    await Promise.all(clients.map((c) => c.lineCount(1)));
    // Every client has the answer to its first line, and none has sent its
    // second: toupper ends only at the end of its input, so all 10 programs
    // are running at once.
    assert.ok(clients.every((c) => !c.socket.destroyed && c.lines.length === 1));
    clients.forEach((c, i) => c.socket.end(`bonjour ${i}\n`));
    await Promise.all(clients.map((c) => c.closed));
    const pids = clients.map((c, i) => {
      const [first, second] = c.lines;
      const match = new RegExp(`^${NODE} (\\d+) HELLO ${i}$`).exec(first ?? '');
      assert.ok(match, `client ${i}: ${c.lines.join(' | ')}`);
      assert.equal(second, `${NODE} ${match[1]} BONJOUR ${i}`, 'the same process answers both lines');
      assert.equal(c.lines.length, 2);
      return match[1];
    });
    assert.ok(pids.every((p) => Number(p) > 0));

    const records = await Promise.all(clients.map(async (c) => executionOf(server, await c.connected)));
    const validate = schemaValidator('audit-event');
    for (const record of records) {
      assert.ok(validate(record), JSON.stringify(validate.errors));
      assert.equal(record.outcome, 'ok');
      assert.equal(record.tenant, 'bob', "its clients act as the function's owner");
      assert.equal((record.registered as { name: string }).name, 'toupper');
      assert.deepEqual(remoteOf(record)!.service, { function: 'toupper', listen: `127.0.0.1:${owner}`, tenant: 'bob' });
      assert.equal(record.command, '@toupper (connection)');
    }
    assert.equal(new Set(records.map((r) => r.sandboxUid)).size, 10, 'ten sandboxes, each with its uid');
  });

  it("answers README's example: echo -e \"hello\\nbonjour\" | nc -N 127.0.0.1 PORT", async () => {
    const nc = spawn('bash', ['-c', `echo -e "hello\\nbonjour" | nc -N 127.0.0.1 ${owner}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    nc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    nc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const status = await new Promise((resolve) => nc.on('close', resolve));
    assert.equal(status, 0, stderr);
    assert.match(stdout, new RegExp(`^${NODE} (\\d+) HELLO\\n${NODE} \\1 BONJOUR\\n$`));
  });

  it('runs the same program per request, through fnjail call and a JSON request', async () => {
    const called = await fnjailAs(server, BOB, ['call', 'toupper', '--input', '-'], 'hello\nbonjour\n');
    assert.equal(called.status, 0, called.stderr);
    assert.match(called.stdout, new RegExp(`^${NODE} (\\d+) HELLO\\n${NODE} \\1 BONJOUR\\n$`));
    const file = writeData(area, 'tp7.txt', 'from a file\n');
    const [line] = await callSession(server.socket, [JSON.stringify({ name: 'toupper', input: file, return: 'content' })]);
    const json = JSON.parse(line!) as { outcome: string; content: string };
    assert.equal(json.outcome, 'ok', line);
    assert.match(json.content, new RegExp(`^${NODE} \\d+ FROM A FILE\\n$`));
  });

  it('refuses connections beyond the limit per client address and per function, each refusal recorded', async () => {
    const held: LineClient[] = [];
    const served = async (c: LineClient) => {
      held.push(c);
      c.socket.write('here\n');
      await c.lineCount(1);
      assert.match(c.lines[0]!, / HERE$/);
    };
    // 10 from 127.0.0.1: its limit.
    await Promise.all(Array.from({ length: 10 }, () => served(lineClient(owner))));
    const eleventh = lineClient(owner);
    const refusedAddress = await eleventh.connected;
    await eleventh.closed;
    assert.deepEqual(eleventh.lines, []);
    const perClient = await waitForLog(server, (l) => l.event === 'connection-refused' && remoteOf(l)?.address === refusedAddress);
    assert.equal(perClient.reason, '10 connections from 127.0.0.1 at once already (exposeMaxPerClient)');
    assert.equal(perClient.function, 'toupper');
    // Other addresses get in, up to the function's limit of 12 (over all its ports).
    await served(lineClient(owner, '127.0.0.1', '127.0.0.2'));
    await served(lineClient(asCarol, '127.0.0.1', '127.0.0.3'));
    const thirteenth = lineClient(owner, '127.0.0.1', '127.0.0.4');
    const overAddress = await thirteenth.connected;
    await thirteenth.closed;
    const perFunction = await waitForLog(server, (l) => l.event === 'connection-refused' && remoteOf(l)?.address === overAddress);
    assert.equal(perFunction.reason, "12 connections to function 'toupper' at once already (exposeMaxConnections)");
    for (const c of held) c.socket.end();
    await Promise.all(held.map((c) => c.closed));
    // Room again.
    const again = lineClient(owner, '127.0.0.1', '127.0.0.4');
    await served(again);
    again.socket.end();
    await again.closed;
  });

  it('lets the clients of an exposure @TENANT act as that tenant: allowed by its policy, refused otherwise', async () => {
    const carol = lineClient(asCarol);
    carol.socket.end('as carol\n');
    await carol.closed;
    assert.match(carol.lines.join('\n'), new RegExp(`^${NODE} \\d+ AS CAROL$`));
    const allowed = await executionOf(server, await carol.connected);
    assert.equal(allowed.tenant, 'carol');
    assert.match(allowed.rule as string, /callFunctionsOf/);

    const dave = lineClient(asDave);
    dave.socket.write('as dave\n');
    await dave.closed;
    assert.deepEqual(dave.lines, [], 'closed without a word');
    const denied = await executionOf(server, await dave.connected);
    assert.equal(denied.outcome, 'denied');
    assert.equal(denied.tenant, 'dave');
    assert.match((denied.reasons as string[])[0]!, /function 'toupper' belongs to tenant 'bob'; tenant 'dave' may call its own functions only$/);
    const log = fs.readFileSync(denied.output as string, 'utf8');
    assert.match(log, /^Error: @toupper \(connection\) could not be executed\.\nReason: denied by policy .* tenant 'dave' may call its own functions only\n$/, 'the connection\'s log keeps why');
    assert.equal(fs.statSync(denied.output as string).uid, 65534, "dave has no account: nobody's");
  });

  it('takes a redeploy on the next connection, while a running connection keeps its version; a per-request version is refused', async () => {
    const first = lineClient(owner);
    first.socket.write('one\n');
    await first.lineCount(1);
    const redeployed = await fnjailAs(server, BOB, ['deploy', scriptBundle(area, 'toupper', 'v2')]);
    assert.equal(redeployed.status, 0, redeployed.stderr);
    const second = lineClient(owner);
    second.socket.end('two\n');
    await second.closed;
    assert.deepEqual(second.lines, ['v2 two']);
    first.socket.end('three\n');
    await first.closed;
    assert.match(first.lines.join('\n'), new RegExp(`^${NODE} (\\d+) ONE\\n${NODE} \\1 THREE$`));

    assert.equal((await fnjailAs(server, BOB, ['deploy', scriptBundle(area, 'toupper', 'v3', 'per-request')])).status, 0);
    const third = lineClient(owner);
    third.socket.write('four\n');
    await third.closed;
    assert.deepEqual(third.lines, []);
    const refused = await executionOf(server, await third.connected);
    assert.equal(refused.outcome, 'bad-request');
    assert.match((refused.reasons as string[])[0]!, /^'toupper' is a per-request program \(version [0-9a-f]{12}\): only a per-connection program can serve a connection$/);
    assert.equal((await fnjailAs(server, BOB, ['deploy', toupperBundle(area, {}, 'toupper-again.tar.gz')])).status, 0);
  });

  it('stops accepting at shutdown, and lets a running connection finish', async () => {
    const running = lineClient(owner);
    running.socket.write('before\n');
    await running.lineCount(1);
    const exited = new Promise<number | null>((resolve) => server.process.once('exit', resolve));
    server.process.kill('SIGTERM');
    await waitForLog(server, (l) => l.msg === 'stopping: finishing running calls');
    const late = lineClient(owner);
    await late.closed;
    assert.equal((late.errors[0] as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
    running.socket.end('after\n');
    await running.closed;
    assert.match(running.lines.join('\n'), new RegExp(`^${NODE} (\\d+) BEFORE\\n${NODE} \\1 AFTER$`));
    assert.equal(await exited, 0);
  });
});

describe('exposing functions: what is refused at start, the idle limit', () => {
  let area: TestArea;
  let server: TestServer | undefined;

  before(async () => {
    area = createTestArea();
    // Deployed once, kept in the area's state directory for the servers below.
    const setup = await startServer({ area, policy, registry: true });
    try {
      fs.writeFileSync(path.join(area.root, 'hello.tar.gz'), tarGz(validEntries()), { mode: 0o644 });
      assert.equal((await fnjailAs(setup, BOB, ['deploy', path.join(area.root, 'hello.tar.gz')])).status, 0);
      assert.equal((await fnjailAs(setup, BOB, ['deploy', scriptBundle(area, 'echo', 'echo')])).status, 0);
    } finally {
      await setup.stop({ keepArea: true });
    }
  });
  after(async () => {
    await server?.stop({ keepArea: true });
    area.cleanup();
  });

  it('refuses to start exposing a function that is not a per-connection program, or for a tenant the policy lacks', async () => {
    await assert.rejects(
      startServer({ area, policy, registry: true, args: ['--expose', 'hello=127.0.0.1:0'] }),
      /fnjail: --expose hello=127\.0\.0\.1:0: function 'hello' is a per-request program: only a per-connection program can serve connections \[FNJ_EXPOSE_FAILED\]/,
    );
    await assert.rejects(
      startServer({ area, policy, registry: true, args: ['--expose', 'echo=127.0.0.1:0@nobody-here'] }),
      /--expose echo=127\.0\.0\.1:0@nobody-here: its clients would act as tenant 'nobody-here', which is not in the policy .* \[FNJ_EXPOSE_FAILED\]/,
    );
    await assert.rejects(startServer({ area, policy, args: ['--expose', 'echo=127.0.0.1:0'] }), /--expose \(expose\) serves functions of the registry: it needs one \(not --nats \(nats\) off\)/);
    await assert.rejects(startServer({ area, policy, registry: true, args: ['--expose', 'echo=8888'] }), /--expose 'echo=8888': the address needs a host and a port/);
  });

  it('ends a connection that carries no data for the idle limit, and names it', async () => {
    server = await startServer({ area, policy, registry: true, args: ['--expose', 'echo=127.0.0.1:0', '--expose-idle-timeout', '1s'] });
    const [echo] = exposedPorts(server);
    const quiet = lineClient(echo!.port);
    await quiet.closed; // the client never sends anything: the idle limit ends it
    const record = await executionOf(server, await quiet.connected);
    assert.equal(record.outcome, 'timeout');
    assert.deepEqual(record.reasons, ['the connection was idle for 1000 ms (no data either way: idle limit); 1 process in the sandbox was killed']);
    assert.deepEqual(record.limitsHit, ['time']);
  });
});
