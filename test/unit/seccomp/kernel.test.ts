// The compiled shipped profiles on the real kernel, without the launcher:
// test/helpers/seccomp/run-filtered.c installs a program in a forked child
// (no_new_privs, then seccomp), dlopens fixtures/build/libsyscalls.so and
// calls one function. Unsupervised, a refused call dies of SIGSYS;
// supervised, the harness plays the launcher's supervisor and names it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { compileProfile } from '../../../src/seccomp/compile.js';
import { decode } from '../../../src/seccomp/bpf.js';
import { loadProfile, parseProfile } from '../../../src/seccomp/profile.js';
import { syscallNames, syscallNumber } from '../../../src/seccomp/syscalls.js';
import { runFiltered, syscallsLibrary } from '../../helpers/seccomp/harness.js';

const SIGSYS = 31;
const SIGSEGV = 11;
const compiled = (name: string, supervised: boolean) => compileProfile(loadProfile(name), { supervised });
const nr = (name: string) => syscallNumber(name)!;

// Fixture function -> the call it makes.
const REFUSED: Record<string, string> = {
  try_ptrace: 'ptrace', try_mount: 'mount', try_umount2: 'umount2', try_pivot_root: 'pivot_root', try_chroot: 'chroot',
  try_unshare: 'unshare', try_setns: 'setns', try_clone_newuser: 'clone', try_bpf: 'bpf', try_perf_event_open: 'perf_event_open',
  try_keyctl: 'keyctl', try_add_key: 'add_key', try_kexec_load: 'kexec_load', try_init_module: 'init_module',
  try_finit_module: 'finit_module', try_delete_module: 'delete_module', try_io_uring_setup: 'io_uring_setup',
  try_userfaultfd: 'userfaultfd', try_process_vm_readv: 'process_vm_readv', try_process_vm_writev: 'process_vm_writev',
  try_open_by_handle_at: 'open_by_handle_at', try_reboot: 'reboot', try_swapon: 'swapon', try_swapoff: 'swapoff',
  try_acct: 'acct', try_personality: 'personality', try_socket: 'socket', try_execve: 'execve',
};

test('the fixture library is built', () => {
  assert.ok(fs.existsSync(syscallsLibrary), `${syscallsLibrary} missing: run bash scripts/build.sh`);
});

describe('default, installed as is (refusals kill with SIGSYS)', () => {
  const { program } = compiled('default', false);

  test('ordinary C library code runs: files, malloc, a thread, fork, sleep, signals', () => {
    const r = runFiltered('plain', program, 'ordinary');
    assert.equal(r.stdout, 'ordinary ok\n', r.report);
    assert.equal(r.exitCode, 0, r.report);
  });

  test('clone3 answers ENOSYS', () => {
    const r = runFiltered('plain', program, 'clone3_probe');
    assert.equal(r.stdout, 'clone3_probe: ENOSYS\n');
    assert.equal(r.exitCode, 0);
  });

  test('probes answer an errno: ioctl ENOTTY, setrlimit EPERM; getrlimit works', () => {
    const r = runFiltered('plain', program, 'errno_probes');
    assert.equal(r.stdout, 'ioctl FIGETBSZ: ENOTTY\nisatty: 0\ngetrlimit: ok\nsetrlimit: EPERM\n');
    assert.equal(r.exitCode, 0);
  });

  for (const [fn, call] of Object.entries(REFUSED)) {
    test(`${call}: the process dies of SIGSYS at the call`, () => {
      const r = runFiltered('plain', program, fn);
      assert.equal(r.signal, SIGSYS, r.report);
      assert.equal(r.stdout, `calling ${call}\n`, 'died before or after the call');
    });
  }
});

describe('default, supervised (the launcher\'s form: a refused call is named)', () => {
  const { program, notify } = compiled('default', true);

  test('notify is refusals', () => assert.equal(notify, 'refusals'));

  test('ordinary code runs without a notification', () => {
    const r = runFiltered('refusals', program, 'ordinary');
    assert.equal(r.refused, undefined, r.report);
    assert.equal(r.stdout, 'ordinary ok\n');
    assert.equal(r.exitCode, 0);
  });

  for (const [fn, call] of Object.entries(REFUSED)) {
    test(`${call}: the supervisor learns its number (${nr(call)})`, () => {
      const r = runFiltered('refusals', program, fn);
      assert.equal(r.refused, nr(call), r.report);
      assert.equal(r.stdout, `calling ${call}\n`);
    });
  }
});

describe('foreign architectures and x32 on the real kernel', () => {
  // A one-instruction program (ret ALLOW) shows what the calls do unfiltered.
  const allowAll = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);
  // Kernels differ: int 0x80 (32-bit system calls) may be absent, configured
  // out or disabled at boot (ia32_emulation=0), and then traps (SIGSEGV)
  // before any seccomp filter sees it. Probe, then assert what this host must do.
  const probe = runFiltered('plain', allowAll, 'try_int80');
  const int80 = /int 0x80 getpid returned [1-9]\d*\n$/.test(probe.stdout);
  const int80Death = int80 ? SIGSYS : SIGSEGV;
  const host = int80 ? 'this kernel runs int 0x80' : 'this kernel has no int 0x80 (it traps: SIGSEGV)';

  test(`control, unfiltered: ${host}; x32 getpid gets ENOSYS`, (t) => {
    t.diagnostic(`probed: ${host} (${probe.report.split('\n')[0]})`);
    if (int80) assert.match(probe.stdout, /int 0x80 getpid returned [1-9]\d*\n$/);
    else assert.equal(probe.signal, SIGSEGV, `int 0x80 neither ran nor trapped: ${probe.report}`);
    assert.match(runFiltered('plain', allowAll, 'try_x32').stdout, /x32 getpid returned -1 \(ENOSYS\)\n$/);
  });

  for (const [name, mode] of [['default', 'refusals'], ['learn', 'logs']] as const) {
    for (const [fn, death] of [['try_int80', int80Death], ['try_x32', SIGSYS]] as const) {
      test(`${name}: ${fn} never runs: killed (${death === SIGSYS ? 'SIGSYS' : 'SIGSEGV, as unfiltered'}), unsupervised and supervised, never notified`, () => {
        for (const [supervised, runMode] of [[false, 'plain'], [true, mode]] as const) {
          const r = runFiltered(runMode, compiled(name, supervised).program, fn);
          assert.equal(r.signal, death, r.report);
          assert.equal(r.refused, undefined, r.report);
          assert.ok(!/returned/.test(r.stdout), r.stdout);
        }
      });
    }
  }
});

describe('minimal', () => {
  test('a function that prints and reads a file runs', () => {
    const r = runFiltered('plain', compiled('minimal', false).program, 'simple');
    assert.match(r.stdout, /^simple ok: read \d+ bytes as pid \d+\n$/);
    assert.equal(r.exitCode, 0, r.report);
  });

  test('threads are refused: pthread_create\'s clone3 is named', () => {
    const r = runFiltered('refusals', compiled('minimal', true).program, 'ordinary');
    assert.equal(r.refused, nr('clone3'), r.report);
  });
});

describe('learn', () => {
  test('supervised: everything runs and every distinct call is recorded once', () => {
    const { program, notify } = compiled('learn', true);
    assert.equal(notify, 'logs');
    const r = runFiltered('logs', program, 'ordinary');
    assert.equal(r.stdout, 'ordinary ok\n', r.report);
    assert.equal(r.exitCode, 0);
    for (const call of ['openat', 'mmap', 'mprotect', 'clone3', 'futex', 'wait4', 'rt_sigaction', 'exit_group']) {
      assert.ok(r.learned.includes(nr(call)), `${call} not recorded: ${r.report}`);
    }
    for (const call of ['read', 'write', 'close']) assert.ok(!r.learned.includes(nr(call)), `${call} recorded`);
    assert.equal(new Set(r.learned).size, r.learned.length, 'a call recorded twice');
  });

  test('a program near the 4096-instruction limit, with trampolines, loads and decides on the kernel', () => {
    // Kill 100 calls that `ordinary` never makes (unless an argument hits one
    // of nine values), allow everything else.
    const used = new Set(runFiltered('logs', compiled('learn', true).program, 'ordinary').learned);
    const names = syscallNames().filter((n) => !used.has(nr(n)) && !['read', 'write', 'close'].includes(n));
    const chosen = ['ptrace', ...names.filter((n) => n !== 'ptrace').slice(0, 99)];
    const profile = parseProfile(
      JSON.stringify({
        defaultAction: 'allow',
        syscalls: chosen.map((name, i) => ({
          names: [name],
          action: 'kill-process',
          args: Array.from({ length: 9 }, (_, j) => ({ index: j % 6, op: 'ne', value: `${1000 + i * 10 + j}` })),
        })),
      }),
      'big.json',
    );
    const { program, instructions } = compileProfile(profile, { supervised: false });
    assert.ok(instructions > 3500 && instructions <= 4096, `${instructions} instructions`);
    assert.ok(decode(program).some((i) => i.code === 0x05), 'no trampoline');
    const ok = runFiltered('plain', program, 'ordinary');
    assert.equal(ok.stdout, 'ordinary ok\n', ok.report);
    assert.equal(runFiltered('plain', program, 'try_ptrace').signal, SIGSYS);
  });

  test('unsupervised (SECCOMP_RET_LOG): everything runs', () => {
    const r = runFiltered('plain', compiled('learn', false).program, 'ordinary');
    assert.equal(r.stdout, 'ordinary ok\n', r.report);
    assert.equal(r.exitCode, 0);
  });
});

describe('default: prctl by option', () => {
  const supervised = compiled('default', true).program;

  test('naming threads (pthread_setname_np) and the harmless options run', () => {
    const r = runFiltered('refusals', supervised, 'thread_names');
    assert.equal(r.refused, undefined, r.report);
    assert.equal(
      r.stdout,
      'main name: fnjail-main (set)\nthread name: fnjail-worker2\ndumpable: 1\nno_new_privs: 1\npdeathsig set: ok\npdeathsig get: ok\nthread names ok\n',
    );
  });

  for (const fn of ['try_prctl_set_seccomp', 'try_prctl_set_mm', 'try_prctl_set_ptracer']) {
    test(`${fn.slice(4)}: refused and named`, () => {
      const r = runFiltered('refusals', supervised, fn);
      assert.equal(r.refused, nr('prctl'), r.report);
      assert.ok(!/returned/.test(r.stdout), r.stdout);
    });
  }
});
