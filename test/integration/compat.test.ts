// --compat classic: the output files a classic lambda-function-loader server left.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

describe('--compat classic', () => {
  let server: TestServer;
  let lib: (name: string) => string;

  before(async () => {
    server = await startServer({ args: ['--compat', 'classic'], timeoutMs: 1000 });
    lib = (name) => path.join(server.area.libDir, name);
  });
  after(() => server.stop());

  const run = async (command: string) => readOutput(await callClassic(server.socket, command));

  it('a missing library leaves exactly the error line', async () => {
    const command = `${lib('libnothere.so')} run`;
    assert.equal(await run(command), `Error: ${command} could not be executed.\n`);
  });

  it('a missing function leaves exactly the error line', async () => {
    const command = `${lib('libbasic.so')} solve`;
    assert.equal(await run(command), `Error: ${command} could not be executed.\n`);
  });

  it('a library outside the policy leaves exactly the error line', async () => {
    assert.equal(await run('/usr/lib/x86_64-linux-gnu/libm.so.6 cos'), 'Error: /usr/lib/x86_64-linux-gnu/libm.so.6 cos could not be executed.\n');
  });

  it('the command is echoed as received, without the default function', async () => {
    const command = lib('libnothere.so');
    assert.equal(await run(command), `Error: ${command} could not be executed.\n`);
  });

  it('a function that crashes after printing leaves exactly what it printed', async () => {
    assert.equal(await run(`${lib('liblifecycle.so')} crash`), 'about to crash\n');
  });

  it('a function that exits after printing leaves exactly what it printed', async () => {
    assert.equal(await run(`${lib('liblifecycle.so')} exit_one`), 'exiting with status 1\n');
  });

  it('a function that runs past the timeout leaves exactly what it printed', async () => {
    assert.equal(await run(`${lib('liblifecycle.so')} sleep_long`), 'going to sleep for a minute\n');
  });

  it('a successful call is unchanged', async () => {
    assert.equal(await run(`${lib('libbasic.so')} run`), 'run\n');
  });
});
