// What holds for every library whatever the policy says (libraryProblem,
// src/policy/library-checks.ts), on real files with real owners and modes: an
// ELF shared object for x86-64, that nobody but root or a trusted owner can
// change, nor any directory above it. Then decide() (src/policy/decide.ts) on
// real paths: symlinks judged by where they lead, bare names looked up in
// order, inputs and functions checked, each denial naming file and rule.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from '../../../src/executor/command.js';
import { decide, type Decision, type Tenant } from '../../../src/policy/decide.js';
import { libraryProblem } from '../../../src/policy/library-checks.js';
import { loadPolicy, type Policy } from '../../../src/policy/policy.js';
import { createTestArea, fixturesBuild, type TestArea } from '../../helpers/environment.js';

const RATIONALE = 'only libraries that nobody but root or a trusted owner can change are loaded';
const ROOT_ONLY = new Set([0]);
/** Debian's daemon user and group (uid = gid = 1), the group's only member. */
const DAEMON = 1;

let area: TestArea;
before(() => {
  area = createTestArea();
  fs.chmodSync(area.root, 0o755);
});
after(() => area.cleanup());

let count = 0;
/** A fresh root-owned 0755 directory in the area. */
function freshDir(name = `case-${++count}`): string {
  const dir = path.join(area.root, name);
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A file in a fresh directory: a copy of a fixture library, or this content. */
function place(content: Buffer | string | { fixture: string }, mode = 0o644, name = 'lib.so'): string {
  const file = path.join(freshDir(), name);
  if (typeof content === 'object' && 'fixture' in content) fs.copyFileSync(path.join(fixturesBuild, content.fixture), file);
  else fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  return file;
}

/** A 64-byte ELF header: by default, a little-endian x86-64 shared object. */
function elfHeader({ elfClass = 2, type = 3, machine = 62 } = {}): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, 1, 1]).copy(header);
  header.writeUInt16LE(type, 16);
  header.writeUInt16LE(machine, 18);
  header.writeUInt32LE(1, 20);
  return header;
}

describe('libraries are refused whatever the policy says', () => {
  it('unless an ELF shared object owned by root and writable by nobody else', () => {
    assert.equal(libraryProblem(place({ fixture: 'libbasic.so' }), ROOT_ONLY), undefined);
    assert.equal(libraryProblem(place({ fixture: 'libbasic.so' }, 0o755), ROOT_ONLY), undefined);
    assert.equal(libraryProblem(place(elfHeader()), ROOT_ONLY), undefined);
  });

  it('when writable by its group or by others', () => {
    const groupWritable = place({ fixture: 'libbasic.so' }, 0o664);
    assert.equal(libraryProblem(groupWritable, ROOT_ONLY), `library ${groupWritable} is writable by its group (mode 0664): ${RATIONALE}`);
    const othersWritable = place({ fixture: 'libbasic.so' }, 0o646);
    assert.equal(libraryProblem(othersWritable, ROOT_ONLY), `library ${othersWritable} is writable by others (mode 0646): ${RATIONALE}`);
  });

  it('when a directory above it is writable by others, or by a group not only of trusted owners', () => {
    const NO_SUCH_GROUP = 4600; // no group entry: its members cannot be known
    for (const [mode, gid, who] of [
      [0o777, 0, 'others'],
      [0o775, DAEMON, 'its group'],
      [0o775, NO_SUCH_GROUP, 'its group'],
    ] as const) {
      const file = place({ fixture: 'libbasic.so' });
      const dir = path.dirname(file);
      fs.chownSync(dir, 0, gid);
      fs.chmodSync(dir, mode);
      assert.equal(libraryProblem(file, ROOT_ONLY), `directory ${dir} above library ${file} is writable by ${who} (mode 0${mode.toString(8)}): ${RATIONALE}`);
    }
  });

  it('but not when only root or trusted owners can write the directory through its group', () => {
    const file = place({ fixture: 'libbasic.so' });
    const dir = path.dirname(file);
    fs.chmodSync(dir, 0o775); // root:root, as a tar extracted by root leaves it
    assert.equal(libraryProblem(file, ROOT_ONLY), undefined);
    // The daemon group's one member is the daemon user: trusted once it is a trusted owner.
    fs.chownSync(dir, 0, DAEMON);
    assert.match(libraryProblem(file, ROOT_ONLY) ?? '', /writable by its group/);
    assert.equal(libraryProblem(file, new Set([0, DAEMON])), undefined);
  });

  it('but not under a sticky world-writable directory (as /tmp), the entry below it being root\'s', () => {
    const file = place({ fixture: 'libbasic.so' });
    const dir = path.dirname(file);
    const under = path.join(freshDir(), 'tmp');
    fs.mkdirSync(under);
    fs.chmodSync(under, 0o1777);
    const moved = path.join(under, 'lib');
    fs.renameSync(dir, moved);
    const library = path.join(moved, path.basename(file));
    assert.equal(libraryProblem(library, ROOT_ONLY), undefined, `${under}: the sticky bit keeps others from renaming root's entry`);
    fs.chownSync(moved, 4321, 0);
    assert.equal(libraryProblem(library, ROOT_ONLY), `directory ${moved} above library ${library} is owned by uid 4321, not by root or a trusted owner: ${RATIONALE}`);
    fs.chmodSync(under, 0o777);
    fs.chownSync(moved, 0, 0);
    assert.equal(libraryProblem(library, ROOT_ONLY), `directory ${under} above library ${library} is writable by others (mode 0777): ${RATIONALE}`, 'without the sticky bit');
    const stickyFile = place({ fixture: 'libbasic.so' }, 0o1666);
    assert.match(libraryProblem(stickyFile, ROOT_ONLY) ?? '', /^library \S+ is writable by others \(mode 01666\)/, 'the bit protects entries of a directory, not a file');
  });

  it('when owned by another user, unless a trusted owner', () => {
    const file = place({ fixture: 'libbasic.so' });
    fs.chownSync(file, 4321, 0);
    assert.equal(libraryProblem(file, ROOT_ONLY), `library ${file} is owned by uid 4321, not by root or a trusted owner: ${RATIONALE}`);
    assert.equal(libraryProblem(file, new Set([0, 4321])), undefined);
  });

  it('when a directory above it is owned by another user, unless a trusted owner', () => {
    const file = place({ fixture: 'libbasic.so' });
    const dir = path.dirname(file);
    fs.chownSync(dir, 4321, 0);
    assert.equal(libraryProblem(file, ROOT_ONLY), `directory ${dir} above library ${file} is owned by uid 4321, not by root or a trusted owner: ${RATIONALE}`);
    assert.equal(libraryProblem(file, new Set([0, 4321])), undefined);
  });

  it('when not an ELF shared object for this machine', () => {
    const refused = (file: string, what: string) => `library ${file} ${what}: only ELF shared objects for 64-bit x86 are loaded`;
    const text = place('#!/bin/sh\necho this is not a library, it is a text file\n');
    assert.equal(libraryProblem(text, ROOT_ONLY), refused(text, 'is not an ELF file'));
    const empty = place('');
    assert.equal(libraryProblem(empty, ROOT_ONLY), refused(empty, 'is not an ELF file'));
    const executable = place(elfHeader({ type: 2 }));
    assert.equal(libraryProblem(executable, ROOT_ONLY), refused(executable, 'is an ELF file but not a shared object'));
    const elf32 = place(elfHeader({ elfClass: 1 }));
    assert.equal(libraryProblem(elf32, ROOT_ONLY), refused(elf32, 'is an ELF file for another machine (not 64-bit x86)'));
    const aarch64 = place(elfHeader({ machine: 183 }));
    assert.equal(libraryProblem(aarch64, ROOT_ONLY), refused(aarch64, 'is an ELF file for another machine (not 64-bit x86)'));
  });
});

describe('decide', () => {
  let file: string;
  let policy: Policy;
  let lib2: string;
  let outside: string;
  const someone: Tenant = { uid: 5009, gid: 7000, pid: 0, groups: [] };
  const alice: Tenant = { uid: 5001, gid: 7000, pid: 0, groups: [] };
  const command = (library: string, fn = 'run', input?: string): Command => ({
    text: [library, fn, input].filter(Boolean).join(' '),
    library,
    function: fn,
    functionGiven: true,
    input,
  });
  /** A refusal without its tenant (checked by name). */
  const refusal = (d: Decision) => {
    if (d.allowed) return assert.fail(`allowed: ${d.rule}`);
    const { tenant, ...rest } = d;
    return { ...rest, tenant: tenant?.name };
  };
  const allowed = (d: Decision) => {
    if (!d.allowed) return assert.fail(`refused: ${d.reason}`);
    return d;
  };

  before(() => {
    lib2 = freshDir('lib2');
    outside = freshDir('outside');
    for (const copy of [path.join(lib2, 'libbasic.so'), path.join(lib2, 'libonly2.so'), path.join(outside, 'libbasic.so'), path.join(area.libDir, 'libbasic.so')]) {
      fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), copy);
      fs.chmodSync(copy, 0o755);
    }
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
    fs.writeFileSync(path.join(area.dataDir, 'in.txt'), 'input\n');
    fs.symlinkSync(path.join(outside, 'libbasic.so'), path.join(area.libDir, 'evil.so'));
    fs.symlinkSync('libbasic.so', path.join(area.libDir, 'alias.so'));
    file = path.join(area.root, 'policy.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        defaults: { libraryDirs: [area.libDir, lib2], inputDirs: [area.dataDir] },
        tenants: [
          {
            name: 'alice',
            match: { uids: [5001] },
            functions: [
              { library: lib2, allow: ['x'] },
              { library: path.join(area.libDir, 'libbasic.so'), allow: ['run', 'cat'] },
            ],
          },
        ],
      }),
    );
    policy = loadPolicy(file);
  });

  it('denies a symlink in a library directory that leads outside every one, naming the resolved path', () => {
    const link = path.join(area.libDir, 'evil.so');
    assert.deepEqual(refusal(decide(policy, command(link), someone)), {
      allowed: false,
      kind: 'denied',
      rule: 'defaults.libraryDirs',
      tenant: 'default',
      reason:
        `denied by policy '${file}', rule defaults.libraryDirs: library ${link} resolves to ${path.join(outside, 'libbasic.so')}, ` +
        `outside the libraryDirs of the default tenant (${area.libDir}, ${lib2})`,
    });
  });

  it('allows a symlink that leads inside, deciding on where it leads', () => {
    const decision = allowed(decide(policy, command(path.join(area.libDir, 'alias.so')), someone));
    assert.equal(decision.library, path.join(area.libDir, 'libbasic.so'));
    assert.equal(decision.rule, `the default tenant (no tenant matched); library: defaults.libraryDirs[0] (${area.libDir})`);
  });

  it('takes a relative library path with a slash for a bad request', () => {
    assert.deepEqual(refusal(decide(policy, command('lib/libbasic.so'), someone)), {
      allowed: false,
      kind: 'bad-request',
      rule: undefined,
      tenant: 'default',
      reason: "library path 'lib/libbasic.so' must be absolute, or a bare file name looked up in the allowed library directories",
    });
  });

  it('looks a bare library name up in the library directories, in order', () => {
    assert.equal(allowed(decide(policy, command('libbasic.so'), someone)).library, path.join(area.libDir, 'libbasic.so'));
    assert.equal(allowed(decide(policy, command('libonly2.so'), someone)).library, path.join(lib2, 'libonly2.so'));
    const reversed = path.join(area.root, 'reversed.json');
    fs.writeFileSync(reversed, JSON.stringify({ defaults: { libraryDirs: [lib2, area.libDir] } }));
    assert.equal(allowed(decide(loadPolicy(reversed), command('libbasic.so'), someone)).library, path.join(lib2, 'libbasic.so'));
    assert.deepEqual(refusal(decide(policy, command('libnone.so'), someone)), {
      allowed: false,
      kind: 'load-error',
      rule: undefined,
      tenant: 'default',
      reason: `library 'libnone.so' was not found in the library directories of the default tenant (${area.libDir}, ${lib2})`,
    });
  });

  it('denies an input outside the input directories, and allows one inside', () => {
    const secret = path.join(outside, 'secret.txt');
    assert.deepEqual(refusal(decide(policy, command('libbasic.so', 'cat', secret), someone)), {
      allowed: false,
      kind: 'denied',
      rule: 'defaults.inputDirs',
      tenant: 'default',
      reason: `denied by policy '${file}', rule defaults.inputDirs: input file ${secret} is not in an input directory of the default tenant (inputDirs: ${area.dataDir})`,
    });
    assert.equal(allowed(decide(policy, command('libbasic.so', 'cat', path.join(area.dataDir, 'in.txt')), someone)).input, path.join(area.dataDir, 'in.txt'));
  });

  it('denies a function the functions rule does not allow, naming that entry', () => {
    const library = path.join(area.libDir, 'libbasic.so');
    assert.deepEqual(refusal(decide(policy, command(library, 'solve'), alice)), {
      allowed: false,
      kind: 'denied',
      rule: 'tenants[0].functions[1]',
      tenant: 'alice',
      reason: `denied by policy '${file}', rule tenants[0].functions[1]: function 'solve' of ${library} is not allowed for tenant 'alice' (allowed: run, cat)`,
    });
    assert.equal(
      allowed(decide(policy, command(library, 'cat'), alice)).rule,
      `tenant 'alice' (uid 5001); library: defaults.libraryDirs[0] (${area.libDir}); function: tenants[0].functions[1]`,
    );
  });

  it('refuses a library the checks refuse, in an allowed directory', () => {
    const library = path.join(area.libDir, 'libwritable.so');
    fs.copyFileSync(path.join(fixturesBuild, 'libbasic.so'), library);
    fs.chmodSync(library, 0o664);
    assert.deepEqual(refusal(decide(policy, command(library), someone)), {
      allowed: false,
      kind: 'denied',
      rule: undefined,
      tenant: 'default',
      reason: `refused whatever the policy says: library ${library} is writable by its group (mode 0664): ${RATIONALE}`,
    });
  });

  it('names the rule and the file where an inherited directory list is written', () => {
    const dir = freshDir('policy.d');
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir] } }));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ tenants: [{ name: 'alice', match: { uids: [5001] } }] }));
    const secret = path.join(outside, 'secret.txt');
    const decision = refusal(decide(loadPolicy(dir), command('libbasic.so', 'cat', secret), alice));
    // alice sets no inputDirs: what denies her is defaults.inputDirs, in a.json.
    assert.equal(decision.rule, 'defaults.inputDirs');
    assert.ok(decision.reason.startsWith(`denied by policy '${path.join(dir, 'a.json')}', rule defaults.inputDirs: `), decision.reason);
  });
});
