// What a function sees from inside its sandbox, reported by libprobe.so.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

function parseProbe(text: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1)]);
  }
  return values;
}

describe('isolation seen from inside the sandbox', () => {
  const secret = 'fnjail-test-secret-7f3a9c';
  let server: TestServer;
  let probe: string;
  let inside: Map<string, string[]>;
  const one = (key: string) => inside.get(key)?.[0];

  before(async () => {
    // Without the seccomp filter: these are the namespaces' and mounts' own
    // guarantees (the probe also needs socket() to list the interfaces). The
    // filter is a second wall, tested in seccomp.test.ts.
    server = await startServer({ env: { FNJAIL_TEST_SECRET: secret }, args: ['--seccomp', 'none', '--node-name', 'node-7'] });
    probe = path.join(server.area.libDir, 'libprobe.so');
    inside = parseProbe(readOutput(await callClassic(server.socket, `${probe} inspect`)));
  });
  after(() => server.stop());

  it('holds no capabilities and cannot gain privileges', () => {
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) assert.equal(one(set), '0000000000000000', set);
    assert.equal(one('NoNewPrivs'), '1');
  });

  it('runs as a non-root uid and gid from the configured range, without groups', () => {
    const uid = Number(one('uid'));
    const range = server.uidRange;
    assert.ok(uid >= range.first && uid <= range.last, `uid ${uid} is in ${range.first}-${range.last}`);
    assert.equal(one('euid'), String(uid));
    assert.equal(one('gid'), String(uid));
    assert.equal(one('groups'), '');
  });

  it('gives two concurrent calls different uids', async () => {
    const [a, b] = await Promise.all([
      callClassic(server.socket, `${probe} inspect_slow`),
      callClassic(server.socket, `${probe} inspect_slow`),
    ]);
    const uidA = parseProbe(readOutput(a)).get('uid')?.[0];
    const uidB = parseProbe(readOutput(b)).get('uid')?.[0];
    assert.ok(uidA && uidB);
    assert.notEqual(uidA, uidB);
  });

  it('has its own pid namespace (the function is pid 2, its supervisor pid 1)', () => {
    assert.equal(one('pid'), '2');
    assert.equal(one('ppid'), '1');
    assert.equal(one('proc-pids')?.split(',').filter((e) => /^\d+$/.test(e)).join(','), '2');
  });

  it('has no network interface up', () => {
    const interfaces = one('interfaces')?.split(',') ?? [];
    assert.ok(interfaces.length > 0, 'getifaddrs answered');
    assert.deepEqual(interfaces.filter((i) => !i.endsWith(':down')), []);
  });

  it('holds only file descriptors 0, 1 and 2', () => {
    assert.equal(one('fds'), '0,1,2');
  });

  it('starts with an empty private /tmp', () => {
    assert.equal(one('tmp'), '');
  });

  it("has its own hostname (the node's name, set by fnjail) and a clean environment", () => {
    assert.equal(one('hostname'), 'node-7');
    assert.deepEqual(inside.get('env'), ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'TMPDIR=/tmp']);
  });

  it('cannot read /etc/shadow, /root, the output directory, other output files, or the server environment', async () => {
    const otherOutput = await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so'));
    const list = writeData(
      server.area,
      'paths.txt',
      ['/etc/shadow', '/root', server.area.outputDir, otherOutput, '/proc/1/environ', '/proc/self/environ', '/etc/passwd'].join('\n'),
    );
    const output = readOutput(await callClassic(server.socket, `${probe} try_paths ${list}`));
    assert.match(output, /^read \/etc\/shadow: No such file or directory$/m);
    // The host's top directories are there as empty stand-ins (where a call's files are placed).
    assert.match(output, /^read \/etc\/shadow: No such file or directory\nlist=\n/m, '/root is an empty directory');
    assert.match(output, new RegExp(`^read ${server.area.outputDir}: No such file or directory$`, 'm'));
    assert.match(output, new RegExp(`^read ${otherOutput}: No such file or directory$`, 'm'));
    assert.match(output, /^read \/proc\/1\/environ: No such file or directory$/m, 'the supervisor is invisible');
    assert.match(output, /^read \/proc\/self\/environ: ok \(0 bytes\)$/m, 'the process started with an empty environment');
    assert.match(output, /^read \/etc\/passwd: ok/m, 'the generated passwd is there');
    assert.ok(!output.includes(secret) && !readOutput(otherOutput).includes(secret));
    assert.ok(!JSON.stringify([...inside]).includes(secret));
  });

  it('cannot write anywhere but its private /tmp', async () => {
    const libDirFile = path.join(server.area.libDir, 'planted.so');
    const list = writeData(server.area, 'writes.txt', ['/etc/planted', '/usr/planted', libDirFile, '/planted', '/tmp/ok'].join('\n'));
    const output = readOutput(await callClassic(server.socket, `${probe} try_writes ${list}`));
    for (const target of ['/etc/planted', '/usr/planted', libDirFile, '/planted']) {
      assert.match(output, new RegExp(`^write ${target}: (Read-only file system|Permission denied)$`, 'm'));
    }
    assert.match(output, /^write \/tmp\/ok: ok$/m);
  });

  it('finds nothing of other calls in its memory', async () => {
    // Requests of another "tenant" keep passing through the launcher while
    // probes search their whole memory for a marker those requests carry.
    const marker = `fnjailmarker${randomBytes(6).toString('hex')}`;
    const markerLib = path.join(server.area.libDir, `lib${marker}.so`);
    fs.copyFileSync(path.join(server.area.libDir, 'libbasic.so'), markerLib);
    const reversedMarker = writeData(server.area, 'marker.txt', [...marker].reverse().join(''));
    let flowing = true;
    const flow = (async () => {
      while (flowing) await Promise.all(Array.from({ length: 8 }, () => callClassic(server.socket, `${markerLib} run`)));
    })();
    const scans: string[] = [];
    for (let i = 0; i < 12; i++) scans.push(readOutput(await callClassic(server.socket, `${probe} scan_memory ${reversedMarker}`)));
    flowing = false;
    await flow;
    for (const scan of scans) {
      assert.match(scan, /^scanned [1-9]\d* bytes, marker found 0 times$/m, scan);
    }
  });
});

