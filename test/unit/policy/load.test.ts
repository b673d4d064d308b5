// loadPolicy (src/policy/policy.ts, policy-files.ts) on real files: a policy
// directory read in name order; complete grants inherited field by field;
// sizes; every conflict and unknown name reported, located (file, line,
// column, JSON pointer), never resolved by file order; schema problems of
// several files reported together; the hash; trustedOwners by name; the
// command line's --allow-dir and --seccomp; missing directories as warnings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidJsonFile, type Problem } from '../../../src/config/json-file.js';
import { DEFAULT_LIMITS, loadPolicy, type LoadOptions } from '../../../src/policy/policy.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';

const MiB = 1024 * 1024;
let area: TestArea;
before(() => {
  area = createTestArea();
});
after(() => area.cleanup());

let count = 0;
/** A fresh policy directory holding these files: a document, or raw text. */
function policyDir(files: Record<string, object | string>): string {
  const dir = path.join(area.root, `policy-${++count}`);
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

/** The problems loadPolicy reports; fails if it accepts the policy. */
function problemsOf(policyPath: string, options?: LoadOptions): Problem[] {
  try {
    loadPolicy(policyPath, options);
  } catch (error) {
    if (error instanceof InvalidJsonFile) return error.problems;
    throw error;
  }
  return assert.fail(`the policy ${policyPath} was accepted`);
}

/** Where the nth occurrence of needle starts in a file (1-based line and column). */
function at(file: string, needle: string, nth = 1): { line: number; column: number } {
  const text = fs.readFileSync(file, 'utf8');
  let offset = -1;
  for (let k = 0; k < nth; k++) {
    offset = text.indexOf(needle, offset + 1);
    assert.notEqual(offset, -1, `${needle} (#${nth}) is not in ${file}`);
  }
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/** The one problem expected, located at needle in file. */
const problem = (file: string, pointer: string, needle: string, message: string, nth = 1): Problem => ({ file, pointer, ...at(file, needle, nth), message });

const tenant = (name: string, match: object, rest: object = {}) => ({ name, match, ...rest });

describe('a policy directory', () => {
  it('reads its *.json files in name order and ignores the rest', () => {
    const dir = policyDir({
      '20-b.json': { tenants: [tenant('b', { uids: [5002] })] },
      '10-a.json': { defaults: {}, tenants: [tenant('a', { uids: [5001] })] },
      'README.txt': 'not a policy',
      '10-a.json.bak': '{ broken',
    });
    const policy = loadPolicy(dir);
    assert.equal(policy.path, dir);
    assert.deepEqual(policy.files, [path.join(dir, '10-a.json'), path.join(dir, '20-b.json')]);
    assert.deepEqual(
      policy.tenants.map((t) => [t.name, t.rule, t.source, t.uids]),
      [
        ['a', 'tenants[0]', path.join(dir, '10-a.json'), [5001]],
        ['b', 'tenants[0]', path.join(dir, '20-b.json'), [5002]],
      ],
    );
    assert.equal(policy.defaults?.source, path.join(dir, '10-a.json'));
  });

  it("leaves out hidden files (editors' locks and swap files) and locates a file it cannot read", () => {
    const dir = policyDir({ '10-a.json': { tenants: [tenant('a', { uids: [5001] })] } });
    fs.symlinkSync('nobody@host.1234', path.join(dir, '.#10-a.json')); // an Emacs lock: a dangling symlink
    fs.writeFileSync(path.join(dir, '.10-a.json.swp'), 'binary junk');
    assert.deepEqual(loadPolicy(dir).files, [path.join(dir, '10-a.json')]);
    fs.symlinkSync(path.join(dir, 'gone.json'), path.join(dir, '20-b.json'));
    const [unreadable, ...rest] = problemsOf(dir);
    assert.deepEqual(rest, []);
    assert.equal(unreadable!.file, path.join(dir, '20-b.json'));
    assert.match(unreadable!.message, /^cannot be read: ENOENT/);
  });

  it('holding no *.json file is a problem naming the directory', () => {
    const dir = policyDir({ 'policy.txt': '{}' });
    assert.deepEqual(problemsOf(dir), [
      { file: dir, pointer: '', line: undefined, column: undefined, message: 'the policy directory holds no *.json file' },
    ]);
    assert.throws(() => loadPolicy(policyDir({})), { name: 'InvalidJsonFile', message: /: \(top level\): the policy directory holds no \*\.json file$/ });
  });

  it('may be a single file', () => {
    const dir = policyDir({ 'one.json': { tenants: [tenant('a', { uids: [5001] })] } });
    const policy = loadPolicy(path.join(dir, 'one.json'));
    assert.deepEqual(policy.files, [path.join(dir, 'one.json')]);
    assert.equal(policy.defaults, undefined);
  });
});

describe('complete grants', () => {
  it('a tenant takes each field it does not set from the defaults, limits field by field', () => {
    const dir = policyDir({
      'a.json': {
        defaults: {
          libraryDirs: [area.libDir],
          inputDirs: [area.dataDir],
          functions: [{ library: area.libDir, allow: ['run'] }],
          limits: { memory: '16 MiB', timeoutMs: 1000 },
          seccompProfile: 'minimal',
          maxConcurrent: 3,
        },
      },
      'b.json': {
        tenants: [
          tenant('inherits', { uids: [5001] }, { limits: { timeoutMs: 700 } }),
          tenant('own', { uids: [5002] }, {
            libraryDirs: [area.dataDir],
            inputDirs: [area.libDir],
            functions: [{ library: path.join(area.libDir, 'libbasic.so'), allow: ['cat'] }],
            limits: { memory: 4096, output: '1 MiB' },
            seccompProfile: 'learn',
            maxConcurrent: 1,
          }),
        ],
      },
    });
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    const policy = loadPolicy(dir);
    const dirs = (list: { rule: string; source: string; dir: string }[]) => list.map((d) => [d.rule, d.source, d.dir]);
    const [inherits, own] = policy.tenants;

    assert.deepEqual(policy.defaults!.grant.limits, { ...DEFAULT_LIMITS, timeoutMs: 1000, memoryBytes: 16 * MiB });
    assert.deepEqual(inherits!.grant.limits, { ...DEFAULT_LIMITS, timeoutMs: 700, memoryBytes: 16 * MiB });
    assert.deepEqual(dirs(inherits!.grant.libraryDirs), [['defaults.libraryDirs[0]', a, area.libDir]]);
    assert.deepEqual(dirs(inherits!.grant.inputDirs), [['defaults.inputDirs[0]', a, area.dataDir]]);
    assert.deepEqual(inherits!.grant.functions?.map((f) => [f.rule, f.library, f.isDirectory, f.patterns]), [['defaults.functions[0]', area.libDir, true, ['run']]]);
    assert.equal(inherits!.grant.seccomp.name, 'minimal');
    assert.equal(inherits!.grant.maxConcurrent, 3);

    assert.deepEqual(own!.grant.limits, { ...DEFAULT_LIMITS, timeoutMs: 1000, memoryBytes: 4096, outputBytes: MiB });
    assert.deepEqual(dirs(own!.grant.libraryDirs), [['tenants[1].libraryDirs[0]', b, area.dataDir]]);
    assert.deepEqual(dirs(own!.grant.inputDirs), [['tenants[1].inputDirs[0]', b, area.libDir]]);
    assert.deepEqual(own!.grant.functions?.map((f) => [f.rule, f.source, f.isDirectory, f.patterns]), [['tenants[1].functions[0]', b, false, ['cat']]]);
    assert.equal(own!.grant.seccomp.name, 'learn');
    assert.equal(own!.grant.maxConcurrent, 1);
  });

  it("without defaults, a tenant gets the server's", () => {
    const dir = policyDir({ 'p.json': { tenants: [tenant('a', { uids: [5001] })] } });
    const { grant } = loadPolicy(dir).tenants[0]!;
    assert.deepEqual(grant.limits, DEFAULT_LIMITS);
    assert.deepEqual(grant.libraryDirs, []);
    assert.deepEqual(grant.inputDirs, []);
    assert.equal(grant.functions, undefined);
    assert.equal(grant.seccomp.name, 'default');
    assert.equal(grant.maxConcurrent, undefined);
  });

  it('reads sizes with units', () => {
    const dir = policyDir({ 'p.json': { defaults: { limits: { memory: '16 MiB', output: '1.5 KiB', tmp: ' 2GiB ' } } } });
    const { limits } = loadPolicy(dir).defaults!.grant;
    assert.equal(limits.memoryBytes, 16 * MiB);
    assert.equal(limits.outputBytes, 1536);
    assert.equal(limits.tmpBytes, 2 * 1024 * MiB);
  });
});

describe('conflicts and unknown names', () => {
  it('defaults set in two files', () => {
    const dir = policyDir({ 'a.json': { defaults: {} }, 'b.json': { defaults: { limits: { timeoutMs: 1 } } } });
    const b = path.join(dir, 'b.json');
    assert.deepEqual(problemsOf(dir), [
      problem(b, '/defaults', '"defaults"', `defaults are set again here; they are set in ${path.join(dir, 'a.json')} already (set them in one file)`),
    ]);
  });

  it('trustedOwners set in two files', () => {
    const dir = policyDir({ 'a.json': { trustedOwners: ['root'] }, 'b.json': { trustedOwners: [4321] } });
    const b = path.join(dir, 'b.json');
    assert.deepEqual(problemsOf(dir), [
      problem(b, '/trustedOwners', '"trustedOwners"', `trustedOwners are set again here; they are set in ${path.join(dir, 'a.json')} already (set them in one file)`),
    ]);
  });

  it('the same tenant name twice, in one file and across files', () => {
    const dir = policyDir({
      'a.json': { tenants: [tenant('alice', { uids: [5001] }), tenant('alice', { uids: [5002] })] },
      'b.json': { tenants: [tenant('alice', { uids: [5003] })] },
    });
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    assert.deepEqual(problemsOf(dir), [
      problem(a, '/tenants/1/name', '"name"', `tenant 'alice' is defined already in ${a}`, 2),
      problem(b, '/tenants/0/name', '"name"', `tenant 'alice' is defined already in ${a}`),
    ]);
  });

  it('the same uid in two tenants, in one file and across files', () => {
    const dir = policyDir({
      'a.json': { tenants: [tenant('a', { uids: [5001] }), tenant('b', { uids: [5002, 5001] })] },
      'b.json': { tenants: [tenant('c', { uids: [5002] })] },
    });
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    assert.deepEqual(problemsOf(dir), [
      problem(a, '/tenants/1/match/uids/1', '5001', `uid 5001 matches tenant 'a' already (${a}); one id, one tenant`, 2),
      problem(b, '/tenants/0/match/uids/0', '5002', `uid 5002 matches tenant 'b' already (${a}); one id, one tenant`),
    ]);
  });

  it('the same gid in two tenants, by number and by group name', () => {
    const dir = policyDir({
      'a.json': { tenants: [tenant('a', { gids: [6001, 1] })] },
      'b.json': { tenants: [tenant('b', { gids: [6001] }), tenant('c', { groups: ['daemon'] })] },
    });
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    assert.deepEqual(problemsOf(dir), [
      problem(b, '/tenants/0/match/gids/0', '6001', `gid 6001 matches tenant 'a' already (${a}); one id, one tenant`),
      problem(b, '/tenants/1/match/groups/0', '"daemon"', `group 'daemon' (gid 1) matches tenant 'a' already (${a}); one id, one tenant`),
    ]);
  });

  it('a user name and a uid that are the same user', () => {
    const dir = policyDir({ 'a.json': { tenants: [tenant('by-uid', { uids: [0] }), tenant('by-name', { users: ['root'] })] } });
    const a = path.join(dir, 'a.json');
    assert.deepEqual(problemsOf(dir), [
      problem(a, '/tenants/1/match/users/0', '"root"', `user 'root' (uid 0) matches tenant 'by-uid' already (${a}); one id, one tenant`),
    ]);
    // Within one tenant, both name the same id once.
    const same = policyDir({ 'a.json': { tenants: [tenant('root', { uids: [0], users: ['root'] })] } });
    assert.deepEqual(loadPolicy(same).tenants[0]!.uids, [0]);
  });

  it('an unknown user name and group name', () => {
    const dir = policyDir({ 'a.json': { tenants: [tenant('a', { users: ['fnjail-no-such-user'], groups: ['fnjail-no-such-group'] })] } });
    const a = path.join(dir, 'a.json');
    assert.deepEqual(problemsOf(dir), [
      problem(a, '/tenants/0/match/users/0', '"fnjail-no-such-user"', "unknown user 'fnjail-no-such-user'"),
      problem(a, '/tenants/0/match/groups/0', '"fnjail-no-such-group"', "unknown group 'fnjail-no-such-group'"),
    ]);
  });

  it('an unknown seccomp profile name', () => {
    const dir = policyDir({ 'a.json': { defaults: {}, tenants: [tenant('a', { uids: [5001] }, { seccompProfile: 'nosuch' })] } });
    const a = path.join(dir, 'a.json');
    const problems = problemsOf(dir);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    const { message, ...where } = problems[0]!;
    assert.deepEqual(where, { file: a, pointer: '/tenants/0/seccompProfile', ...at(a, '"seccompProfile"') });
    assert.equal(message, "seccomp profile 'nosuch' cannot be used: no such profile; shipped: default, learn, minimal, program; or an absolute path to a profile file, or none");
  });

  it('two functions entries for one library', () => {
    const lib = path.join(area.libDir, 'libbasic.so');
    const dir = policyDir({ 'a.json': { defaults: { functions: [{ library: lib, allow: ['run'] }, { library: area.libDir, allow: ['*'] }, { library: lib, allow: ['cat'] }] } } });
    const a = path.join(dir, 'a.json');
    assert.deepEqual(problemsOf(dir), [
      problem(a, '/defaults/functions/2/library', '"library"', `${lib} has an entry already (defaults.functions[0]); put its functions in one entry`, 3),
    ]);
  });
});

describe('schema problems', () => {
  it('are located by line and column', () => {
    const dir = policyDir({ 'a.json': { defaults: { colour: 'red', limits: { memory: '16 MB' } } } });
    const a = path.join(dir, 'a.json');
    const problems = problemsOf(dir);
    assert.deepEqual(problems[0], problem(a, '/defaults/colour', '"colour"', "unknown property 'colour'"));
    assert.equal(problems.length, 2, JSON.stringify(problems));
    const { message, ...where } = problems[1]!;
    assert.deepEqual(where, { file: a, pointer: '/defaults/limits/memory', ...at(a, '"memory"') });
    assert.match(message, /^must be a size in bytes/);
  });

  it('of several files are reported together, with the conflicts of the valid ones', () => {
    const dir = policyDir({
      'a.json': { defaults: { extra: 1 } },
      'b.json': '{\n  "defaults": {,}\n}',
      'c.json': { trustedOwners: ['fnjail-no-such-user'] },
    });
    const [a, b, c] = ['a.json', 'b.json', 'c.json'].map((f) => path.join(dir, f)) as [string, string, string];
    try {
      loadPolicy(dir);
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof InvalidJsonFile, String(error));
      assert.equal(error.file, dir);
      assert.deepEqual(
        error.problems.map((p) => [p.file, p.pointer, p.line]),
        [
          [a, '/defaults/extra', at(a, '"extra"').line],
          [b, '', 2],
          [c, '/trustedOwners/0', at(c, '"fnjail-no-such-user"').line],
        ],
      );
      assert.equal(error.problems[2]!.message, "unknown user 'fnjail-no-such-user'");
    }
  });

  it('a trailing comma is located at the bracket after it', () => {
    const dir = policyDir({ 'a.json': '{\n  "tenants": [\n    { "name": "a", "match": { "uids": [5001] } },\n  ]\n}' });
    const [only, ...more] = problemsOf(dir);
    assert.deepEqual(more, []);
    assert.deepEqual([only!.file, only!.pointer, only!.line, only!.column], [path.join(dir, 'a.json'), '', 4, 3]);
    assert.match(only!.message, /^not valid JSON: /);
  });
});

describe('the hash', () => {
  it('changes when a file changes, and back', () => {
    const dir = policyDir({ 'a.json': { defaults: {} }, 'b.json': { tenants: [] } });
    const first = loadPolicy(dir).hash;
    assert.match(first, /^[0-9a-f]{64}$/);
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ tenants: [tenant('a', { uids: [5001] })] }));
    const second = loadPolicy(dir).hash;
    assert.notEqual(second, first);
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ tenants: [] }, null, 2));
    assert.equal(loadPolicy(dir).hash, first);
  });

  it('differs for the same content under another file name', () => {
    const content = { defaults: { limits: { timeoutMs: 100 } } };
    assert.notEqual(loadPolicy(policyDir({ 'a.json': content })).hash, loadPolicy(policyDir({ 'b.json': content })).hash);
  });
});

describe('trusted owners', () => {
  it('are root, and the users named, by name or uid', () => {
    assert.deepEqual(loadPolicy(policyDir({ 'a.json': { defaults: {} } })).trustedOwners, new Set([0]));
    assert.deepEqual(loadPolicy(policyDir({ 'a.json': { trustedOwners: ['root', 'daemon', 4321] } })).trustedOwners, new Set([0, 1, 4321]));
  });
});

describe('the command line', () => {
  it('--allow-dir is added to every grant, canonical, after what the policy says', () => {
    const extra = path.join(area.root, 'extra');
    const link = path.join(area.root, 'extra-link');
    fs.mkdirSync(extra);
    fs.symlinkSync(extra, link);
    const dir = policyDir({
      'a.json': {
        defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir] },
        tenants: [tenant('own', { uids: [5001] }, { libraryDirs: [area.dataDir], inputDirs: [] }), tenant('inherits', { uids: [5002] })],
      },
    });
    const policy = loadPolicy(dir, { allowDirs: [link] });
    const dirs = (list: { rule: string; dir: string }[]) => list.map((d) => `${d.rule} ${d.dir}`);
    const grants = [policy.defaults!, ...policy.tenants].map((t) => [dirs(t.grant.libraryDirs), dirs(t.grant.inputDirs)]);
    assert.deepEqual(grants, [
      [
        [`defaults.libraryDirs[0] ${area.libDir}`, `--allow-dir ${extra}`],
        [`defaults.inputDirs[0] ${area.dataDir}`, `--allow-dir ${extra}`],
      ],
      [[`tenants[0].libraryDirs[0] ${area.dataDir}`, `--allow-dir ${extra}`], [`--allow-dir ${extra}`]],
      [
        [`defaults.libraryDirs[0] ${area.libDir}`, `--allow-dir ${extra}`],
        [`defaults.inputDirs[0] ${area.dataDir}`, `--allow-dir ${extra}`],
      ],
    ]);
    assert.deepEqual(policy.warnings, []);
  });

  it('--seccomp replaces every grant\'s profile', () => {
    const dir = policyDir({
      'a.json': { defaults: { seccompProfile: 'learn' }, tenants: [tenant('own', { uids: [5001] }, { seccompProfile: 'default' }), tenant('inherits', { uids: [5002] })] },
    });
    const names = (options: LoadOptions) => {
      const policy = loadPolicy(dir, options);
      return [policy.defaults!, ...policy.tenants].map((t) => t.grant.seccomp.name);
    };
    assert.deepEqual(names({}), ['learn', 'default', 'learn']);
    assert.deepEqual(names({ seccomp: 'minimal' }), ['minimal', 'minimal', 'minimal']);
    assert.deepEqual(names({ seccomp: 'none' }), ['none', 'none', 'none']);
  });
});

describe('directories that do not exist', () => {
  it('are warnings, not failures', () => {
    const missing = path.join(area.root, 'not-yet');
    const dir = policyDir({ 'a.json': { defaults: { libraryDirs: [area.libDir, missing], functions: [{ library: `${missing}/x.so`, allow: ['run'] }] } } });
    const a = path.join(dir, 'a.json');
    const policy = loadPolicy(dir, { allowDirs: [`${missing}-too`] });
    const tail = 'does not exist (yet); nothing in it can be used until it does';
    assert.deepEqual(policy.warnings, [
      `--allow-dir: ${missing}-too ${tail}`,
      `${a}: defaults.libraryDirs[1]: ${missing} ${tail}`,
      `${a}: defaults.functions[0]: ${missing}/x.so ${tail}`,
    ]);
    assert.deepEqual(
      policy.defaults!.grant.libraryDirs.map((d) => d.dir),
      [area.libDir, missing, `${missing}-too`],
    );
  });
});

describe('files the policy is read from', () => {
  const TENANT_UID = 4601;
  const policyText = JSON.stringify({ monitors: { uids: [TENANT_UID] }, defaults: { libraryDirs: [] } });
  const messages = (policyPath: string) => problemsOf(policyPath).map((p) => `${p.file}: ${p.message}`);
  const rationale = 'whoever can change the policy decides who may run what';

  it('refuses a file others or its group can change (no warning: a refusal)', () => {
    for (const [mode, who] of [[0o666, 'others'], [0o664, 'its group']] as const) {
      const dir = policyDir({ 'a.json': policyText });
      const file = path.join(dir, 'a.json');
      fs.chmodSync(file, mode);
      assert.deepEqual(messages(dir), [`${file}: refused: policy file ${file} is writable by ${who} (mode 0${mode.toString(8)}): ${rationale}`]);
    }
  });

  it('refuses a file a tenant owns, and one below a directory others can change', () => {
    const dir = policyDir({ 'a.json': policyText });
    const file = path.join(dir, 'a.json');
    fs.chownSync(file, TENANT_UID, TENANT_UID);
    assert.deepEqual(messages(dir), [`${file}: refused: policy file ${file} is owned by uid ${TENANT_UID}, not by root or a trusted owner: ${rationale}`]);
    fs.chownSync(file, 0, 0);
    fs.chmodSync(dir, 0o777);
    assert.deepEqual(messages(dir), [`${file}: refused: directory ${dir} above policy file ${file} is writable by others (mode 0777): ${rationale}`]);
  });

  it('takes the library rule whole: a directory writable only through root\'s group, or sticky with root\'s entry below, is accepted', () => {
    // One rule (src/policy/file-trust.ts) for libraries, policy files and state directories.
    const DAEMON = 1; // Debian's daemon group, whose one member is not a trusted owner
    const dir = policyDir({ 'a.json': policyText });
    const file = path.join(dir, 'a.json');
    fs.chmodSync(dir, 0o775); // root:root, as a tar extracted by root leaves it
    assert.equal(loadPolicy(dir).monitors.uids.has(TENANT_UID), true);
    fs.chownSync(dir, 0, DAEMON);
    assert.deepEqual(messages(dir), [`${file}: refused: directory ${dir} above policy file ${file} is writable by its group (mode 0775): ${rationale}`]);
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, 0o755);
    const sticky = path.join(area.root, `sticky-${++count}`);
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);
    const moved = path.join(sticky, 'policy.d');
    fs.renameSync(dir, moved);
    assert.equal(loadPolicy(moved).monitors.uids.has(TENANT_UID), true, 'the sticky bit keeps others from renaming root\'s entry');
    fs.chownSync(moved, TENANT_UID, TENANT_UID);
    assert.match(problemsOf(moved).map((p) => p.message).join('\n'), new RegExp(`directory ${moved} above policy file .* is owned by uid ${TENANT_UID}`));
  });

  it('refuses an entry that links out of the policy directory, whoever owns the target', () => {
    const outside = path.join(area.root, `tenant-owned-${++count}.json`);
    fs.writeFileSync(outside, policyText);
    fs.chownSync(outside, TENANT_UID, TENANT_UID);
    const dir = policyDir({});
    const link = path.join(dir, '50-monitor.json');
    fs.symlinkSync(outside, link);
    assert.deepEqual(messages(dir), [`${link}: is a symbolic link to ${outside}, outside the policy directory: refused (a link may only name another file of the directory)`]);
    // Even to a root-owned file: what is outside the directory is not policy.
    fs.chownSync(outside, 0, 0);
    assert.equal(problemsOf(dir).length, 1);
  });

  it('follows a link to another file of the directory', () => {
    const dir = policyDir({ 'available.json.off': policyText });
    fs.symlinkSync(path.join(dir, 'available.json.off'), path.join(dir, '10-enabled.json'));
    assert.deepEqual([...loadPolicy(dir).monitors.uids], [TENANT_UID]);
  });
});
