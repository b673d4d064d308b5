// The seccomp filter through the real server and launcher: every refused call
// is named in the output file and the audit line; ordinary code still runs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';
import { syscallNumber } from '../../src/seccomp/syscalls.js';

const REFUSED = [
  'ptrace', 'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'bpf', 'perf_event_open', 'keyctl',
  'add_key', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'io_uring_setup', 'userfaultfd',
  'process_vm_readv', 'process_vm_writev', 'open_by_handle_at', 'reboot', 'swapon', 'swapoff', 'acct', 'personality',
  'execve', 'socket',
];

function record(server: TestServer, file: string): Promise<Record<string, unknown>> {
  return waitForLog(server, (l) => l.msg === 'call finished' && l.output === file);
}

describe('seccomp profile default', () => {
  let server: TestServer;
  let lib: string;

  before(async () => {
    server = await startServer();
    lib = path.join(server.area.libDir, 'libsyscalls.so');
  });
  after(() => server.stop());

  for (const name of REFUSED) {
    it(`names a refused ${name}`, async () => {
      const fn = name === 'socket' ? 'try_socket' : `try_${name}`;
      const file = await callClassic(server.socket, `${lib} ${fn}`);
      const nr = syscallNumber(name)!;
      assert.match(
        readOutput(file),
        new RegExp(`^(calling ${name}\\n)?Error: \\S+ ${fn} could not be executed\\.\\nReason: blocked system call ${name} \\(${nr}\\) by seccomp profile 'default'\\n$`),
      );
      const entry = await record(server, file);
      assert.equal(entry.outcome, 'seccomp');
    });
  }

  for (const option of ['set_seccomp', 'set_mm', 'set_ptracer']) {
    it(`names a refused prctl(PR_${option.toUpperCase()})`, async () => {
      const file = await callClassic(server.socket, `${lib} try_prctl_${option}`);
      assert.match(readOutput(file), /^calling prctl_\w+\nError: \S+ \S+ could not be executed\.\nReason: blocked system call prctl \(157\) by seccomp profile 'default'\n$/);
      assert.equal((await record(server, file)).outcome, 'seccomp');
    });
  }

  it('lets a library name its threads (pthread_setname_np) and use the harmless prctl options', async () => {
    const file = await callClassic(server.socket, `${lib} thread_names`);
    assert.equal(readOutput(file), 'main name: fnjail-main (set)\nthread name: fnjail-worker2\ndumpable: 1\nno_new_privs: 1\npdeathsig set: ok\npdeathsig get: ok\nthread names ok\n');
    assert.equal((await record(server, file)).outcome, 'ok');
  });

  it('refuses clone with a namespace flag', async () => {
    const output = readOutput(await callClassic(server.socket, `${lib} try_clone_newuser`));
    assert.match(output, /Reason: blocked system call clone \(56\) by seccomp profile 'default'\n$/);
  });

  it('answers clone3 with ENOSYS, so that libc falls back to clone', async () => {
    assert.match(readOutput(await callClassic(server.socket, `${lib} clone3_probe`)), /ENOSYS/);
  });

  it('lets ordinary C library code run: stdio, memory, threads, fork, time, signals', async () => {
    const file = await callClassic(server.socket, `${lib} ordinary`);
    assert.match(readOutput(file), /ordinary ok\n$/);
    assert.equal((await record(server, file)).outcome, 'ok');
  });

  it('leaves the well-behaved example libraries working', async () => {
    const basic = path.join(server.area.libDir, 'libbasic.so');
    assert.equal(readOutput(await callClassic(server.socket, basic)), 'run\n');
    assert.equal(readOutput(await callClassic(server.socket, `${path.join(server.area.libDir, 'libcounter.so')} run`)), 'Got called 1 times\n');
  });
});

describe('seccomp profile learn', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ args: ['--seccomp', 'learn'] });
  });
  after(() => server.stop());

  it('lets everything run and logs the system calls a profile would need', async () => {
    const file = await callClassic(server.socket, `${path.join(server.area.libDir, 'libsyscalls.so')} ordinary`);
    assert.match(readOutput(file), /ordinary ok\n$/);
    const entry = await record(server, file);
    assert.equal(entry.outcome, 'ok');
    const learned = entry.learnedSyscalls as string[];
    for (const call of ['openat', 'mmap', 'clone', 'wait4', 'rt_sigaction']) assert.ok(learned.includes(call), `${call} in ${learned.join(',')}`);
  });
});
