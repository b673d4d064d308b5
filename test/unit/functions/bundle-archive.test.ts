// Bundles from .tar.gz archives (src/functions/bundle-archive.ts): hostile
// archives crafted byte by byte are each refused with their rule and code,
// and nothing is written anywhere — not in the destination, not where the
// entry pointed; honest archives from GNU tar (gnu and pax formats) are read
// whole, and what fnjail stores is a canonical tar that GNU tar reads back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compressBundle, makeBundle, type Bundle, type BundleLimits } from '../../../src/functions/bundle.js';
import { readBundleArchive } from '../../../src/functions/bundle-archive.js';
import { BundleError, type BundleRule } from '../../../src/functions/bundle-error.js';
import { extractBundle } from '../../../src/functions/bundle-extract.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { gnuLongName, gzip, MANIFEST, pax, tar, tarGz, validEntries, type TarEntrySpec } from '../../helpers/tar-builder.js';

let area: TestArea;
let outside: string;
before(() => {
  area = createTestArea();
  outside = path.join(area.root, 'outside');
  fs.mkdirSync(outside);
});
after(() => area.cleanup());

/** Every path under dir (relative), for before/after comparisons. */
function tree(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const name of fs.readdirSync(at)) {
      const full = path.join(at, name);
      found.push(path.relative(dir, full));
      if (fs.lstatSync(full).isDirectory()) walk(full);
    }
  };
  walk(dir);
  return found.sort();
}

let cases = 0;
/** Reads then unpacks, as the registry does; asserts the refusal and that the area is untouched. */
async function assertRefused(archive: Buffer, rule: BundleRule, code: string, limits?: BundleLimits): Promise<BundleError> {
  const destination = path.join(area.root, `dest-${++cases}`);
  const beforeTree = tree(area.root);
  let refusal: unknown;
  try {
    extractBundle(await readBundleArchive(archive, limits), destination);
  } catch (error) {
    refusal = error;
  }
  assert.ok(refusal instanceof BundleError, `expected a BundleError (${rule}), got ${String(refusal)}`);
  assert.equal(refusal.rule, rule, refusal.message);
  assert.equal(refusal.code, code, refusal.message);
  assert.deepEqual(tree(area.root), beforeTree, 'a refused bundle wrote something');
  assert.equal(fs.existsSync(destination), false);
  return refusal;
}

describe('bundle archives: what is refused', () => {
  it('an absolute path, named in the error', async () => {
    const target = path.join(outside, 'absolute');
    const error = await assertRefused(tarGz([...validEntries(), { name: target, data: 'pwned' }]), 'absolute-path', 'FNJ_BUNDLE_UNSAFE');
    assert.match(error.message, new RegExp(`^${target}: .*absolute path`));
    assert.match(error.format(), /\[FNJ_BUNDLE_UNSAFE\]/);
  });

  it("'..' segments, in the ustar name, a pax path and a GNU long name", async () => {
    const escape = `../${path.basename(area.root)}/outside/dotdot`;
    await assertRefused(tarGz([...validEntries(), { name: `sub/../../${escape}`, data: 'pwned' }]), 'parent-segment', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), pax({ path: escape }), { name: 'innocent', data: 'pwned' }]), 'parent-segment', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), gnuLongName(escape), { name: 'innocent', data: 'pwned', format: 'gnu' }]), 'parent-segment', 'FNJ_BUNDLE_UNSAFE');
  });

  it('symbolic links that leave the bundle: absolute, "..", and a chain of links that are each harmless alone', async () => {
    await assertRefused(tarGz([...validEntries(), { name: 'etc', type: '2', linkName: '/etc' }]), 'link-escape', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'sub/up', type: '2', linkName: '../../outside' }]), 'link-escape', 'FNJ_BUNDLE_UNSAFE');
    // a/up -> .. is the top of the bundle (fine); x -> a/up/../y goes through it and then above the top.
    const chain = [...validEntries(), { name: 'a/up', type: '2', linkName: '..' }, { name: 'x', type: '2', linkName: 'a/up/../y' }];
    await assertRefused(tarGz(chain), 'link-escape', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'loop', type: '2', linkName: 'loop/x' }]), 'link-loop', 'FNJ_BUNDLE_INVALID');
  });

  it('an entry written through a symbolic link of the bundle (even one pointing inside it)', async () => {
    await assertRefused(tarGz([...validEntries(), { name: 'out', type: '2', linkName: '../outside' }, { name: 'out/file', data: 'pwned' }]), 'through-symlink', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'lib', type: '2', linkName: 'sub' }, { name: 'sub/', type: '5', mode: 0o755 }, { name: 'lib/x', data: '' }]), 'through-symlink', 'FNJ_BUNDLE_UNSAFE');
  });

  it('hard links to anything but a file of the bundle', async () => {
    await assertRefused(tarGz([...validEntries(), { name: 'passwd', type: '1', linkName: '/etc/passwd' }]), 'hardlink-escape', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'secret', type: '1', linkName: '../outside/secret' }]), 'hardlink-escape', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'dangling', type: '1', linkName: 'nowhere' }]), 'bad-link', 'FNJ_BUNDLE_INVALID');
  });

  it('device nodes and fifos', async () => {
    await assertRefused(tarGz([...validEntries(), { name: 'null', type: '3', mode: 0o666 }]), 'device', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'sda', type: '4', mode: 0o660 }]), 'device', 'FNJ_BUNDLE_UNSAFE');
    await assertRefused(tarGz([...validEntries(), { name: 'pipe', type: '6', mode: 0o644 }]), 'fifo', 'FNJ_BUNDLE_UNSAFE');
  });

  it('setuid and setgid files', async () => {
    const setuid = await assertRefused(tarGz([...validEntries(), { name: 'su', mode: 0o4755, data: 'x' }]), 'setuid', 'FNJ_BUNDLE_UNSAFE');
    assert.match(setuid.message, /setuid bit/);
    const setgid = await assertRefused(tarGz([...validEntries(), { name: 'sg', mode: 0o2755, data: 'x' }]), 'setuid', 'FNJ_BUNDLE_UNSAFE');
    assert.match(setgid.message, /setgid bit/);
  });

  const small: BundleLimits = { maxCompressedBytes: 64 * 1024, maxUncompressedBytes: 1024 * 1024, maxEntries: 50 };

  it('tar bombs: a small archive that decompresses past the limit, and hard links multiplying a file', async () => {
    const bomb = tarGz([...validEntries(), { name: 'zeros', data: Buffer.alloc(4 * 1024 * 1024) }]);
    assert.ok(bomb.length < small.maxCompressedBytes, 'the bomb is small compressed');
    await assertRefused(bomb, 'uncompressed-size', 'FNJ_BUNDLE_TOO_LARGE', small);
    const links = Array.from({ length: 10 }, (_, i) => ({ name: `copy${i}`, type: '1', linkName: 'big' }));
    await assertRefused(tarGz([...validEntries(), { name: 'big', data: Buffer.alloc(300 * 1024, 1) }, ...links]), 'uncompressed-size', 'FNJ_BUNDLE_TOO_LARGE', small);
  });

  it('archives over the compressed size limit', async () => {
    const random = Buffer.from(Array.from({ length: 100 * 1024 }, (_, i) => (i * 7919 + (i >> 3) * 104729) & 0xff));
    await assertRefused(tarGz([...validEntries(), { name: 'noise', data: random }]), 'compressed-size', 'FNJ_BUNDLE_TOO_LARGE', { ...small, maxCompressedBytes: 1024 });
  });

  it('too many entries, the directories implied by deep paths included', async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, data: '' }));
    await assertRefused(tarGz([...validEntries(), ...many]), 'entries', 'FNJ_BUNDLE_TOO_LARGE', small);
    const deep = `${Array.from({ length: 80 }, () => 'd').join('/')}/leaf`;
    await assertRefused(tarGz([...validEntries(), pax({ path: deep }), { name: 'leaf', data: '' }]), 'entries', 'FNJ_BUNDLE_TOO_LARGE', small);
  });

  it('what is not a bundle: not gzip, gzip of something else, a truncated or damaged tar, duplicates, other entry types, control characters', async () => {
    await assertRefused(Buffer.from('PK\x03\x04 a zip file'), 'not-gzip', 'FNJ_BUNDLE_INVALID');
    await assertRefused(gzip(Buffer.from('just text, no tar headers here'.repeat(40))), 'not-tar', 'FNJ_BUNDLE_INVALID');
    await assertRefused(gzip(tar(validEntries()).subarray(0, 700)), 'truncated', 'FNJ_BUNDLE_INVALID');
    await assertRefused(tarGz([{ name: 'fnjail.json', data: MANIFEST, badChecksum: true }]), 'not-tar', 'FNJ_BUNDLE_INVALID');
    await assertRefused(tarGz([...validEntries(), { name: 'run.sh', data: 'replaced' }]), 'duplicate-entry', 'FNJ_BUNDLE_INVALID');
    await assertRefused(tarGz([...validEntries(), { name: 'run.sh/inside', data: '' }]), 'path-conflict', 'FNJ_BUNDLE_INVALID');
    await assertRefused(tarGz([...validEntries(), { name: 'sparse', type: 'S', data: '' }]), 'unsupported-type', 'FNJ_BUNDLE_INVALID');
    await assertRefused(tarGz([...validEntries(), { name: 'new\nline', data: '' }]), 'bad-name', 'FNJ_BUNDLE_INVALID');
  });
});

describe('bundle archives: what is read', () => {
  /** A directory to pack with GNU tar: a long path (ustar keeps it in its prefix field), a hard link, a symbolic link (with a target over 100 bytes, which ustar cannot hold, unless shortLink). */
  function makeSource(shortLink: boolean): string {
    const dir = fs.mkdtempSync(path.join(area.root, 'src-'));
    fs.writeFileSync(path.join(dir, 'fnjail.json'), MANIFEST);
    fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\ncat\n', { mode: 0o775 });
    const long = path.join(dir, 'a-directory-with-a-rather-long-name-to-pass-the-ustar-limit', 'and-another-one-just-as-long-as-the-first-one');
    fs.mkdirSync(long, { recursive: true });
    fs.writeFileSync(path.join(long, 'data-file-with-a-long-name-too.txt'), 'deep\n', { mode: 0o664 });
    fs.symlinkSync(shortLink ? 'run.sh' : path.relative(dir, path.join(long, 'data-file-with-a-long-name-too.txt')), path.join(dir, 'shortcut'));
    fs.linkSync(path.join(dir, 'run.sh'), path.join(dir, 'run-again.sh'));
    return dir;
  }

  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`an archive from GNU tar --format=${format}: every file, link and long name`, async () => {
      const dir = makeSource(format === 'ustar');
      const archive = path.join(area.root, `bundle-${format}.tar.gz`);
      execFileSync('tar', [`--format=${format}`, '-czf', archive, '-C', dir, '.']);
      const bundle = await readBundleArchive(fs.readFileSync(archive));
      const paths = bundle.entries.map((e) => `${e.type}:${e.path}`);
      assert.ok(paths.includes('file:fnjail.json'));
      assert.ok(paths.includes('symlink:shortcut'));
      assert.ok(paths.includes('file:run-again.sh'), 'a hard link becomes a copy');
      const deep = bundle.entries.find((e) => e.path.endsWith('data-file-with-a-long-name-too.txt'));
      assert.equal(deep?.type === 'file' && deep.data.toString(), 'deep\n');
      const run = bundle.entries.find((e) => e.path === 'run.sh');
      assert.equal(run?.type === 'file' && run.executable, true);
      // The same content in another format is the same version.
      const other = path.join(area.root, `bundle-${format}-again.tar.gz`);
      execFileSync('tar', [`--format=${format === 'gnu' ? 'pax' : 'gnu'}`, '-czf', other, '-C', dir, '.']);
      assert.equal((await readBundleArchive(fs.readFileSync(other))).hash, bundle.hash);
    });
  }

  it('an archive from git archive (a pax global header with the commit id, which is ignored)', async () => {
    const dir = makeSource(false);
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { stdio: 'pipe' });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'bundle');
    const archive = git('archive', '--format=tar.gz', 'HEAD');
    const bundle = await readBundleArchive(archive);
    assert.ok(bundle.entries.some((e) => e.path === 'fnjail.json'));
    assert.ok(bundle.entries.some((e) => e.type === 'symlink' && e.path === 'shortcut'));
  });

  it('stores a canonical tar that GNU tar reads back: same files, modes 0755/0644, owner root, mtime 0', async () => {
    const bundle = makeBundle([
      { path: 'fnjail.json', type: 'file', mode: 0o664, data: Buffer.from(MANIFEST) },
      { path: 'run.sh', type: 'file', mode: 0o775, data: Buffer.from('#!/bin/sh\n') },
      { path: `${'long-directory-name/'.repeat(8)}file`, type: 'file', mode: 0o600, data: Buffer.from('x') },
      { path: 'link', type: 'symlink', target: `${'long-directory-name/'.repeat(8)}file` },
    ]);
    const archive = path.join(area.root, 'canonical.tar.gz');
    fs.writeFileSync(archive, await compressBundle(bundle));
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', archive], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(listing.some((l) => /^-rwxr-xr-x 0\/0 +\d+ 1970-01-01 00:00:00 run\.sh$/.test(l)), listing.join('\n'));
    assert.ok(listing.some((l) => /^-rw-r--r-- 0\/0 .* fnjail\.json$/.test(l)), listing.join('\n'));
    assert.ok(listing.some((l) => l.endsWith(`${'long-directory-name/'.repeat(8)}file`)), 'pax long name read by GNU tar');
    assert.ok(listing.some((l) => l.startsWith('l') && l.includes(`link -> ${'long-directory-name/'.repeat(8)}file`)));
    // And read back by fnjail, the same version.
    assert.equal((await readBundleArchive(fs.readFileSync(archive))).hash, bundle.hash);
  });
});

describe('unpacking a bundle', () => {
  it('into a fresh directory: root-owned, 0755/0644, no group or other write, links as they were', async () => {
    const bundle = await readBundleArchive(
      tarGz([
        ...validEntries(),
        { name: 'data/', type: '5', mode: 0o777 },
        { name: 'data/shared.txt', mode: 0o666, data: 'world-writable in the archive' },
        { name: 'data/alias', type: '2', linkName: 'shared.txt' },
      ]),
    );
    const destination = path.join(area.root, 'unpacked');
    extractBundle(bundle, destination);
    const modes = Object.fromEntries(tree(destination).map((p) => [p, fs.lstatSync(path.join(destination, p))]));
    assert.equal(fs.statSync(destination).mode & 0o7777, 0o755);
    assert.equal(modes['run.sh']!.mode & 0o7777, 0o755);
    assert.equal(modes['data']!.mode & 0o7777, 0o755);
    assert.equal(modes['data/shared.txt']!.mode & 0o7777, 0o644);
    assert.ok(modes['data/alias']!.isSymbolicLink());
    assert.equal(fs.readlinkSync(path.join(destination, 'data/alias')), 'shared.txt');
    for (const [p, st] of Object.entries(modes)) {
      assert.equal(st.uid, 0, p);
      assert.equal(st.gid, 0, p);
      if (!st.isSymbolicLink()) assert.equal(st.mode & 0o022, 0, `${p} is writable by group or others`);
    }
    assert.equal(fs.readFileSync(path.join(destination, 'data/alias'), 'utf8'), 'world-writable in the archive');
  });

  it('refuses a destination that exists, and touches nothing in it', async () => {
    const bundle = await readBundleArchive(tarGz(validEntries()));
    const destination = path.join(area.root, 'exists');
    fs.mkdirSync(destination);
    fs.writeFileSync(path.join(destination, 'keep'), 'mine');
    assert.throws(() => extractBundle(bundle, destination), { code: 'EEXIST' });
    assert.deepEqual(tree(destination), ['keep']);
  });

  it('removes what it wrote when it fails half way', () => {
    const good = makeBundle([{ path: 'a', type: 'file', mode: 0o644, data: Buffer.from('1') }]);
    // Not a bundle makeBundle would make: the second write of 'a' fails (O_EXCL).
    const broken: Bundle = { ...good, entries: [...good.entries, ...good.entries] };
    const destination = path.join(area.root, 'half');
    assert.throws(() => extractBundle(broken, destination), { code: 'EEXIST' });
    assert.equal(fs.existsSync(destination), false);
  });
});

describe('bundle versions', () => {
  it('the version is the sha256 of the canonical tar: modes, mtimes, order and compression do not change it; content does', async () => {
    const entries = (mode: number, order: TarEntrySpec[] = validEntries()) => order.map((e) => ({ ...e, mode: e.name === 'run.sh' ? 0o755 : mode }));
    const a = await readBundleArchive(tarGz(entries(0o644)));
    const b = await readBundleArchive(gzip(tar(entries(0o600, validEntries().reverse()))));
    assert.equal(a.hash, b.hash);
    assert.match(a.hash, /^[0-9a-f]{64}$/);
    const c = await readBundleArchive(tarGz([...validEntries(), { name: 'extra', data: '' }]));
    assert.notEqual(c.hash, a.hash);
  });
});
