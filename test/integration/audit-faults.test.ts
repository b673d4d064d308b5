// The audit log's destination failing under a running server, while calls and
// connections arrive: a full file system (a small tmpfs), an I/O error (ext4 on
// a loop device whose backing file cannot grow, with --audit-fsync), a removed
// directory. Whatever fails: no call runs without its record, the server stays
// up, the condition shows in `stats`, /metrics and the operational log, and
// calls run again once the record can be written.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { StatsSnapshot } from '../../src/metrics/stats.js';
import { callClassic, callSession } from '../helpers/client.js';
import { createTestArea, type TestArea } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';
import { makeTestPki } from '../helpers/tls.js';

const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function mountTmpfs(dir: string, size: string): () => void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return () => sh('umount', ['-l', dir]);
}

/** Fills the file system holding `dir` to the last byte; returns the filler. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  // Then the tail of a page, byte by byte.
  try {
    for (;;) fs.writeSync(fd, block, 0, 1);
  } catch {
    // full
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

const records = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const stats = async (server: TestServer) => JSON.parse((await callSession(server.socket, ['stats']))[0]!) as StatsSnapshot;

/** Calls of a function that prints "run": each reply's file says whether it ran. */
async function calls(server: TestServer, count: number): Promise<Array<{ output: string; ran: boolean; reason: string }>> {
  const lib = path.join(server.area.libDir, 'libbasic.so');
  const replies = await Promise.all(Array.from({ length: count }, () => callClassic(server.socket, lib)));
  return replies.map((output) => {
    const text = readOutput(output);
    return { output, ran: text.startsWith('run\n'), reason: /^Reason: (.*)$/m.exec(text)?.[1] ?? '' };
  });
}

/** Every call whose function ran has its execution-start record in the audit file. */
function assertEveryRunRecorded(auditFile: string, results: Array<{ output: string; ran: boolean }>): void {
  const started = new Set(records(auditFile).filter((r) => r.event === 'execution-start').map((r) => r.output));
  for (const result of results) if (result.ran) assert.ok(started.has(result.output), `the call that wrote ${result.output} ran with its record`);
}

function assertRefusedForAudit(results: Array<{ ran: boolean; reason: string }>, code: RegExp): void {
  const refused = results.filter((r) => !r.ran);
  assert.ok(refused.length > 0, 'calls were refused while the audit log could not be written');
  for (const r of refused) assert.match(r.reason, new RegExp(`^the audit log cannot be written \\(${code.source}.*\\); calls are refused until it can, and this one did not run$`));
}

describe('audit log faults', () => {
  it('a full file system: calls are refused, not run unrecorded; the server stays up, says so, and resumes when space returns', async () => {
    const area = createTestArea();
    const auditDir = path.join(area.root, 'auditfs');
    const unmount = mountTmpfs(auditDir, '256k');
    const auditFile = path.join(auditDir, 'audit.log');
    const pki = makeTestPki(path.join(area.root, 'pki'));
    const server = await startServer({
      area,
      args: ['--audit-log', auditFile, '--metrics', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert],
    });
    try {
      const start = await waitForLog(server, (l) => l.event === 'server-start');
      const [host, port] = String((start.listen as string[])[0]).split(':');
      const filler = fill(auditDir);
      const from = server.logs.length;

      // Plain text to the TLS port (its refusal is a record that cannot be written), and calls, at once.
      const garbage = Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
        const conn = net.connect({ host: host!, port: Number(port) }, () => conn.end('GET / HTTP/1.0\r\n\r\n'));
        conn.on('close', () => resolve());
        conn.on('error', () => resolve());
      }));
      const during = await calls(server, 30);
      await Promise.all(garbage);
      assertRefusedForAudit(during, /ENOSPC/);
      assertEveryRunRecorded(auditFile, during);

      assert.equal(server.process.exitCode, null, 'the server is still running');
      const s = await stats(server);
      assert.equal(s.logs?.audit.writable, false);
      assert.match(String(s.logs?.audit.error), /^ENOSPC/);
      assert.ok(s.logs!.audit.refusedCalls >= during.filter((r) => !r.ran).length);
      const metrics = await (await fetch(String(start.metrics))).text();
      assert.match(metrics, /^fnjail_log_writable\{log="audit"\} 0$/m);
      assert.match(metrics, /^fnjail_calls_refused_unaudited_total [1-9]\d*$/m);
      await waitForLog(server, (l) => l.component === 'audit' && /cannot be written \(ENOSPC/.test(String(l.msg)), { from });

      fs.unlinkSync(filler);
      const after = await calls(server, 5);
      assert.ok(after.every((r) => r.ran), 'calls run again once there is space');
      assertEveryRunRecorded(auditFile, after);
      const finished = new Set(records(auditFile).filter((r) => r.event === 'execution').map((r) => r.output));
      for (const r of after) assert.ok(finished.has(r.output), 'and get their outcome records');
      await waitForLog(server, (l) => l.component === 'audit' && /can be written again/.test(String(l.msg)), { from });
      assert.equal((await stats(server)).logs?.audit.writable, true);
    } finally {
      await server.stop({ keepArea: true });
      unmount();
      area.cleanup();
    }
  });

  it('an I/O error (with --audit-fsync): calls are refused; after the admin moves the log and sends SIGHUP, they run again', async (t) => {
    for (const tool of ['losetup', 'mkfs.ext4']) {
      try {
        sh('which', [tool]);
      } catch {
        throw new Error(`this test needs ${tool} (util-linux, e2fsprogs) to make a device that fails with EIO`);
      }
    }
    const area = createTestArea();
    const backing = path.join(area.root, 'backing');
    const unmountBacking = mountTmpfs(backing, '4m');
    const image = path.join(backing, 'disk.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 * 1024 * 1024); // sparse: the ext4 on it believes it has 64 MiB
    sh('mkfs.ext4', ['-q', '-F', image]);
    const loop = sh('losetup', ['-f', '--show', image]);
    const auditDir = path.join(area.root, 'auditdisk');
    fs.mkdirSync(auditDir, { mode: 0o700 });
    sh('mount', [loop, auditDir]);
    t.diagnostic(`ext4 on ${loop}, backed by a sparse file on a 4 MiB tmpfs`);
    const auditFile = path.join(auditDir, 'audit.log');
    const server = await startServer({ area, args: ['--audit-log', auditFile, '--audit-fsync'] });
    let mounted = true;
    try {
      assert.ok((await calls(server, 2)).every((r) => r.ran), 'calls run while the device works');
      fill(backing); // the loop device can no longer write its blocks: an error below ext4
      const during = await calls(server, 20);
      // Older loop drivers turn any failed block write into EIO (or ext4 remounts
      // read-only); newer ones (6.x) pass the backing file's ENOSPC up through fsync.
      // Either way the error comes from the device, not from a full ext4.
      assertRefusedForAudit(during, /E(IO|ROFS|NOSPC)/);
      assert.equal(server.process.exitCode, null, 'the server is still running');
      assert.equal((await stats(server)).logs?.audit.writable, false);

      // The admin takes the broken disk away; the path is now on the disk below.
      sh('umount', ['-l', auditDir]);
      mounted = false;
      const from = server.logs.length;
      server.process.kill('SIGHUP');
      await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP'), { from });
      const after = await calls(server, 3);
      assert.ok(after.every((r) => r.ran), 'calls run again');
      assertEveryRunRecorded(auditFile, after);
    } finally {
      await server.stop({ keepArea: true });
      if (mounted) sh('umount', ['-l', auditDir]);
      sh('losetup', ['-d', loop]);
      unmountBacking();
      area.cleanup();
    }
  });

  it('a removed directory: the log is made anew before the next record; a directory that cannot be made refuses calls until it can', async () => {
    const area: TestArea = createTestArea();
    const auditDir = path.join(area.root, 'audit');
    const auditFile = path.join(auditDir, 'audit.log');
    const server = await startServer({ area, args: ['--audit-log', auditFile] });
    try {
      fs.rmSync(auditDir, { recursive: true });
      const first = await calls(server, 3);
      assert.ok(first.every((r) => r.ran));
      assertEveryRunRecorded(auditFile, first);

      // Now the directory is a file: no log can be made there.
      fs.rmSync(auditDir, { recursive: true });
      fs.writeFileSync(auditDir, 'in the way');
      const during = await calls(server, 5);
      assertRefusedForAudit(during, /E(EXIST|NOTDIR)/);
      assert.ok(during.every((r) => !r.ran));
      fs.unlinkSync(auditDir);
      const after = await calls(server, 3);
      assert.ok(after.every((r) => r.ran), 'calls run again once the log can be made');
      assertEveryRunRecorded(auditFile, after);
    } finally {
      await server.stop();
    }
  });
});
