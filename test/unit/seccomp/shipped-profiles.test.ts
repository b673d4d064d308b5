// What the shipped profiles (policies/seccomp/*.json) promise, decided by
// their compiled programs in the test interpreter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileProfile } from '../../../src/seccomp/compile.js';
import { loadProfile } from '../../../src/seccomp/profile.js';
import { syscallNames, syscallNumber } from '../../../src/seccomp/syscalls.js';
import { checkLikeKernel, runFilter } from '../../helpers/seccomp/bpf-interpreter.js';
import { seeded, value64 } from '../../helpers/seccomp/random.js';
import { AUDIT_ARCH_X86_64, RET } from '../../helpers/seccomp/reference.js';

const nr = (name: string) => {
  const n = syscallNumber(name);
  assert.ok(n !== undefined, `no system call ${name}`);
  return n;
};
const programs = (name: string) => {
  const profile = loadProfile(name);
  return { profile, plain: compileProfile(profile, { supervised: false }), supervised: compileProfile(profile, { supervised: true }) };
};
const decide = (program: Buffer, name: string, ...args: bigint[]) => runFilter(program, { nr: nr(name), arch: AUDIT_ARCH_X86_64, args });
const ERRNO = (n: number) => (RET.ERRNO | n) >>> 0;
const rng = seeded(11);
const randomArgs = () => Array.from({ length: 6 }, () => value64(rng));

// The list of refusals, written here independently of the profile.
const REFUSED = [
  'ptrace', 'mount', 'umount2', 'fsopen', 'fsmount', 'fsconfig', 'fspick', 'open_tree', 'move_mount', 'mount_setattr',
  'pivot_root', 'chroot', 'unshare', 'setns', 'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key', 'kexec_load',
  'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'userfaultfd', 'process_vm_readv', 'process_vm_writev', 'open_by_handle_at', 'name_to_handle_at', 'reboot', 'swapon',
  'swapoff', 'acct', 'personality', 'socket', 'socketpair', 'execve', 'execveat',
];
const CLONE_NEW = {
  CLONE_NEWNS: 0x00020000n, CLONE_NEWCGROUP: 0x02000000n, CLONE_NEWUTS: 0x04000000n, CLONE_NEWIPC: 0x08000000n,
  CLONE_NEWUSER: 0x10000000n, CLONE_NEWPID: 0x20000000n, CLONE_NEWNET: 0x40000000n,
};
// glibc 2.36: pthread_create (via clone after clone3's ENOSYS) and fork.
const THREAD_FLAGS = 0x3d0f00n;
const FORK_FLAGS = 0x01200011n;

test('every shipped profile is valid and passes the kernel\'s filter checks', () => {
  for (const name of ['default', 'minimal', 'learn', 'program']) {
    const { plain, supervised } = programs(name);
    checkLikeKernel(plain.program);
    checkLikeKernel(supervised.program);
  }
});

test('every shipped profile allows read, write and close unconditionally (the launcher needs them after installing the filter)', () => {
  for (const name of ['default', 'minimal', 'learn', 'program']) {
    const { plain, supervised } = programs(name);
    for (const call of ['read', 'write', 'close']) {
      for (let i = 0; i < 20; i++) {
        const args = randomArgs();
        assert.equal(decide(plain.program, call, ...args), RET.ALLOW, `${name}: ${call}`);
        assert.equal(decide(supervised.program, call, ...args), RET.ALLOW, `${name} supervised: ${call}`);
      }
    }
  }
});

describe('default', () => {
  const { plain, supervised } = programs('default');

  test('refusals notify the supervisor; unsupervised they kill', () => {
    assert.equal(supervised.notify, 'refusals');
    assert.equal(plain.notify, 'none');
    for (const call of REFUSED) {
      for (let i = 0; i < 5; i++) {
        const args = randomArgs();
        assert.equal(decide(plain.program, call, ...args), RET.KILL_PROCESS, call);
        assert.equal(decide(supervised.program, call, ...args), RET.USER_NOTIF, call);
      }
    }
  });

  test('clone: threads and fork yes, any namespace flag no', () => {
    assert.equal(decide(plain.program, 'clone', THREAD_FLAGS), RET.ALLOW);
    assert.equal(decide(plain.program, 'clone', FORK_FLAGS), RET.ALLOW);
    assert.equal(decide(plain.program, 'clone', 17n /* SIGCHLD */), RET.ALLOW);
    // The kernel ignores the high half of the flags: so does the filter.
    assert.equal(decide(plain.program, 'clone', 0xffffffff_00000000n | FORK_FLAGS), RET.ALLOW);
    for (const [flag, bit] of Object.entries(CLONE_NEW)) {
      assert.equal(decide(plain.program, 'clone', bit | 17n), RET.KILL_PROCESS, flag);
      assert.equal(decide(plain.program, 'clone', bit | FORK_FLAGS | 0xffffffff_00000000n), RET.KILL_PROCESS, flag);
      assert.equal(decide(supervised.program, 'clone', bit | THREAD_FLAGS), RET.USER_NOTIF, flag);
    }
  });

  test('clone3 answers ENOSYS, so that libc falls back to clone', () => {
    for (let i = 0; i < 10; i++) assert.equal(decide(supervised.program, 'clone3', ...randomArgs()), ERRNO(38));
  });

  test('ioctl: terminal and fd requests allowed, any other answers ENOTTY', () => {
    for (const request of [0x5401n, 0x5413n, 0x541bn, 0x5421n, 0x5450n, 0x5451n]) {
      assert.equal(decide(plain.program, 'ioctl', 1n, request), RET.ALLOW, `0x${request.toString(16)}`);
    }
    for (const request of [2n /* FIGETBSZ */, 0x5412n /* TIOCSTI */, 0x1_0000_5401n, 0n, 0xffffffffn]) {
      assert.equal(decide(supervised.program, 'ioctl', 1n, request), ERRNO(25), `0x${request.toString(16)}`);
    }
  });

  test('resource limits: read allowed, set answers EPERM', () => {
    assert.equal(decide(plain.program, 'prlimit64', 0n, 7n, 0n, 0x7ffd0000n), RET.ALLOW);
    assert.equal(decide(plain.program, 'prlimit64', 0n, 7n, 0x7ffd0000n, 0n), ERRNO(1));
    assert.equal(decide(plain.program, 'prlimit64', 0n, 7n, 1n << 32n, 0n), ERRNO(1));
    assert.equal(decide(plain.program, 'setrlimit', 7n, 0x7ffd0000n), ERRNO(1));
    assert.equal(decide(plain.program, 'getrlimit', 7n, 0x7ffd0000n), RET.ALLOW);
  });

  test('what ordinary C library code needs is allowed', () => {
    const needed = [
      'read', 'write', 'openat', 'close', 'newfstatat', 'fstat', 'lseek', 'pread64', 'mmap', 'mprotect', 'munmap', 'brk',
      'madvise', 'mremap', 'futex', 'rseq', 'set_robust_list', 'set_tid_address', 'rt_sigaction', 'rt_sigprocmask',
      'rt_sigreturn', 'sigaltstack', 'tgkill', 'getpid', 'gettid', 'wait4', 'exit', 'exit_group', 'clock_nanosleep',
      'nanosleep', 'clock_gettime', 'getrandom', 'sched_yield', 'dup', 'dup2', 'pipe2', 'fcntl', 'getdents64', 'restart_syscall',
    ];
    for (const call of needed) assert.equal(decide(plain.program, call, ...randomArgs()), RET.ALLOW, call);
  });

  test('only clone3, ioctl, prlimit64 and setrlimit ever answer an errno; every other call is allowed or refused', () => {
    const errnos = new Set<string>();
    for (const call of syscallNames()) {
      for (let i = 0; i < 4; i++) {
        const r = decide(plain.program, call, ...randomArgs());
        assert.ok([RET.ALLOW, RET.KILL_PROCESS].includes(r) || (r & 0xffff0000) === RET.ERRNO, `${call}: 0x${r.toString(16)}`);
        if ((r & 0xffff0000) === RET.ERRNO) errnos.add(call);
      }
    }
    assert.deepEqual([...errnos].sort(), ['clone3', 'ioctl', 'prlimit64', 'setrlimit']);
  });
});

describe('minimal', () => {
  const { plain, supervised } = programs('minimal');
  const O = { RDONLY: 0n, WRONLY: 1n, RDWR: 2n, CREAT: 0x40n, TRUNC: 0x200n, TMPFILE: 0x410000n, CLOEXEC: 0x80000n, DIRECTORY: 0x10000n };

  test('files open for reading only', () => {
    assert.equal(decide(plain.program, 'openat', 0xffffff9cn, 0x1000n, O.RDONLY | O.CLOEXEC), RET.ALLOW);
    assert.equal(decide(plain.program, 'openat', 3n, 0x1000n, O.RDONLY | O.DIRECTORY), RET.ALLOW);
    for (const flags of [O.WRONLY, O.RDWR, O.CREAT, O.TRUNC, O.TMPFILE, O.WRONLY | O.CREAT | O.TRUNC]) {
      assert.equal(decide(supervised.program, 'openat', 3n, 0x1000n, flags), RET.USER_NOTIF, `flags 0x${flags.toString(16)}`);
    }
    assert.equal(decide(plain.program, 'open', 0x1000n, 0n), RET.KILL_PROCESS);
  });

  test('no threads, fork, or anything default refuses', () => {
    for (const call of ['clone', 'clone3', 'fork', 'vfork', 'mkdir', 'unlink', 'rename', ...REFUSED]) {
      assert.equal(decide(plain.program, call, ...randomArgs()), RET.KILL_PROCESS, call);
    }
  });

  test('stricter than default: whatever minimal allows, default allows', () => {
    const d = programs('default').plain.program;
    for (const call of syscallNames()) {
      for (let i = 0; i < 4; i++) {
        const args = randomArgs();
        if (decide(plain.program, call, ...args) === RET.ALLOW) assert.equal(decide(d, call, ...args), RET.ALLOW, call);
      }
    }
  });
});

describe('learn', () => {
  const { plain, supervised } = programs('learn');

  test('every call but read, write and close is logged: supervised, a notification to record', () => {
    assert.equal(supervised.notify, 'logs');
    for (const call of syscallNames()) {
      const wanted = ['read', 'write', 'close'].includes(call) ? RET.ALLOW : RET.USER_NOTIF;
      assert.equal(decide(supervised.program, call, ...randomArgs()), wanted, call);
      assert.equal(decide(plain.program, call, ...randomArgs()), wanted === RET.ALLOW ? RET.ALLOW : RET.LOG, call);
    }
  });

  test('still kills foreign architectures and x32', () => {
    assert.equal(runFilter(supervised.program, { nr: 0, arch: 0x40000003, args: [] }), RET.KILL_PROCESS);
    assert.equal(runFilter(supervised.program, { nr: 0x40000001, arch: AUDIT_ARCH_X86_64, args: [] }), RET.KILL_PROCESS);
  });
});

describe('program', () => {
  const { plain, supervised } = programs('program');
  const AF = { UNIX: 1n, INET: 2n, INET6: 10n, NETLINK: 16n, PACKET: 17n };

  test('refuses what default refuses, but running programs and socket pairs; and binding, connecting, listening, accepting', () => {
    assert.equal(supervised.notify, 'refusals');
    const refused = [...REFUSED.filter((c) => !['socket', 'socketpair', 'execve', 'execveat'].includes(c)), 'bind', 'connect', 'listen', 'accept', 'accept4', 'sethostname', 'pidfd_getfd', 'seccomp'];
    for (const call of refused) {
      for (let i = 0; i < 5; i++) assert.equal(decide(supervised.program, call, ...randomArgs()), RET.USER_NOTIF, call);
    }
    for (const [flag, bit] of Object.entries(CLONE_NEW)) assert.equal(decide(plain.program, 'clone', bit | FORK_FLAGS), RET.KILL_PROCESS, flag);
  });

  test('runs programs: execve and execveat allowed', () => {
    for (const call of ['execve', 'execveat']) for (let i = 0; i < 5; i++) assert.equal(decide(plain.program, call, ...randomArgs()), RET.ALLOW, call);
  });

  test('no network: socket() kills for every family but AF_UNIX, which answers EACCES', () => {
    assert.equal(decide(plain.program, 'socket', AF.UNIX, 1n, 0n), ERRNO(13));
    for (const family of [AF.INET, AF.INET6, AF.NETLINK, AF.PACKET, 0n, 1n << 32n | AF.UNIX]) {
      assert.equal(decide(supervised.program, 'socket', family, 1n, 0n), RET.USER_NOTIF, `family ${family}`);
    }
  });

  test('socket pairs (AF_UNIX), used without ever naming a socket: SO_PASSCRED and SO_PASSPIDFD refused', () => {
    assert.equal(decide(plain.program, 'socketpair', AF.UNIX, 1n, 0n, 0x7ffd0000n), RET.ALLOW);
    assert.equal(decide(plain.program, 'socketpair', AF.INET, 1n, 0n, 0x7ffd0000n), RET.KILL_PROCESS);
    for (const option of [16n, 76n, 0xffffffff_00000000n | 16n]) {
      assert.equal(decide(supervised.program, 'setsockopt', 3n, 1n, option, 0x7ffd0000n, 4n), RET.USER_NOTIF, `option ${option}`);
    }
    assert.equal(decide(plain.program, 'setsockopt', 3n, 6n /* IPPROTO_TCP */, 1n /* TCP_NODELAY */, 0x7ffd0000n, 4n), RET.ALLOW);
    assert.equal(decide(plain.program, 'setsockopt', 3n, 1n, 7n /* SO_SNDBUF */, 0x7ffd0000n, 4n), RET.ALLOW);
    for (const call of ['sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'shutdown', 'getpeername', 'getsockname', 'getsockopt']) {
      assert.equal(decide(plain.program, call, ...randomArgs()), RET.ALLOW, call);
    }
  });

  test('mknod makes FIFOs only', () => {
    assert.equal(decide(plain.program, 'mknod', 0x1000n, 0o010644n, 0n), RET.ALLOW);
    assert.equal(decide(plain.program, 'mknodat', 0xffffff9cn, 0x1000n, 0o010600n, 0n), RET.ALLOW);
    for (const mode of [0o020666n /* char */, 0o060666n /* block */, 0o100644n /* file */, 0o140777n /* socket */]) {
      assert.equal(decide(plain.program, 'mknod', 0x1000n, mode, 0n), RET.KILL_PROCESS, `mode ${mode.toString(8)}`);
      assert.equal(decide(plain.program, 'mknodat', 3n, 0x1000n, mode, 0n), RET.KILL_PROCESS, `mode ${mode.toString(8)}`);
    }
  });

  test('allows whatever default allows, with the same arguments', () => {
    const d = programs('default').plain.program;
    for (const call of syscallNames()) {
      for (let i = 0; i < 4; i++) {
        const args = randomArgs();
        if (decide(d, call, ...args) === RET.ALLOW) assert.equal(decide(plain.program, call, ...args), RET.ALLOW, call);
      }
    }
  });
});
