// Programs in the sandbox, per request: an executable (or a script run by an
// interpreter from the read-only system directories) with its arguments,
// environment and working directory, the request on stdin and stdout as the
// output, under the same isolation as a library call. Each misbehaving program
// is stopped and named exactly as a library is (the Reason lines of
// classify.ts), leaving no process behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Outcome } from '../../src/launcher/protocol.js';
import { writeData } from '../helpers/environment.js';
import { common, installProgram, runAndRead, startLauncher, type TestLauncher } from '../helpers/launcher.js';
import { sandboxProcesses } from '../helpers/processes.js';
import { classified, DURATION, PYTHON3 } from '../helpers/programs.js';

const HOST = 'node-7';

describe('programs, per request', () => {
  let t: TestLauncher;
  before(async () => {
    t = await startLauncher({ hostname: HOST });
  });
  after(async () => {
    await t.stop();
    assert.deepEqual(sandboxProcesses(), [], 'no sandbox process is left');
  });

  const program = (name: string) => installProgram(t.area, name);

  it('runs with its arguments, the minimal environment and the caller\'s additions, in /tmp, as a fresh uid, under the given host name, with fds 0-2 only', async () => {
    const show = program('show');
    const spec = { ...common(t.area), kind: 'program' as const, program: show, argv: ['show', 'two words', ''], env: { GREETING: 'hello there', LANG: 'C' } };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    const uid = t.launcher.info!.uidFirst;
    assert.match(output, /^argv\[0\]=show\nargv\[1\]=two words\nargv\[2\]=\n/);
    const env = [...output.matchAll(/^env (.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'TMPDIR=/tmp', 'LANG=C', 'GREETING=hello there']);
    assert.match(output, /^cwd=\/tmp$/m);
    const ids = /^uid=(\d+) euid=(\d+) gid=(\d+) egid=(\d+) pid=(\d+)$/m.exec(output)!;
    assert.ok(Number(ids[1]) >= uid && Number(ids[1]) < uid + t.launcher.info!.uidCount, output);
    assert.deepEqual([ids[2], ids[3], ids[4], ids[5]], [ids[1], ids[1], ids[1], '2']);
    assert.match(output, new RegExp(`^hostname=${HOST}$`, 'm'));
    assert.match(output, /^fds=0 1 2 $/m);
  });

  it('gives the request on stdin; what the program prints is the output (TP7\'s toupper)', async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('toupper'), stdin: { file: writeData(t.area, 'hello.txt', 'hello\nbonjour\n') } };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok');
    assert.equal(output, `${HOST} 2 HELLO\n${HOST} 2 BONJOUR\n`);
  });

  it('runs a /bin/sh script: its interpreter comes from the read-only system directories', async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('upper.sh'), stdin: { file: writeData(t.area, 'sh.txt', 'from a script\n') } };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    assert.equal(output, `${HOST}: FROM A SCRIPT\n`);
  });

  it('runs in an address space of its own (its worker ran in its supervisor\'s until the exec): nothing of the launcher mapped, readable by itself, no_new_privs and seccomp in force, the usual umask', async () => {
    // The worker of a program shares its supervisor's memory until it
    // executes the program (sandbox/program-worker.c); the exec must leave the
    // program only its own mappings, made dumpable again (else its /proc/self
    // would be root's and unreadable to it), with the filter installed before.
    const look = path.join(t.area.root, 'maps.sh');
    fs.writeFileSync(look, '#!/bin/sh\necho "launcher mappings: $(grep -c fnjail-launcher /proc/$$/maps)"\necho "own mappings: $(grep -c /bin/ /proc/$$/maps)"\ngrep -E "^(TracerPid|NoNewPrivs|Seccomp):" /proc/$$/status\necho "umask $(umask)"\n', { mode: 0o755 });
    const spec = { ...common(t.area), kind: 'program' as const, program: look };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    assert.match(output, /^launcher mappings: 0\nown mappings: [1-9]\d*\nTracerPid:\t0\nNoNewPrivs:\t1\nSeccomp:\t2\numask 0022\n$/);
  });

  it('runs a python3 script, python3 being installed on this host', { skip: fs.existsSync(PYTHON3) ? false : `${PYTHON3} is not installed on this host: nothing to run python3 scripts with` }, async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('upper.py'), stdin: { file: writeData(t.area, 'py.txt', 'from python\n') } };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    assert.match(output, /^python 3\.\d+: FROM PYTHON\n$/);
  });

  it('runs a script in its bundle directory, placed read-only at its own path: data files readable, nothing writable, the script named by its path', async () => {
    const bundle = path.join(t.area.root, 'bundle-a');
    fs.mkdirSync(bundle, { mode: 0o755 });
    fs.writeFileSync(path.join(bundle, 'data.txt'), 'bundle data\n');
    const script = path.join(bundle, 'run.sh');
    fs.writeFileSync(script, '#!/bin/sh\ncat data.txt\necho "I am $0"\ntouch new || echo "touch failed"\necho x > data.txt || echo "write failed"\npwd\n', { mode: 0o755 });
    const spec = { ...common(t.area), kind: 'program' as const, program: script, cwd: bundle, bundleDir: bundle };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    // The script knows itself by its path (not /dev/fd/N), and so do the interpreter's messages.
    assert.equal(
      output,
      `bundle data\nI am ${script}\ntouch: cannot touch 'new': Read-only file system\ntouch failed\n` +
        `${script}: 5: cannot create data.txt: Read-only file system\nwrite failed\n${bundle}\n`,
    );
    assert.deepEqual(fs.readdirSync(bundle).sort(), ['data.txt', 'run.sh']);
  });

  it('a setuid-root program gains nothing: it runs as the sandbox uid (no_new_privs, nosuid mounts)', async () => {
    const setuid = path.join(t.area.root, 'bin', 'show-setuid');
    fs.copyFileSync(program('show'), setuid);
    fs.chmodSync(setuid, 0o4755);
    assert.equal(fs.statSync(setuid).uid, 0);
    const spec = { ...common(t.area), kind: 'program' as const, program: setuid };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    const ids = /^uid=(\d+) euid=(\d+) /m.exec(output)!;
    assert.equal(ids[2], ids[1]);
    assert.equal(Number(ids[2]), result.sandboxUid);
  });

  it('a program that crashes is killed by SIGSEGV, its output kept', async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('crash') };
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, spec);
    assert.equal(output, 'about to crash\n');
    assert.equal(verdict.kind, 'signal');
    assert.match(verdict.reasons.join('\n'), new RegExp(`^killed by signal 11 \\(SIGSEGV, invalid memory reference\\) after ${DURATION}$`));
  });

  it('a program that exits with status 3 is named with its path', async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('exit3') };
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, spec);
    assert.equal(output, 'exiting with 3\n');
    assert.equal(verdict.kind, 'exit');
    assert.match(verdict.reasons.join('\n'), new RegExp(`^program ${spec.program} exited with status 3 after ${DURATION}$`));
  });

  it('a program that prints, then sleeps past its timeout, is killed at the wall-clock limit, its output kept', async () => {
    const spec = { ...common(t.area, { limits: { timeoutMs: 1000 } }), kind: 'program' as const, program: program('sleeper') };
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, spec);
    assert.equal(output, 'started, now sleeping\n');
    assert.equal(verdict.kind, 'timeout');
    assert.deepEqual(verdict.reasons, ['timed out after 1000 ms (wall clock limit); 1 process in the sandbox was killed']);
    assert.deepEqual(verdict.limitsHit, ['time']);
  });

  it('a fork bomb hits the process limit and is ended by the CPU or wall-clock limit', async () => {
    const spec = { ...common(t.area, { limits: { timeoutMs: 3000, cpuMs: 1000, maxProcs: 32 } }), kind: 'program' as const, program: program('forkbomb') };
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, spec);
    assert.match(output, /^forking\n/);
    assert.match(verdict.kind, /^(limit|timeout)$/);
    assert.match(verdict.reasons[0]!, /^(CPU time limit of 1 s exceeded .*|timed out after 3000 ms .*)$/);
    assert.ok(verdict.reasons.includes('process limit of 32 reached: creating a process or thread failed'), verdict.reasons.join('\n'));
    assert.ok(verdict.limitsHit.includes('processes'));
  });

  it('a program making a refused system call is killed, and the call named', async () => {
    const spec = { ...common(t.area), kind: 'program' as const, program: program('syscall'), argv: ['syscall', 'ptrace'] };
    const { result, output } = await runAndRead(t, spec);
    const verdict = classified(result, spec.limits, spec);
    assert.equal(output, '');
    assert.equal(verdict.kind, 'seccomp');
    assert.deepEqual(verdict.reasons, ["blocked system call ptrace (101) by seccomp profile 'program'"]);
  });

  it('a file that cannot be executed is a load error naming the program and the errno', async () => {
    const garbage = path.join(t.area.root, 'bin', 'garbage');
    fs.mkdirSync(path.dirname(garbage), { recursive: true });
    fs.writeFileSync(garbage, 'not a program at all\n', { mode: 0o755 });
    const notExecutable = path.join(t.area.root, 'bin', 'no-x');
    fs.copyFileSync(installProgram(t.area, 'exit3'), notExecutable);
    fs.chmodSync(notExecutable, 0o644);
    for (const [file, errno] of [[garbage, 'Exec format error'], [notExecutable, 'Permission denied']] as const) {
      const spec = { ...common(t.area), kind: 'program' as const, program: file };
      const { result } = await runAndRead(t, spec);
      assert.equal(result.outcome, Outcome.Completed);
      const verdict = classified(result, spec.limits, spec);
      assert.equal(verdict.kind, 'load-error');
      assert.deepEqual(verdict.reasons, [`cannot execute ${file}: ${errno}`]);
      assert.equal(verdict.functionRan, false);
    }
  });

  it('refuses a program whose path has a symbolic link (it changed since the server checked it)', async () => {
    const real = installProgram(t.area, 'exit3');
    const linked = path.join(t.area.root, 'linked-bin');
    fs.symlinkSync(path.dirname(real), linked);
    const spec = { ...common(t.area), kind: 'program' as const, program: path.join(linked, 'exit3') };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(output, '');
    assert.equal(result.outcome, Outcome.LaunchFailed);
    assert.equal(result.message, `program ${spec.program} changed after it was checked: a symbolic link is on its path now`);
  });

  it('opens stdin with the tenant\'s credentials: a file the tenant cannot read is denied', async () => {
    fs.chmodSync(t.area.root, 0o755);
    const secret = writeData(t.area, 'root-only.txt', 'secret\n', 0o600);
    const spec = { ...common(t.area), tenant: { uid: 4242, gid: 4242, groups: [] }, kind: 'program' as const, program: program('toupper'), stdin: { file: secret } };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(output, '');
    assert.equal(result.outcome, Outcome.InputDenied);
    assert.equal(classified(result, spec.limits, spec).kind, 'denied');
    assert.match(result.message, /^uid 4242 cannot read input file .*root-only\.txt: Permission denied$/);
  });
});

describe('programs in reused sandboxes', () => {
  let t: TestLauncher;
  before(async () => {
    // One sandbox, serving every call in turn: none prepared beside it, so
    // that the next call cannot take a fresh one while it is being reset.
    t = await startLauncher({ hostname: HOST, maxSandboxes: 1, prepared: 0 });
  });
  after(async () => {
    await t.stop();
  });

  it('the next call, a program or a library, finds nothing of the previous program: no file, no process, pid 2, its own placements', async () => {
    const bundle = path.join(t.area.root, 'bundle-b');
    fs.mkdirSync(bundle, { mode: 0o755 });
    const leave = path.join(bundle, 'leave.sh');
    fs.writeFileSync(leave, '#!/bin/sh\necho mark > /tmp/mark\nsleep 1000 > /dev/null 2>&1 &\necho "left $!"\n', { mode: 0o755 });
    const look = path.join(bundle, 'look.sh');
    // Globs and echo are the shell's own: no process but the shell runs until ls.
    fs.writeFileSync(look, `#!/bin/sh\necho /tmp/*\necho /proc/[0-9]*\necho "me $$"\nls ${bundle}\n`, { mode: 0o755 });
    const first = { ...common(t.area), kind: 'program' as const, program: leave, bundleDir: bundle };
    const one = await runAndRead(t, first);
    assert.equal(one.output, 'left 3\n');
    assert.equal(one.result.procsKilled, 1, 'the background sleep was killed with the call');
    // A library call in the same sandbox.
    const library = { ...common(t.area, { profile: 'default' }), library: path.join(t.area.libDir, 'libbasic.so'), function: 'run', input: undefined };
    const two = await runAndRead(t, library);
    assert.equal(two.output, 'run\n');
    const third = { ...common(t.area), kind: 'program' as const, program: look, bundleDir: bundle };
    const three = await runAndRead(t, third);
    assert.equal(classified(three.result, third.limits, third).kind, 'ok', three.output);
    assert.equal(three.output, '/tmp/*\n/proc/2\nme 2\nleave.sh\nlook.sh\n');
    assert.equal(new Set([one.result.sandboxUid, two.result.sandboxUid, three.result.sandboxUid]).size, 3, 'a fresh uid per call');
  });

  it('keeps a program mounted only for the next call of the same tenant to the same file, with nothing placed beside it', async () => {
    const ages = installProgram(t.area, 'mount-age');
    const dir = path.dirname(ages);
    const as = async (uid: number, extra: object = {}) => {
      const spec = { ...common(t.area), tenant: { uid, gid: uid, groups: [] }, kind: 'program' as const, program: ages, ...extra };
      const { result, output } = await runAndRead(t, spec);
      assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
      return output;
    };
    assert.equal(await as(0), 'program mounted after /tmp\n', 'the first call mounts it');
    assert.equal(await as(0), 'program mounted before /tmp\n', 'the same tenant\'s next call finds it mounted');
    assert.equal(await as(4242), 'program mounted after /tmp\n', 'another tenant\'s call gets it mounted anew');
    assert.equal(await as(4242, { bundleDir: dir }), 'program mounted after /tmp\n', 'a call with a bundle does not keep a program mounted without one');
    assert.equal(await as(4242), 'program mounted after /tmp\n', 'a call without the bundle does not keep a program mounted with one');
  });

  it('keeps a program and its bundle mounted only for the next call of the same tenant to the same bundle directory: another tenant, another bundle (a redeploy) or the directory made anew gets its own, and sees no other', async () => {
    // A bundle as the registry unpacks one: the program and its data inside.
    const makeBundle = (name: string, data: string) => {
      const dir = path.join(t.area.root, 'versions', name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      fs.copyFileSync(installProgram(t.area, 'mount-age'), path.join(dir, 'age'));
      fs.chmodSync(path.join(dir, 'age'), 0o755);
      fs.writeFileSync(path.join(dir, 'data.txt'), data);
      fs.writeFileSync(path.join(dir, 'show.sh'), `#!/bin/sh\ncat ${dir}/data.txt\nls ${path.dirname(dir)}\n`, { mode: 0o755 });
      return dir;
    };
    const run = async (uid: number, dir: string, program: string) => {
      const spec = { ...common(t.area), tenant: { uid, gid: uid, groups: [] }, kind: 'program' as const, program: path.join(dir, program), bundleDir: dir, cwd: dir };
      const { result, output } = await runAndRead(t, spec);
      assert.equal(classified(result, spec.limits, spec).kind, 'ok', `${output}${result.message}`);
      return output;
    };
    const one = makeBundle('one', 'version one\n');
    assert.equal(await run(0, one, 'age'), 'program mounted after /tmp\n', 'the first call mounts the bundle');
    assert.equal(await run(0, one, 'age'), 'program mounted before /tmp\n', 'the same tenant\'s next call to the same bundle finds it mounted');
    assert.equal(await run(4242, one, 'age'), 'program mounted after /tmp\n', 'another tenant\'s call gets it mounted anew');
    assert.equal(await run(4242, one, 'age'), 'program mounted before /tmp\n');
    // A redeploy: a new version directory. The sandbox that had the old one mounted runs the new one, and shows it alone.
    const two = makeBundle('two', 'version two\n');
    assert.equal(await run(4242, two, 'age'), 'program mounted after /tmp\n', 'a new bundle is mounted anew');
    assert.equal(await run(4242, two, 'show.sh'), 'version two\ntwo\n', 'the call sees its own bundle, and no other');
    assert.equal(await run(4242, two, 'age'), 'program mounted after /tmp\n');
    // The same path, the directory made anew (a version unpacked again): mounted anew, its new content seen.
    fs.rmSync(two, { recursive: true });
    makeBundle('two', 'version two, again\n');
    assert.equal(await run(4242, two, 'age'), 'program mounted after /tmp\n', 'a directory made anew at the same path is mounted anew');
    assert.equal(await run(4242, two, 'show.sh'), 'version two, again\ntwo\n');
    // A call by path after it finds no bundle.
    const listing = { ...common(t.area), tenant: { uid: 4242, gid: 4242, groups: [] }, kind: 'program' as const, program: installProgram(t.area, 'upper.sh'), stdin: { file: writeData(t.area, 'y.txt', 'y\n') } };
    assert.equal((await runAndRead(t, listing)).output, `${HOST}: Y\n`);
    const look = makeBundle('three', 'version three\n');
    assert.equal(await run(0, look, 'show.sh'), 'version three\nthree\n', 'no earlier bundle is there');
  });

  it('places a program without its bundle, then a bundle without the program: each call sees only its own', async () => {
    const toupper = installProgram(t.area, 'toupper');
    const bundle = path.join(t.area.root, 'bundle-c');
    fs.mkdirSync(bundle, { mode: 0o755 });
    fs.writeFileSync(path.join(bundle, 'ls.sh'), `#!/bin/sh\nls ${path.dirname(toupper)} 2>&1 | sed 's/.*: //'\n`, { mode: 0o755 });
    const spec = { ...common(t.area), kind: 'program' as const, program: toupper, stdin: { file: writeData(t.area, 'x.txt', 'x\n') } };
    assert.equal((await runAndRead(t, spec)).output, `${HOST} 2 X\n`);
    const listing = { ...common(t.area), kind: 'program' as const, program: path.join(bundle, 'ls.sh'), bundleDir: bundle };
    const { output } = await runAndRead(t, listing);
    assert.equal(output, 'No such file or directory\n', 'the previous call\'s program is not there');
  });
});
