// The audit log's file and content under attack: a symlink or someone else's
// file at its path is refused, a 0644 file made 0600 on every (re)open; a
// deeply nested JSON request is one bad request with its record, not a crash;
// characters a terminal would act on are escaped; --redact hides a value
// wherever it appears, messages and rules included.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { callAs, installClient } from '../helpers/as-user.js';
import { callClassic, callSession } from '../helpers/client.js';
import { cliMain, createTestArea, HANG_GUARD_MS, nextUidRange } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, waitForLogs } from '../helpers/server.js';

const TENANT = 4611;

function serve(args: string[]): Promise<{ code: number; stderr: string }> {
  const range = nextUidRange();
  return new Promise((resolve) => {
    execFile(process.execPath, [cliMain, 'serve', '--no-config', '--uid-range', `${range.first}-${range.last}`, '--http-socket', 'off', '--nats', 'off', ...args], { encoding: 'utf8', timeout: HANG_GUARD_MS }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

describe('the audit log file', () => {
  it('is refused at a symlink, or as a file someone else owns; nothing is written through them', async () => {
    const area = createTestArea();
    try {
      const victim = path.join(area.root, 'victim');
      fs.writeFileSync(victim, 'untouched\n', { mode: 0o644 });
      const link = path.join(area.root, 'audit.log');
      fs.symlinkSync(victim, link);
      const common = ['--socket', path.join(area.root, 's.sock'), '--output-dir', area.outputDir, '--policy', path.join(area.root, 'p.json')];
      fs.writeFileSync(path.join(area.root, 'p.json'), JSON.stringify({ defaults: { libraryDirs: [area.libDir] } }));
      const viaLink = await serve([...common, '--audit-log', link]);
      assert.equal(viaLink.code, 1);
      assert.match(viaLink.stderr, new RegExp(`cannot open the audit log: ${link} is a symbolic link; refused \\[FNJ_LOG_FAILED\\]`));
      assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n');

      const planted = path.join(area.root, 'planted.log');
      fs.writeFileSync(planted, '');
      fs.chownSync(planted, TENANT, TENANT);
      const owned = await serve([...common, '--audit-log', planted]);
      assert.equal(owned.code, 1);
      assert.match(owned.stderr, new RegExp(`${planted} is owned by uid ${TENANT}, not by the server \\(uid 0\\)`));
      assert.equal(fs.readFileSync(planted, 'utf8'), '');
    } finally {
      area.cleanup();
    }
  });

  it('is made 0600 when it was readable by others, at start and at every reopen', async () => {
    const area = createTestArea();
    const auditFile = path.join(area.root, 'audit.log');
    fs.writeFileSync(auditFile, '', { mode: 0o644 });
    fs.chmodSync(auditFile, 0o644);
    const server = await startServer({ area, args: ['--audit-log', auditFile] });
    try {
      assert.equal(fs.statSync(auditFile).mode & 0o777, 0o600);
      fs.chmodSync(auditFile, 0o644);
      const from = server.logs.length;
      server.process.kill('SIGHUP');
      await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP'), { from });
      assert.equal(fs.statSync(auditFile).mode & 0o777, 0o600);
    } finally {
      await server.stop();
    }
  });
});

describe('audit records', () => {
  it('answer a deeply nested JSON request as one bad request, recorded', async () => {
    const server = await startServer();
    try {
      const deep = `{"library":${'['.repeat(8000)}${']'.repeat(8000)}}`;
      const [reply] = await callSession(server.socket, [deep]);
      const parsed = JSON.parse(reply!) as { outcome: string; reasons: string[]; output: string };
      assert.equal(parsed.outcome, 'bad-request');
      assert.deepEqual(parsed.reasons, ['JSON request is nested deeper than 8 levels']);
      const [record] = await waitForLogs(server, (l) => l.event === 'execution' && l.output === parsed.output);
      assert.equal(record!.outcome, 'bad-request');
    } finally {
      await server.stop();
    }
  });

  it('escape C1 controls, line separators and bidirectional overrides: the log holds none of them raw', async () => {
    const area = createTestArea();
    const auditFile = path.join(area.root, 'audit.log');
    const server = await startServer({ area, args: ['--audit-log', auditFile] });
    try {
      const hostile = `${path.join(area.libDir, 'libbasic.so')}\u202e\u2028\u0085\u009b31m`;
      const reply = await callClassic(server.socket, `${hostile} run`);
      assert.match(readOutput(reply), /could not be executed/);
      const raw = fs.readFileSync(auditFile, 'utf8');
      assert.doesNotMatch(raw, /[\u0080-\u009f\u2028\u2029\u202a-\u202e]/);
      assert.ok(raw.includes('\\u202e\\u2028\\u0085\\u009b31m'), 'written as JSON escapes');
      const record = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.event === 'execution' && r.output === reply)!;
      assert.equal(record.command, `${hostile} run`, 'the same text to a JSON reader');
    } finally {
      await server.stop();
    }
  });

  it('hide a redacted value everywhere it appears: fields, rules, reasons and messages', async () => {
    const server = await startServer({
      policy: (area) => ({ tenants: [{ name: 'team', match: { uids: [TENANT] }, libraryDirs: [area.libDir] }] }),
      args: ['--redact', 'peer.uid', '--redact', 'peer.user'],
    });
    try {
      fs.chmodSync(server.area.root, 0o755);
      const client = installClient(server.area);
      const allowed = callAs(client, server.socket, { uid: TENANT, gid: 50 }, [path.join(server.area.libDir, 'libbasic.so')]);
      const denied = callAs(client, server.socket, { uid: TENANT + 1, gid: 50 }, [path.join(server.area.libDir, 'libbasic.so')]);
      assert.match(readOutput(denied), new RegExp(`no tenant matches uid ${TENANT + 1}`), 'the output file (the tenant\'s own) is not the log');
      const records = await waitForLogs(server, (l) => l.event === 'execution' && (l.output === allowed || l.output === denied), { count: 2 });
      for (const record of records) {
        const text = JSON.stringify(record);
        assert.doesNotMatch(text, new RegExp(`\\b(${TENANT}|${TENANT + 1})\\b`), text);
        assert.equal((record.peer as Record<string, unknown>).uid, '[redacted]');
      }
      assert.match(String(records.find((r) => r.output === allowed)!.rule), /^tenant 'team' \(uid \[redacted\]\)/);
      assert.match(String((records.find((r) => r.output === denied)!.reasons as string[])[0]), /no tenant matches uid \[redacted\]/);
    } finally {
      await server.stop();
    }
  });
});
