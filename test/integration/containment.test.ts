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
}

const DUR = '[\\d.]+ m?s';
const ERR = (fn: string) => `Error: \\S+ ${fn} could not be executed\\.\\n`;
const cases: Case[] = [
  {
    name: 'a busy loop is stopped at the CPU limit',
    command: (lib) => `${lib('libhostile.so')} busy_loop`,
    output: new RegExp(`^spinning\\n${ERR('busy_loop')}Reason: CPU time limit of 1 s exceeded (\\(SIGXCPU\\)|by the sandbox's processes together; the sandbox was killed) after ${DUR}\\n$`),
    outcome: 'limit',
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
  },
  {
    name: '2 GiB to stdout is truncated at the output limit',
    command: (lib) => `${lib('libhostile.so')} flood_stdout`,
    output: new RegExp(`^x{1048576}\\n${ERR('flood_stdout')}Reason: output limit of 1 MiB exceeded; output truncated at 1048576 bytes\\n$`),
    outcome: 'limit',
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
    output: /^(\/[^\n:]+: No such file or directory\n){6}$/,
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
  let lib: (name: string) => string;

  before(async () => {
    // Every limit small enough to hit quickly.
    server = await startServer({ policy: (area) => ({ defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: LIMITS } }) });
    lib = (name) => path.join(server.area.libDir, name);
  });
  after(() => server.stop());

  for (const c of cases) {
    it(c.name, async () => {
      const before = snapshot(server.area.root, server.area.outputDir);
      const hostile = callClassic(server.socket, c.command(lib));
      // Another tenant's call, sent while the hostile one is in the server.
      assert.equal(readOutput(await callClassic(server.socket, lib('libbasic.so'))), 'run\n');
      const file = await hostile;
      // Ended by its limit: the output says which (no wall-clock bound here:
      // the limit's own line proves what stopped it, on a loaded machine too).
      assert.match(readOutput(file), c.output);
      assert.deepEqual(sandboxProcesses(), [], 'no process of the sandbox survives the reply');
      assert.deepEqual(snapshot(server.area.root, server.area.outputDir), before, 'no file changed outside the output directory');
      const record = await waitForLog(server, (l) => l.msg === 'call finished' && l.output === file);
      assert.match(String(record.outcome), new RegExp(`^(${c.outcome})$`));
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
