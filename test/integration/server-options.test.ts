// The server's options against a real server: the config file and flags over
// it, sessions, JSON requests, backpressure (clients, queue), idle connections,
// output retention and the shutdown on SIGTERM.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic, callSession } from '../helpers/client.js';
import { cliMain, createTestArea, writeData } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, waitForLogs, waitForStats, type TestServer } from '../helpers/server.js';

function fnjail(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliMain, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }));
  });
}

/** A connection kept open, with what it has received so far. */
function openConnection(socket: string): Promise<{ conn: net.Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let data = '';
    conn.on('data', (chunk) => (data += chunk.toString()));
    const closed = new Promise<void>((done) => conn.on('close', () => done()));
    conn.on('error', () => undefined);
    conn.once('connect', () => resolve({ conn, received: () => data, closed }));
    conn.once('error', reject);
  });
}


describe('config file', () => {
  it('sets what it says, flags win over it, and it is listed in server-start', async () => {
    const area = createTestArea();
    const config = path.join(area.root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ outputTemplate: 'res-XXXXXXXX', socketMode: '0660', socketGroup: 'staff', maxConcurrent: 3, outputDir: '/nonexistent/overridden' }, null, 2));
    const server = await startServer({ area, args: ['--config', config] }); // startServer passes --output-dir: the flag wins
    try {
      const reply = await callClassic(server.socket, path.join(area.libDir, 'libbasic.so'));
      assert.match(reply, new RegExp(`^${area.outputDir}/res-[A-Za-z0-9]{8}$`));
      const socket = fs.statSync(server.socket);
      assert.equal(socket.mode & 0o777, 0o660);
      assert.equal(socket.gid, 50);
      const start = await waitForLog(server, (l) => l.event === 'server-start');
      assert.equal(start.config, config);
      assert.equal(start.maxConcurrent, 3);
    } finally {
      await server.stop();
    }
  });

  it('refuses a bad config file, naming file, line, column and key', async () => {
    const area = createTestArea();
    try {
      const config = path.join(area.root, 'config.json');
      fs.writeFileSync(config, '{\n  "maxConcurent": 3,\n  "uidRange": "9-5",\n  "queueWait": "soon"\n}\n');
      const result = await fnjail(['serve', '--config', config]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`${config}:2:3: /maxConcurent: unknown property 'maxConcurent'`));
      assert.match(result.stderr, new RegExp(`${config}:3:3: /uidRange: must be FIRST-LAST`), 'every problem at once, of every kind');
      assert.match(result.stderr, new RegExp(`${config}:4:3: /queueWait: 'soon' is not a duration`));
      assert.match(result.stderr, /\[FNJ_CONFIG_INVALID\]/);
      fs.writeFileSync(config, '{ "uidRange": "9-5" }');
      const semantic = await fnjail(['serve', '--config', config]);
      assert.match(semantic.stderr, new RegExp(`${config}:1:3: /uidRange: must be FIRST-LAST with 0 < FIRST <= LAST, not '9-5'`));
      const conflict = await fnjail(['serve', '--no-config', '--audit-fsync']);
      assert.equal(conflict.code, 2);
      assert.match(conflict.stderr, /--audit-fsync \(auditFsync\) needs --audit-log \(auditLog\)/);
    } finally {
      area.cleanup();
    }
  });

  it('hides the fields it marks secret from the audit and the log', async () => {
    const area = createTestArea();
    const config = path.join(area.root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ redact: ['peer.user', 'command'] }));
    const server = await startServer({ area, args: ['--config', config] });
    try {
      const reply = await callClassic(server.socket, path.join(area.libDir, 'libbasic.so'));
      const [record] = await waitForLogs(server, (l) => l.event === 'execution' && l.output === reply);
      assert.equal(record!.command, '[redacted]');
      assert.equal((record!.peer as Record<string, unknown>).user, '[redacted]');
      assert.equal((record!.peer as Record<string, unknown>).uid, 0, 'the rest is there');
    } finally {
      await server.stop();
    }
  });

  it('lists every option in --help, and the schema knows each', async () => {
    const { stdout } = await fnjail(['serve', '--help']);
    const schema = JSON.parse(fs.readFileSync(path.join(path.dirname(cliMain), '../../../policies/config.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
    const { SERVE_OPTIONS, flagOf } = await import('../../src/config/serve-options.js');
    for (const [name, option] of Object.entries(SERVE_OPTIONS)) {
      assert.ok(stdout.includes(flagOf(name as keyof typeof SERVE_OPTIONS)), `--help lists ${flagOf(name as keyof typeof SERVE_OPTIONS)}`);
      if (name !== 'config') assert.ok(option.key in schema.properties, `config.schema.json has ${option.key}`);
    }
    for (const key of Object.keys(schema.properties)) {
      if (key === '$schema' || key === 'description') continue;
      assert.ok(Object.values(SERVE_OPTIONS).some((o) => o.key === key), `the schema's ${key} is an option`);
    }
  });
});

describe('sessions and JSON requests', () => {
  let server: TestServer;
  before(async () => (server = await startServer()));
  after(() => server.stop());
  const lib = (name: string) => path.join(server.area.libDir, name);

  it('answers a session of 50 commands, each in its turn', async () => {
    const commands = Array.from({ length: 50 }, (_, i) => (i % 2 ? `${lib('libcounter.so')}` : `${lib('libbasic.so')} run`));
    const replies = await callSession(server.socket, [...commands, 'quit', lib('libbasic.so')]);
    assert.equal(replies.length, 50, 'one reply per command, none after quit');
    assert.equal(new Set(replies).size, 50, 'each its own output file');
    replies.forEach((reply, i) => assert.equal(readOutput(reply), i % 2 ? 'Got called 1 times\n' : 'run\n'));
  });

  it('takes a JSON request with a path holding spaces, and replies with the outcome', async () => {
    const input = writeData(server.area, 'name with spaces.txt', 'spaced out\n');
    const [ok, crash, bad] = await callSession(server.socket, [
      JSON.stringify({ library: lib('libbasic.so'), function: 'cat', input, id: 7 }),
      JSON.stringify({ library: lib('liblifecycle.so'), function: 'crash' }),
      '{"library": 3, "extra": true}',
    ]);
    const okReply = JSON.parse(ok!) as Record<string, unknown>;
    assert.equal(okReply.id, 7);
    assert.equal(okReply.outcome, 'ok');
    assert.equal(okReply.exitCode, 0);
    assert.deepEqual(okReply.reasons, []);
    assert.equal(readOutput(String(okReply.output)), 'spaced out\n');
    for (const field of ['queueMs', 'runMs', 'totalMs']) assert.equal(typeof okReply[field], 'number', field);
    const crashReply = JSON.parse(crash!) as Record<string, unknown>;
    assert.equal(crashReply.outcome, 'signal');
    assert.equal(crashReply.signal, 'SIGSEGV');
    assert.match(String((crashReply.reasons as string[])[0]), /^killed by signal 11/);
    const badReply = JSON.parse(bad!) as Record<string, unknown>;
    assert.equal(badReply.outcome, 'bad-request');
    assert.match(String((badReply.reasons as string[])[0]), /^invalid JSON request: \/extra: unknown property 'extra'; \/library: must be string \(policies\/request\.schema\.json\)$/);
  });

  it('fnjail run --json prints the reply and exits with the outcome', async () => {
    const ok = await fnjail(['run', '--json', '--socket', server.socket, lib('libbasic.so')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { outcome: string }).outcome, 'ok');
    const failed = await fnjail(['run', '--json', '--socket', server.socket, lib('liblifecycle.so'), 'exit_one']);
    assert.equal(failed.code, 10, 'the exit status of outcome exit');
    assert.equal((JSON.parse(failed.stdout) as { outcome: string; exitCode: number }).exitCode, 1);
  });
});

describe('backpressure', () => {
  // The first call holds the one sandbox until its timeout (sleep_long, 5 s), long
  // enough for the stats to see the next one waiting even on a loaded machine
  // (half a second was not: the second call could start before it was seen waiting).
  const holdingPolicy = (area: { libDir: string; dataDir: string }) => ({
    defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 5000 } },
  });

  it('refuses a call when the line of waiting calls is full, and says so in the audit log', async () => {
    const server = await startServer({ policy: holdingPolicy, args: ['--max-concurrent', '1', '--queue-length', '1'] });
    try {
      const lib = path.join(server.area.libDir, 'liblifecycle.so');
      const first = callClassic(server.socket, `${lib} sleep_long`);
      await waitForStats(server, (s) => s.executions.running === 1);
      const second = callClassic(server.socket, `${lib} sleep_half`);
      await waitForStats(server, (s) => s.executions.queued === 1);
      const third = await callClassic(server.socket, `${lib} sleep_half`);
      assert.equal(readOutput(third), `Error: ${lib} sleep_half could not be executed.\nReason: the server is busy: 1 call already waits for a sandbox; try again later\n`);
      assert.match(readOutput(await first), /^going to sleep for a minute\n/);
      assert.equal(readOutput(await second), 'before sleep\nafter sleep\n');
      const [busy] = await waitForLogs(server, (l) => l.event === 'execution' && l.outcome === 'busy');
      assert.equal(busy!.output, third);
    } finally {
      await server.stop();
    }
  });

  it('with --queue-full wait, a call waits for room instead', async () => {
    const server = await startServer({ policy: holdingPolicy, args: ['--max-concurrent', '1', '--queue-length', '1', '--queue-full', 'wait', '--queue-wait', '30s'] });
    try {
      const lib = path.join(server.area.libDir, 'liblifecycle.so');
      const first = callClassic(server.socket, `${lib} sleep_long`);
      await waitForStats(server, (s) => s.executions.running === 1);
      const calls = [callClassic(server.socket, `${lib} sleep_half`)];
      await waitForStats(server, (s) => s.executions.queued === 1);
      calls.push(callClassic(server.socket, `${lib} sleep_half`), callClassic(server.socket, `${lib} sleep_half`));
      assert.match(readOutput(await first), /^going to sleep for a minute\n/);
      for (const reply of await Promise.all(calls)) assert.equal(readOutput(reply), 'before sleep\nafter sleep\n');
    } finally {
      await server.stop();
    }
  });

  it('answers a connection beyond --max-clients with a busy line, and audits it', async () => {
    const server = await startServer({ args: ['--max-clients', '2'] });
    try {
      const held = [await openConnection(server.socket), await openConnection(server.socket)];
      const reply = await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'));
      assert.equal(reply, 'Error: the server is busy: 2 clients are connected (its limit); try again later\n');
      const [refused] = await waitForLogs(server, (l) => l.event === 'connection-refused');
      assert.match(String(refused!.reason), /^2 clients connected/);
      for (const { conn } of held) conn.destroy();
      await waitForStats(server, (s) => s.clients.connected === 1); // the stats connection itself
      assert.equal(readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'))), 'run\n', 'served again once clients left');
    } finally {
      await server.stop();
    }
  });
});

describe('idle connections', () => {
  it('are closed after --idle-timeout, but not while their call runs', async () => {
    const server = await startServer({ args: ['--idle-timeout', '300ms'] });
    try {
      const idle = await openConnection(server.socket);
      await idle.closed; // by the server, after its idle timeout
      // A call longer than the idle timeout still gets its reply.
      const reply = await callClassic(server.socket, `${path.join(server.area.libDir, 'liblifecycle.so')} sleep_half`);
      assert.equal(readOutput(reply), 'before sleep\nafter sleep\n');
    } finally {
      await server.stop();
    }
  });
});

describe('output retention', () => {
  it('removes old output files, never one being written, never another file', async () => {
    const server = await startServer({ args: ['--retention-max-age', '2s', '--retention-min-age', '1s', '--retention-interval', '200ms'] });
    try {
      const lib = path.join(server.area.libDir, 'liblifecycle.so');
      const old = await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'));
      const fresh = await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'));
      const kept = path.join(server.area.outputDir, 'README');
      fs.writeFileSync(kept, 'not an output file');
      const hourAgo = new Date(Date.now() - 3_600_000);
      // A call running now: its output file is made old too, and must survive.
      const running = callClassic(server.socket, `${lib} sleep_half`);
      await waitForStats(server, (s) => s.executions.running === 1);
      const runningFile = fs.readdirSync(server.area.outputDir).map((f) => path.join(server.area.outputDir, f)).find((f) => ![old, fresh, kept].includes(f));
      assert.ok(runningFile, 'the running call has an output file');
      for (const file of [old, kept, runningFile]) fs.utimesSync(file, hourAgo, hourAgo);
      await waitForLog(server, (l) => typeof l.msg === 'string' && /^removed 1 output file/.test(l.msg));
      assert.ok(!fs.existsSync(old), 'the old output file is gone');
      assert.ok(fs.existsSync(fresh) && fs.existsSync(kept) && fs.existsSync(runningFile), 'the others are kept');
      assert.equal(readOutput(await running), 'before sleep\nafter sleep\n');
    } finally {
      await server.stop();
    }
  });
});

describe('shutdown', () => {
  it('on SIGTERM, answers the call running, removes the socket and exits 0', async () => {
    const server = await startServer();
    const lib = path.join(server.area.libDir, 'liblifecycle.so');
    const running = callClassic(server.socket, `${lib} sleep_half`);
    await waitForStats(server, (s) => s.executions.running === 1);
    const stopped = server.stop({ keepArea: true });
    const reply = await running;
    assert.equal(readOutput(reply), 'before sleep\nafter sleep\n');
    const { code } = await stopped;
    assert.equal(code, 0);
    assert.ok(!fs.existsSync(server.socket), 'the socket file is removed');
    server.area.cleanup();
  });
});
