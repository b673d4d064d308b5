// The audit log of a real server run: one record per request, in the file
// before the reply arrives, every record valid against
// policies/audit-event.schema.json; the server's life events around them;
// reopened on SIGHUP after logrotate moved the file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { schemaValidator } from '../../src/config/json-file.js';
import { callAs, installClient } from '../helpers/as-user.js';
import { callClassic, callSession } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';
import { expectedEnforcement } from '../helpers/cgroups.js';

type AuditRecord = Record<string, unknown> & { peer: Record<string, unknown> };

describe('audit log', () => {
  let server: TestServer;
  let auditFile: string;
  const lib = (name: string) => path.join(server.area.libDir, name);
  const records = (file = auditFile): AuditRecord[] =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditRecord);
  /** The record of the request whose reply was `reply`, read as soon as the reply came: no waiting. */
  const recordOf = (reply: string) => {
    const found = records().filter((r) => r.event === 'execution' && r.output === reply);
    assert.equal(found.length, 1, `one record for ${reply} in the audit log, read right after the reply`);
    return found[0]!;
  };

  before(async () => {
    server = await startServer({
      timeoutMs: 400,
      args: (area) => ['--audit-log', (auditFile = path.join(area.root, 'audit', 'audit.log'))],
    });
  });
  after(() => server.stop());

  it('creates the file 0600 and starts it with the policy, the launcher and the server start', (t) => {
    assert.equal(fs.statSync(auditFile).mode & 0o777, 0o600);
    const events = records().map((r) => r.event);
    assert.deepEqual(events.slice(0, 3), ['policy-load', 'launcher-ready', 'server-start']);
    const start = records()[2]!;
    assert.equal(start.auditLog, auditFile);
    assert.match(String(start.policyHash), /^[0-9a-f]{64}$/);
    const ready = records()[1]!;
    const expected = expectedEnforcement();
    t.diagnostic(`probed: ${expected.host}`);
    assert.deepEqual(ready.limits, { ...expected.limits, seccompNotify: true }, `on this host (${expected.host})`);
  });

  it('records an ok call: who, what, the rule, the sandbox, the figures', async () => {
    const data = writeData(server.area, 'in.txt', 'twelve bytes');
    const reply = await callClassic(server.socket, `${lib('libbasic.so')} cat ${data}`);
    assert.equal(readOutput(reply), 'twelve bytes');
    const r = recordOf(reply);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.decision, 'allowed');
    assert.equal(r.tenant, 'default');
    assert.match(String(r.rule), /^the default tenant \(no tenant matched\); library: defaults\.libraryDirs\[0\] \(\S+\); input: defaults\.inputDirs\[0\] \(\S+\)$/);
    assert.deepEqual(r.peer, { uid: 0, gid: 0, pid: r.peer.pid, groups: r.peer.groups, user: 'root', group: 'root' });
    assert.ok(typeof r.peer.pid === 'number' && r.peer.pid > 0);
    assert.equal(r.command, `${lib('libbasic.so')} cat ${data}`);
    assert.equal(r.library, lib('libbasic.so'));
    assert.equal(r.function, 'cat');
    assert.equal(r.input, data);
    assert.ok(Number(r.sandboxUid) >= 1_100_000, `sandbox uid ${r.sandboxUid}`);
    assert.equal(r.outputBytes, 12);
    assert.deepEqual(r.reasons, []);
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    for (const field of ['queueMs', 'runMs', 'totalMs', 'cpuMs', 'peakMemoryBytes']) assert.equal(typeof r[field], 'number', field);
    assert.ok(Number(r.peakMemoryBytes) > 0 && Number(r.totalMs) >= Number(r.runMs));
    assert.match(String(r.request), /^[0-9a-f]{8}-\d+$/);
  });

  it('records a crash with its signal', async () => {
    const reply = await callClassic(server.socket, `${lib('liblifecycle.so')} crash`);
    const r = recordOf(reply);
    assert.equal(r.outcome, 'signal');
    assert.equal(r.signal, 'SIGSEGV');
    assert.match(String((r.reasons as string[])[0]), /^killed by signal 11 \(SIGSEGV, invalid memory reference\) at address 0x0/);
    assert.ok(Number(r.outputBytes) > 0, 'the error lines are counted in the output size');
  });

  it('records a timeout with the limit hit', async () => {
    const reply = await callClassic(server.socket, `${lib('liblifecycle.so')} sleep_long`);
    const r = recordOf(reply);
    assert.equal(r.outcome, 'timeout');
    assert.deepEqual(r.limitsHit, ['time']);
    assert.match(String((r.reasons as string[])[0]), /^timed out after 400 ms/);
  });

  it('records a denial with the rule and no sandbox', async () => {
    const reply = await callClassic(server.socket, '/usr/lib/x86_64-linux-gnu/libc.so.6 puts');
    const r = recordOf(reply);
    assert.equal(r.outcome, 'denied');
    assert.equal(r.decision, 'denied');
    assert.equal(r.rule, 'defaults.libraryDirs');
    assert.equal(r.sandboxUid, null);
    assert.equal(r.runMs, null);
    assert.match(String((r.reasons as string[])[0]), /^denied by policy '\S+', rule defaults\.libraryDirs: /);
  });

  it('records a malformed request as received, control characters shown', async () => {
    const reply = await callClassic(server.socket, 'a b c\td e');
    const r = recordOf(reply);
    assert.equal(r.outcome, 'bad-request');
    assert.equal(r.decision, 'none');
    assert.equal(r.command, 'a b c\\x09d e');
    assert.equal(r.tenant, null);
    assert.equal(r.library, null);
  });

  it('names a user the system knows, and gives null for one it does not', () => {
    fs.chmodSync(server.area.root, 0o755);
    const client = installClient(server.area);
    const reply = callAs(client, server.socket, { uid: 4511, gid: 50 }, [lib('libbasic.so')]);
    const r = recordOf(reply);
    assert.deepEqual({ ...r.peer, pid: 0 }, { uid: 4511, gid: 50, pid: 0, groups: [], user: null, group: 'staff' });
  });

  it('keeps every record of a session, each valid against the published schema', async () => {
    const replies = await callSession(server.socket, [lib('libbasic.so'), `${lib('libbasic.so')} nosuch`, '   ', lib('libcounter.so')]);
    assert.equal(replies.length, 3);
    const validate = schemaValidator('audit-event');
    const all = records();
    for (const record of all) assert.ok(validate(record), `${JSON.stringify(record)}\n${JSON.stringify(validate.errors)}`);
    assert.deepEqual(replies.map((reply) => recordOf(reply).outcome), ['ok', 'missing-function', 'ok']);
    // Each request once: the ids are unique.
    const ids = all.filter((r) => r.event === 'execution').map((r) => r.request);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('leaves the per-call records out of stdout when they have a file, but not the life events', () => {
    assert.equal(server.logs.filter((l) => l.msg === 'call finished').length, 0);
    assert.ok(server.logs.some((l) => l.event === 'server-start'));
  });

  it('goes on in a new file after logrotate moved it and sent SIGHUP', async () => {
    const rotated = `${auditFile}.1`;
    fs.renameSync(auditFile, rotated);
    const from = server.logs.length;
    server.process.kill('SIGHUP');
    await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP'), { from });
    const reply = await callClassic(server.socket, lib('libbasic.so'));
    assert.equal(recordOf(reply).outcome, 'ok');
    assert.ok(!records(rotated).some((r) => r.output === reply), 'not in the rotated file');
    assert.equal(fs.statSync(auditFile).mode & 0o777, 0o600);
  });

  it('ends with the server stop', async () => {
    const area = server.area;
    await server.stop({ keepArea: true });
    const last = records().at(-1)!;
    assert.equal(last.event, 'server-stop');
    assert.equal(last.signal, 'SIGTERM');
    assert.ok(Number(last.executions) >= 10);
    server = await startServer({ area, timeoutMs: 400 }); // for after()
  });
});
