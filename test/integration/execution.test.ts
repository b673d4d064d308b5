// The execution core against a real server: each way a call can go, and the
// output file it leaves.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic, callSession } from '../helpers/client.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

describe('execution through the classic protocol', () => {
  let server: TestServer;
  let lib: (name: string) => string;
  let input: string;

  before(async () => {
    server = await startServer({ timeoutMs: 1000 });
    lib = (name) => path.join(server.area.libDir, name);
    input = writeData(server.area, 'in.txt', 'line one\nline two\n');
  });
  after(() => server.stop());

  const run = async (command: string) => readOutput(await callClassic(server.socket, command));

  it('calls run when no function is named', async () => {
    assert.equal(await run(lib('libbasic.so')), 'run\n');
  });

  it('calls a named function', async () => {
    assert.equal(await run(`${lib('liblifecycle.so')} run`), 'run\n');
  });

  it('passes the input file to the function', async () => {
    assert.equal(await run(`${lib('libbasic.so')} cat ${input}`), 'line one\nline two\n');
  });

  it('shows the input file at its own path inside the sandbox', async () => {
    assert.equal(await run(`${lib('libbasic.so')} echo_arg ${input}`), `${input}\n`);
  });

  it('looks a bare library name up in the allowed library directories', async () => {
    assert.equal(await run('libbasic.so'), 'run\n');
  });

  it('reports a missing library', async () => {
    const missing = lib('libmissing.so');
    assert.equal(
      await run(`${missing} run`),
      `Error: ${missing} run could not be executed.\nReason: library ${missing} does not exist\n`,
    );
  });

  it('reports a missing function', async () => {
    assert.equal(
      await run(`${lib('libbasic.so')} solve`),
      `Error: ${lib('libbasic.so')} solve could not be executed.\nReason: function 'solve' is not exported by ${lib('libbasic.so')}\n`,
    );
  });

  it('reports a missing input file', async () => {
    const missing = path.join(server.area.dataDir, 'nothing.txt');
    assert.equal(
      await run(`${lib('libbasic.so')} cat ${missing}`),
      `Error: ${lib('libbasic.so')} cat ${missing} could not be executed.\nReason: input file ${missing} does not exist\n`,
    );
  });

  it('keeps what a crashing function printed and names the signal and address', async () => {
    const output = await run(`${lib('liblifecycle.so')} crash`);
    assert.match(
      output,
      /^about to crash\nError: \S+liblifecycle\.so crash could not be executed\.\nReason: killed by signal 11 \(SIGSEGV, invalid memory reference\) at address 0x0 after [\d.]+ m?s\n$/,
    );
  });

  it('keeps what was printed before exit(1) and reports the status', async () => {
    const output = await run(`${lib('liblifecycle.so')} exit_one`);
    assert.match(output, /^exiting with status 1\nError: \S+ exit_one could not be executed\.\nReason: exited with status 1 after [\d.]+ m?s\n$/);
  });

  it('kills a function that sleeps past the timeout, keeping its output', async () => {
    const output = await run(`${lib('liblifecycle.so')} sleep_long`);
    assert.match(
      output,
      /^going to sleep for a minute\nError: \S+ sleep_long could not be executed\.\nReason: timed out after 1000 ms \(wall clock limit\); 1 process in the sandbox was killed\n$/,
    );
  });

  it('answers several newline-terminated commands on one connection, in order', async () => {
    const replies = await callSession(server.socket, [lib('libbasic.so'), `${lib('libcounter.so')} run`, 'exit']);
    assert.equal(replies.length, 2);
    assert.equal(readOutput(replies[0]!), 'run\n');
    assert.equal(readOutput(replies[1]!), 'Got called 1 times\n');
  });

  it('creates each output file 0600 with a random out-XXXXXX name in the output directory', async () => {
    const file = await callClassic(server.socket, lib('libbasic.so'));
    assert.equal(path.dirname(file), server.area.outputDir);
    assert.match(path.basename(file), /^out-[A-Za-z0-9]{6}$/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(server.area.outputDir).mode & 0o777, 0o711);
  });
});
