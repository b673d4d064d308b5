// The `program` seccomp profile with real programs in real sandboxes: what it
// refuses kills the program and is named; what ordinary programs need (a
// shell, pipes, a local socket pair, python3, make and gcc: programs.test.ts
// and builds.test.ts) runs. fixtures/programs/syscall.c makes one call by name.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { common, installProgram, runAndRead, startLauncher, type TestLauncher } from '../helpers/launcher.js';
import { classified } from '../helpers/programs.js';

/** The argument of syscall.c, and the call the Reason line names. */
const REFUSED: Array<[string, string]> = [
  ['ptrace', 'ptrace (101)'],
  ['mount', 'mount (165)'],
  ['umount2', 'umount2 (166)'],
  ['pivot_root', 'pivot_root (155)'],
  ['chroot', 'chroot (161)'],
  ['unshare', 'unshare (272)'],
  ['setns', 'setns (308)'],
  ['clone-newns', 'clone (56)'],
  ['bpf', 'bpf (321)'],
  ['perf_event_open', 'perf_event_open (298)'],
  ['keyctl', 'keyctl (250)'],
  ['add_key', 'add_key (248)'],
  ['kexec_load', 'kexec_load (246)'],
  ['init_module', 'init_module (175)'],
  ['finit_module', 'finit_module (313)'],
  ['delete_module', 'delete_module (176)'],
  ['userfaultfd', 'userfaultfd (323)'],
  ['io_uring_setup', 'io_uring_setup (425)'],
  ['process_vm_readv', 'process_vm_readv (310)'],
  ['open_by_handle_at', 'open_by_handle_at (304)'],
  ['acct', 'acct (163)'],
  ['reboot', 'reboot (169)'],
  ['swapon', 'swapon (167)'],
  ['personality', 'personality (135)'],
  ['sethostname', 'sethostname (170)'],
  ['shmget', 'shmget (29)'],
  ['socket-inet', 'socket (41)'],
  ['socket-netlink', 'socket (41)'],
  ['bind', 'bind (49)'],
  ['connect', 'connect (42)'],
  ['listen', 'listen (50)'],
];

describe("the 'program' seccomp profile, with real programs", () => {
  let t: TestLauncher;
  let syscall: string;
  before(async () => {
    t = await startLauncher();
    syscall = installProgram(t.area, 'syscall');
  });
  after(async () => {
    await t.stop();
  });

  const call = (name: string) => {
    const spec = { ...common(t.area), kind: 'program' as const, program: syscall, argv: ['syscall', name] };
    return runAndRead(t, spec).then(({ result, output }) => ({ output, verdict: classified(result, spec.limits, spec) }));
  };

  for (const [name, named] of REFUSED) {
    it(`refuses ${name}: the program is killed and the call named`, async () => {
      const { output, verdict } = await call(name);
      assert.equal(output, '', 'the call never returned');
      assert.equal(verdict.kind, 'seccomp');
      assert.deepEqual(verdict.reasons, [`blocked system call ${named} by seccomp profile 'program'`]);
    });
  }

  it('answers socket(AF_UNIX) with EACCES, so that C library lookups fall back to files', async () => {
    const { output, verdict } = await call('socket-unix');
    assert.equal(verdict.kind, 'ok');
    assert.equal(output, 'socket-unix returned -1 (Permission denied)\n');
  });

  it('lets setuid(0) through to the kernel, which refuses it: the sandbox has no capability', async () => {
    const { output, verdict } = await call('setuid');
    assert.equal(verdict.kind, 'ok');
    assert.equal(output, 'setuid returned -1 (Operation not permitted)\n');
  });

  it('lets a program talk to itself through a socket pair', async () => {
    const { output, verdict } = await call('socketpair');
    assert.equal(verdict.kind, 'ok');
    assert.equal(output, 'through a socket pair: pair\n');
  });

  it('runs a shell pipeline, a FIFO and the programs the shell starts', async () => {
    const script = path.join(path.dirname(syscall), 'ordinary.sh');
    fs.writeFileSync(
      script,
      '#!/bin/sh\nset -e\necho "a b c" | tr a-z A-Z | sed "s/ /-/g"\nmkfifo /tmp/f\n(echo through the fifo > /tmp/f &)\ncat /tmp/f\nls -l /tmp/f | cut -c1\n',
      { mode: 0o755 },
    );
    const spec = { ...common(t.area), kind: 'program' as const, program: script };
    const { result, output } = await runAndRead(t, spec);
    assert.equal(classified(result, spec.limits, spec).kind, 'ok', output);
    assert.equal(output, 'A-B-C\nthrough the fifo\np\n');
  });
});
