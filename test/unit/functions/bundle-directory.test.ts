// Bundles from a directory (fnjail deploy DIR, src/functions/bundle-directory.ts):
// the same rules as archives, on real files — fifos, sockets, device nodes,
// setuid files and links out of the directory are refused, not skipped — and
// the same content gives the same version as its .tar.gz.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readBundleArchive } from '../../../src/functions/bundle-archive.js';
import { readBundleDirectory } from '../../../src/functions/bundle-directory.js';
import { BundleError } from '../../../src/functions/bundle-error.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { MANIFEST } from '../../helpers/tar-builder.js';

let area: TestArea;
before(() => (area = createTestArea()));
after(() => area.cleanup());

function source(): string {
  const dir = fs.mkdtempSync(path.join(area.root, 'dir-'));
  fs.writeFileSync(path.join(dir, 'fnjail.json'), MANIFEST);
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\ncat\n', { mode: 0o755 });
  return dir;
}

function refused(dir: string, rule: string, entry: string): void {
  assert.throws(
    () => readBundleDirectory(dir),
    (error: unknown) => error instanceof BundleError && error.rule === rule && error.entry === entry,
  );
}

describe('bundles from a directory', () => {
  it('reads files, directories and links inside it, to the version its .tar.gz has', async () => {
    const dir = source();
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'lib', 'data'), 'x');
    fs.symlinkSync('lib/data', path.join(dir, 'alias'));
    const bundle = readBundleDirectory(dir);
    assert.deepEqual(
      bundle.entries.map((e) => `${e.type}:${e.path}`),
      ['symlink:alias', 'file:fnjail.json', 'directory:lib', 'file:lib/data', 'file:run.sh'],
    );
    const archive = path.join(area.root, 'same.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', dir, '.']);
    assert.equal((await readBundleArchive(fs.readFileSync(archive))).hash, bundle.hash);
  });

  it('refuses a fifo, a socket and a device node', async () => {
    const fifo = source();
    execFileSync('mkfifo', [path.join(fifo, 'pipe')]);
    refused(fifo, 'fifo', 'pipe');

    const socketDir = source();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(socketDir, 'sock'), resolve));
    try {
      refused(socketDir, 'socket', 'sock');
    } finally {
      server.close();
    }

    const device = source();
    execFileSync('mknod', [path.join(device, 'null'), 'c', '1', '3']);
    refused(device, 'device', 'null');
  });

  it('refuses setuid and setgid files', () => {
    const dir = source();
    fs.chmodSync(path.join(dir, 'run.sh'), 0o4755);
    refused(dir, 'setuid', 'run.sh');
    fs.chmodSync(path.join(dir, 'run.sh'), 0o2755);
    refused(dir, 'setuid', 'run.sh');
  });

  it('refuses links that leave the directory', () => {
    const dir = source();
    fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    refused(dir, 'link-escape', 'passwd');
    const up = source();
    fs.mkdirSync(path.join(up, 'sub'));
    fs.symlinkSync('../../', path.join(up, 'sub', 'top'));
    refused(up, 'link-escape', 'sub/top');
  });

  it('is not given anything but a directory', () => {
    const file = path.join(area.root, 'plain-file');
    fs.writeFileSync(file, '');
    assert.throws(() => readBundleDirectory(file), (error: unknown) => error instanceof BundleError && error.rule === 'not-a-directory');
  });
});
