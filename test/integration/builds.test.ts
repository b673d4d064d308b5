// The build sandbox: a command (make) runs in a private, writable copy of a
// bundle, with its own limits, no network, nothing writable but its work
// directory and /tmp; the output file is the build log. gcc and make work
// inside; a build that reaches for the network, loops forever or fills its
// disk fails, each named (fixtures/builds/).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Outcome } from '../../src/launcher/protocol.js';
import { createWorkDir, type WorkDir } from '../../src/launcher/work-dir.js';
import { packageRoot } from '../../src/paths.js';
import { writeData } from '../helpers/environment.js';
import { common, runAndRead, startLauncher, type TestLauncher } from '../helpers/launcher.js';
import { sandboxProcesses } from '../helpers/processes.js';
import { classified, DURATION } from '../helpers/programs.js';

const BUILD_LIMITS = { timeoutMs: 120_000, cpuMs: 60_000, memoryBytes: 512 << 20, maxProcs: 64, outputBytes: 4 << 20, tmpBytes: 64 << 20 };
const fixture = (name: string) => path.join(packageRoot, 'fixtures', ...(name === 'toupper' ? ['programs', 'toupper'] : ['builds', name]));

describe('builds', () => {
  let t: TestLauncher;
  let parent: string;
  const workDirs: WorkDir[] = [];
  before(async () => {
    t = await startLauncher({ hostname: 'builder' });
    parent = path.join(t.area.root, 'builds');
    fs.mkdirSync(parent, { mode: 0o700 });
  });
  after(async () => {
    for (const w of workDirs) w.release();
    await t.stop();
    assert.deepEqual(sandboxProcesses(), [], 'no sandbox process is left');
  });

  /** A private copy of a fixture bundle on its own tmpfs of `bytes`. */
  function workDir(name: string, bytes = 32 << 20): WorkDir {
    const w = createWorkDir({ parent, source: fixture(name), bytes });
    workDirs.push(w);
    return w;
  }

  const build = (work: WorkDir, command = ['make'], limits: object = {}) => ({
    ...common(t.area, { limits: { ...BUILD_LIMITS, ...limits } }),
    kind: 'build' as const,
    command,
    workDir: work.path,
  });

  it('builds TP7\'s toupper from its Makefile in a private copy (make and gcc work), and what it built runs', async () => {
    const work = workDir('toupper');
    const spec = build(work);
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, { kind: 'build', command: spec.command, workBytes: work.bytes });
    assert.equal(verdict.kind, 'ok', `${output}\n${verdict.reasons.join('\n')}`);
    assert.equal(output, 'cc -O2 -Wall -o toupper toupper.c\n', 'the build log');
    const built = path.join(work.path, 'toupper');
    const st = fs.statSync(built);
    assert.equal(st.uid, 0, 'what the build made is root\'s on the host');
    assert.equal(st.mode & 0o7777, 0o755);
    assert.deepEqual(fs.readdirSync(fixture('toupper')).sort(), ['Makefile', 'fnjail.json', 'toupper.c'], 'the bundle itself is untouched');
    // The result runs, as a program.
    const program = path.join(t.area.root, 'toupper-built');
    fs.copyFileSync(built, program);
    fs.chmodSync(program, 0o755);
    const run = { ...common(t.area), kind: 'program' as const, program, stdin: { file: writeData(t.area, 'tp7.txt', 'built here\n') } };
    assert.equal((await runAndRead(t, run)).output, 'builder 2 BUILT HERE\n');
  });

  it('a build that reaches for the network fails, naming the refused socket call, after gcc compiled its program', async () => {
    const work = workDir('network');
    const spec = build(work);
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, { kind: 'build', command: spec.command });
    assert.equal(verdict.kind, 'seccomp', output);
    assert.deepEqual(verdict.reasons, ["blocked system call socket (41) by seccomp profile 'program'"]);
    assert.match(output, /^cc -o reach reach\.c\n\.\/reach 10\.255\.255\.1 80\n$/);
    assert.ok(fs.existsSync(path.join(work.path, 'reach')), 'gcc built it');
  });

  it('a build that loops forever is stopped at its timeout', async () => {
    const work = workDir('forever');
    const spec = build(work, ['make'], { timeoutMs: 2000 });
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, { kind: 'build', command: spec.command });
    assert.equal(verdict.kind, 'timeout');
    assert.match(verdict.reasons[0]!, /^timed out after 2000 ms \(wall clock limit\); (1 process|\d+ processes) in the sandbox (was|were) killed$/);
    assert.match(output, /^echo building forever\nbuilding forever\nwhile :; do :; done\n$/);
  });

  it('a build that fills its disk is stopped at its limit, though every file it writes is below the output limit', async () => {
    const work = workDir('fill-disk', 4 << 20);
    const spec = build(work);
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, { kind: 'build', command: spec.command, workBytes: work.bytes });
    assert.equal(verdict.kind, 'limit', output);
    assert.deepEqual(verdict.limitsHit, ['disk']);
    assert.match(verdict.reasons.join('\n'), new RegExp(`^disk limit of 4 MiB of the work directory reached: writes failed with "No space left on device"; build command 'make' exited with status 2 after ${DURATION}$`));
    assert.match(output, /No space left on device/);
  });

  it('a build cannot write outside its work directory and its private /tmp', async () => {
    const work = workDir('escape');
    const bundle = path.join(t.area.root, 'escape-bundle');
    fs.cpSync(fixture('escape'), bundle, { recursive: true });
    const name = `escaped-${randomBytes(4).toString('hex')}`;
    const spec = { ...build(work, ['make', `BUNDLE=${bundle}`, `NAME=${name}`]), bundleDir: bundle };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, { kind: 'build', command: spec.command }).kind, 'ok', output);
    const refused = [`/${name}`, `${bundle}/${name}`, `${work.path}/../${name}`, `/var/${name}`, `/etc/${name}`, `/usr/${name}`];
    const written = [`/dev/shm/${name}`, `/tmp/${name}`, `${work.path}/${name}`];
    const why = (f: string) => `/bin/sh: 2: cannot create ${f}: Read-only file system`;
    assert.equal(output, [...refused.flatMap((f) => [why(f), `could not write ${f}`]), ...written.map((f) => `wrote ${f}`), ''].join('\n'));
    for (const file of [...refused, `/tmp/${name}`, `/dev/shm/${name}`]) assert.ok(!fs.existsSync(file), `${file} exists on the host`);
    assert.deepEqual(fs.readdirSync(bundle).sort(), ['Makefile'], 'the bundle is read-only');
    assert.equal(fs.readFileSync(path.join(work.path, name), 'utf8'), 'x\n');
  });

  it('refuses a work directory on a file system that honours setuid bits', async () => {
    const plain = path.join(t.area.root, 'plain-work');
    fs.mkdirSync(plain, { mode: 0o700 });
    const spec = { ...build({ path: plain, bytes: 0, release: () => {} }) };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(output, '');
    assert.equal(result.outcome, Outcome.LaunchFailed);
    assert.equal(
      result.message,
      `work directory ${plain} is on a file system that honours setuid bits: a build could leave a setuid-root file there; give it a nosuid file system of its own`,
    );
  });
});
