// The server checks a path (realpath, then the policy); the launcher opens it.
// A tenant swapping a directory and a symbolic link in between
// (renameat2(RENAME_EXCHANGE) in a loop, fixtures/programs/swap-paths.c) must
// never get the file the link leads to: the launcher opens the checked path
// without following any symbolic link (a canonical path has none) and mounts
// what it opened, for input files (opened with the tenant's credentials) and
// libraries alike.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { fixturesBuild } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

const CALLS = 300;
const AT_ONCE = 6;

/** Swaps `a` and `b` until stopped (at most a bounded number of times). */
function swapper(a: string, b: string): ChildProcess {
  return spawn(path.join(fixturesBuild, 'swap-paths'), [a, b, '100000000'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Runs `command` CALLS times, AT_ONCE at a time; the output of each. */
async function many(server: TestServer, command: string): Promise<string[]> {
  const outputs: string[] = [];
  for (let i = 0; i < CALLS; i += AT_ONCE) {
    const batch = Array.from({ length: Math.min(AT_ONCE, CALLS - i) }, () => callClassic(server.socket, command, 30_000));
    for (const file of await Promise.all(batch)) outputs.push(readOutput(file));
  }
  return outputs;
}

const count = (outputs: string[], pattern: RegExp) => outputs.filter((o) => pattern.test(o)).length;

describe('the path race between the check and the open', () => {
  let server: TestServer;

  // A server per case: each case makes hundreds of calls that the policy
  // refuses, and one peer's refused requests are throttled beyond a budget
  // (--refused-burst, server/request-budget.ts) that two cases on one server
  // could meet.
  beforeEach(async () => {
    server = await startServer();
  });
  afterEach(() => server.stop());

  it('never reads an input file outside the input directories, however the path is swapped', async (t) => {
    // data/race/in is a directory (allowed: under data); data/race/swap a link
    // to a directory outside every input directory, holding a file of the same name.
    const race = path.join(server.area.dataDir, 'race');
    const outside = path.join(server.area.root, 'outside');
    fs.mkdirSync(path.join(race, 'in'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(race, 'in', 'x.txt'), 'inside\n');
    fs.writeFileSync(path.join(outside, 'x.txt'), 'outside\n');
    fs.symlinkSync(outside, path.join(race, 'swap'));
    const swapping = swapper(path.join(race, 'in'), path.join(race, 'swap'));
    let outputs: string[];
    try {
      outputs = await many(server, `${path.join(server.area.libDir, 'libbasic.so')} cat ${path.join(race, 'in', 'x.txt')}`);
    } finally {
      await stop(swapping);
    }
    const changed = count(outputs, /Reason: input file \S+ changed after it was checked: a symbolic link is on its path now\n$/);
    t.diagnostic(`${count(outputs, /^inside\n$/)} read inside, ${changed} refused by the launcher, ${count(outputs, /denied by policy/)} by the policy`);
    assert.equal(count(outputs, /^outside\n/), 0, 'a file outside the input directories was read');
    assert.ok(changed > 0, 'the race was never caught in the launcher\'s window: the test proves nothing');
    assert.equal(count(outputs, /^inside\n$/) + changed + count(outputs, /denied by policy/), CALLS, outputs.find((o) => !/inside|changed|denied/.test(o)));
  });

  it('never loads a library from outside the library directories, however the path is swapped', async (t) => {
    const race = path.join(server.area.libDir, 'race');
    const outside = path.join(server.area.root, 'outside-lib');
    fs.mkdirSync(path.join(race, 'in'), { recursive: true, mode: 0o755 });
    fs.mkdirSync(outside, { mode: 0o755 });
    fs.copyFileSync(path.join(server.area.libDir, 'libbasic.so'), path.join(race, 'in', 'librace.so'));
    fs.copyFileSync(path.join(server.area.libDir, 'libcounter.so'), path.join(outside, 'librace.so'));
    fs.symlinkSync(outside, path.join(race, 'swap'));
    const swapping = swapper(path.join(race, 'in'), path.join(race, 'swap'));
    let outputs: string[];
    try {
      outputs = await many(server, `${path.join(race, 'in', 'librace.so')} run`);
    } finally {
      await stop(swapping);
    }
    const changed = count(outputs, /library \S+ changed after it was checked: a symbolic link is on its path now\n$/);
    t.diagnostic(`${count(outputs, /^run\n$/)} ran the allowed library, ${changed} refused by the launcher, ${count(outputs, /denied by policy/)} by the policy`);
    assert.equal(count(outputs, /Got called/), 0, 'a library outside the library directories was loaded');
    assert.ok(changed > 0, 'the race was never caught in the launcher\'s window: the test proves nothing');
    // The server's own checks refuse the path whenever they meet the link.
    const others = outputs.filter((o) => !/^run\n$|changed after it was checked|denied by policy|refused whatever the policy says/.test(o));
    assert.deepEqual(others, []);
  });
});
