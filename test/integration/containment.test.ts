// Hostile libraries: each way of misbehaving is stopped within its limit,
// named in a detail line, leaves nothing behind, and does not disturb a normal
// call made at the same time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { sandboxProcesses } from '../helpers/processes.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';

const LIMITS = { timeoutMs: 3000, cpuMs: 1000, memory: '64 MiB', processes: 32, openFiles: 64, output: '1 MiB', tmp: '512 KiB' };

interface Case {
  name: string;
  command: (lib: (name: string) => string) => string;
  /** The whole output file. */
  output: RegExp;
  /** The authoritative outcome, from the server's log. */
  outcome: string;
  /** The limits the audit record names. */
  limitsHit?: string[];
  /** Ended by the CPU limit: run under a wall clock long enough for a starved
   * machine to give the function its CPU time. */
  cpuBound?: true;
  /** More to check on the output file once the reply came. */
  check?: (file: string) => void;
}

const DUR = '[\\d.]+ m?s';
const ERR = (fn: string) => `Error: \\S+ ${fn} could not be executed\\.\\n`;
const cases: Case[] = [
  {
    name: 'a busy loop is stopped at the CPU limit',
    command: (lib) => `${lib('libhostile.so')} busy_loop`,
    output: new RegExp(`^spinning\\n${ERR('busy_loop')}Reason: CPU time limit of 1 s exceeded (\\(SIGXCPU\\)|by the sandbox's processes together; the sandbox was killed) after ${DUR}\\n$`),
    outcome: 'limit',
    cpuBound: true,
  },
  {
    name: 'a function sleeping forever is killed at the wall-clock limit',
    command: (lib) => `${lib('libhostile.so')} sleep_forever`,
    output: new RegExp(`^sleeping forever\\n${ERR('sleep_forever')}Reason: timed out after 3000 ms \\(wall clock limit\\); 1 process in the sandbox was killed\\n$`),
    outcome: 'timeout',
  },
  {
    name: 'touching 4 GiB is stopped by the memory limit',
    command: (lib) => `${lib('libhostile.so')} eat_memory`,
    output: new RegExp(`^eating memory\\n${ERR('eat_memory')}Reason: memory limit of 64 MiB exceeded \\(killed by the out-of-memory killer\\)\\n$`),
    outcome: 'limit',
  },
  {
    name: 'a fork bomb hits the process limit and is killed',
    command: (lib) => `${lib('libhostile.so')} fork_bomb`,
    output: new RegExp(`^forking\\n${ERR('fork_bomb')}Reason: (CPU time limit of 1 s exceeded .*|timed out after 3000 ms .*)\\nReason: process limit of 32 reached: creating a process or thread failed\\n$`),
    outcome: 'limit|timeout',
  },
  {
    name: '64 spinning threads hit the process limit and the CPU limit',
    command: (lib) => `${lib('libhostile.so')} spin_threads`,
    output: new RegExp(`^31 threads spinning\\n${ERR('spin_threads')}Reason: CPU time limit of 1 s exceeded .*\\nReason: process limit of 32 reached: creating a process or thread failed\\n$`),
    outcome: 'limit',
    cpuBound: true,
  },
  {
    name: '2 GiB to stdout is truncated at the output limit',
    command: (lib) => `${lib('libhostile.so')} flood_stdout`,
    output: new RegExp(`^x{1048576}\\n${ERR('flood_stdout')}Reason: output limit of 1 MiB exceeded; output truncated at 1048576 bytes\\n$`),
    outcome: 'limit',
  },
  {
    name: 'disk reserved past the end of the output (fallocate KEEP_SIZE, the ioctl) is refused; growing it past the limit is named',
    command: (lib) => `${lib('libreserve.so')} reserve_disk`,
    output: new RegExp(
      '^fallocate\\(stdout, KEEP_SIZE\\): EOPNOTSUPP\nfallocate\\(dup of stdout, KEEP_SIZE\\): EOPNOTSUPP\n' +
        'fallocate\\(stdout, ZERO_RANGE \\| KEEP_SIZE\\): EOPNOTSUPP\nopen\\(/proc/self/fd/1\\): EACCES\n' +
        'ioctl\\(stdout, FS_IOC_RESVSP64\\): ENOTTY\nposix_fallocate past the limit\n' +
        `${ERR('reserve_disk')}Reason: output limit of 1 MiB exceeded: the function wrote or reserved past it and was stopped \\(SIGXFSZ; the limit applies to every file it writes\\)\n$`,
    ),
    outcome: 'limit',
    limitsHit: ['output'],
    check: (file) => {
      const held = fs.statSync(file).blocks * 512;
      assert.ok(held <= 1 << 20, `the output file holds ${held} bytes of disk, more than its 1 MiB limit`);
    },
  },
  {
    name: 'a vfork\'d child stopped at the CPU limit is named, though the function returns',
    command: (lib) => `${lib('libchildlimits.so')} vfork_spin`,
    output: new RegExp(
      `^vforking a spinning child\\n(child ended by XCPU\\n${ERR('vfork_spin')}Reason: CPU time limit of 1 s exceeded by the call's processes \\(${DUR} of CPU time\\)` +
        `|${ERR('vfork_spin')}Reason: CPU time limit of 1 s exceeded by the sandbox's processes together; the sandbox was killed after ${DUR})\\n$`,
    ),
    outcome: 'limit',
    cpuBound: true,
    limitsHit: ['cpu'],
  },
  {
    name: 'a child stopped by the file size limit is named, though the function returns',
    command: (lib) => `${lib('libchildlimits.so')} child_writes_past_limit`,
    output: new RegExp(
      `^forking a writing child\\nchild ended by XFSZ\\n${ERR('child_writes_past_limit')}Reason: output limit of 1 MiB exceeded: a process of the call wrote or reserved past it and was stopped \\(SIGXFSZ; the limit applies to every file the function writes\\)\\n$`,
    ),
    outcome: 'limit',
    limitsHit: ['output'],
  },
  {
    name: 'filling /tmp stops at its size',
    command: (lib) => `${lib('libhostile.so')} fill_tmp`,
    output: new RegExp(`^wrote \\d+ bytes to /tmp: No space left on device\\n${ERR('fill_tmp')}Reason: private /tmp limit of 512 KiB reached: writes failed with "No space left on device"\\n$`),
    outcome: 'limit',
  },
  {
    name: 'a stack overflow is named as such',
    command: (lib) => `${lib('libhostile.so')} stack_overflow`,
    output: new RegExp(`^recursing\\n${ERR('stack_overflow')}Reason: killed by signal 11 \\(SIGSEGV, invalid memory reference\\) at address 0x[0-9a-f]+ \\(stack overflow\\) after ${DUR}\\n$`),
    outcome: 'signal',
  },
  {
    name: 'abort() is reported as SIGABRT',
    command: (lib) => `${lib('libhostile.so')} do_abort`,
    output: new RegExp(`^aborting\\n${ERR('do_abort')}Reason: killed by signal 6 \\(SIGABRT, aborted\\) after ${DUR}\\n$`),
    outcome: 'signal',
  },
  {
    name: 'raise(SIGKILL) kills the function (it is not pid 1 of its namespace)',
    command: (lib) => `${lib('libhostile.so')} raise_kill`,
    output: new RegExp(`^raising SIGKILL\\n${ERR('raise_kill')}Reason: killed by signal 9 \\(SIGKILL, killed\\) after ${DUR}\\n$`),
    outcome: 'signal',
  },
  {
    name: 'a function that stops itself is ended at once',
    command: (lib) => `${lib('libhostile.so')} stop_self`,
    output: new RegExp(`^stopping myself\\n${ERR('stop_self')}Reason: stopped by signal 19 \\(SIGSTOP\\) and nothing could continue it; the sandbox was killed after ${DUR}\\n$`),
    outcome: 'signal',
  },
  {
    name: '_exit with an unterminated line loses nothing (stdout is unbuffered)',
    command: (lib) => `${lib('libhostile.so')} exit_unflushed`,
    output: /^unflushed line$/,
    outcome: 'ok',
  },
  {
    name: 'a constructor that prints then crashes at load time',
    command: (lib) => lib('libbadctor.so'),
    output: new RegExp(`^constructor ran\\nError: \\S+libbadctor\\.so could not be executed\\.\\nReason: killed by signal 11 \\(SIGSEGV, invalid memory reference\\) at address 0x0 after ${DUR}, while loading the library \\(in a constructor\\), before the function ran\\n$`),
    outcome: 'signal',
  },
  {
    name: 'a run that is a data symbol is not called',
    command: (lib) => lib('libdatarun.so'),
    output: /^Error: \S+libdatarun\.so could not be executed\.\nReason: symbol 'run' in \S+libdatarun\.so is not a function \(it is a data object\)\n$/,
    outcome: 'missing-function',
  },
  {
    name: 'host and server secrets are out of reach',
    command: (lib) => `${lib('libhostile.so')} steal`,
    // /root is there as an empty stand-in for the host's top directory.
    output: /^(\/[^\n:]+: No such file or directory\n){2}\/root: a directory of 0 entries\n(\/[^\n:]+: No such file or directory\n){3}$/,
    outcome: 'ok',
  },
  {
    name: 'other output files cannot be listed or opened',
    command: (lib) => `${lib('libhostile.so')} list_outputs`,
    output: /^output dir \/\S+: No such file or directory\ndefault output dir: No such file or directory\n$/,
    outcome: 'ok',
  },
  {
    name: 'kill(-1) and killing the parent reach nothing outside',
    command: (lib) => `${lib('libhostile.so')} kill_everyone`,
    output: /^kill\(-1\): No such process\nkill\(parent\): Operation not permitted\nkill\(init\): Operation not permitted\n$/,
    outcome: 'ok',
  },
  {
    name: "the library's own directory and file cannot be written",
    command: (lib) => `${lib('libhostile.so')} write_libdir`,
    output: /^write \S+\/planted\.so: Read-only file system\noverwrite \S+\/libhostile\.so: (Read-only file system|Permission denied)\n$/,
    outcome: 'ok',
  },
  {
    name: 'descriptors 3 to 1023 are all closed',
    command: (lib) => `${lib('libhostile.so')} open_fds`,
    output: /^0 inherited descriptors beyond 0-2\n$/,
    outcome: 'ok',
  },
  {
    name: 'a forged error line does not change the authoritative outcome',
    command: (lib) => `${lib('libhostile.so')} spoof`,
    output: /^Error: \/opt\/fnlib\/libbasic\.so run could not be executed\.\nReason: killed by signal 11 \(SIGSEGV, invalid memory reference\) at address 0x0 after 1 ms\n$/,
    outcome: 'ok',
  },
];

/** Every file under dir, with its size (the output directory aside). */
function snapshot(dir: string, skip: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    if (!full.startsWith(skip) && entry.isFile()) files.push(`${full}:${fs.statSync(full).size}`);
  }
  return files.sort();
}

describe('containment of hostile libraries', () => {
  let server: TestServer;
  let cpuServer: TestServer;
  let lib: (name: string) => string;

  before(async () => {
    // Every limit small enough to hit quickly; for CPU-bound cases, the wall
    // clock a loaded machine needs to hand out a second of CPU.
    const start = (limits: typeof LIMITS) =>
      startServer({ policy: (area) => ({ defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits } }) });
    [server, cpuServer] = await Promise.all([start(LIMITS), start({ ...LIMITS, timeoutMs: 60_000 })]);
    lib = (name) => path.join(server.area.libDir, name);
  });
  after(() => Promise.all([server.stop(), cpuServer.stop()]));

  for (const c of cases) {
    it(c.name, async () => {
      const target = c.cpuBound ? cpuServer : server;
      const targetLib = (name: string) => path.join(target.area.libDir, name);
      const before = snapshot(target.area.root, target.area.outputDir);
      const hostile = callClassic(target.socket, c.command(targetLib));
      // Another tenant's call, sent while the hostile one is in the server.
      assert.equal(readOutput(await callClassic(target.socket, targetLib('libbasic.so'))), 'run\n');
      const file = await hostile;
      // Ended by its limit: the output says which (no wall-clock bound here:
      // the limit's own line proves what stopped it, on a loaded machine too).
      assert.match(readOutput(file), c.output);
      assert.deepEqual(sandboxProcesses(), [], 'no process of the sandbox survives the reply');
      assert.deepEqual(snapshot(target.area.root, target.area.outputDir), before, 'no file changed outside the output directory');
      const record = await waitForLog(target, (l) => l.msg === 'call finished' && l.output === file);
      assert.match(String(record.outcome), new RegExp(`^(${c.outcome})$`));
      if (c.limitsHit) assert.deepEqual(record.limitsHit, c.limitsHit);
      c.check?.(file);
    });
  }

  it('a double-forked daemon is killed with the call and writes nothing after the reply', async () => {
    const file = await callClassic(server.socket, `${lib('libhostile.so')} daemonize`);
    const size = fs.statSync(file).size;
    assert.match(readOutput(file), /^daemon started\n(daemon still here \d+\n)*$/);
    assert.deepEqual(sandboxProcesses(), []);
    await sleep(300);
    assert.equal(fs.statSync(file).size, size, 'the output file did not grow after the reply');
  });
});
