// Every call is isolated and calls run side by side.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

describe('concurrent calls', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ timeoutMs: 5000 });
  });
  after(() => server.stop());

  it('100 parallel calls of the counter each see a fresh library: "Got called 1 times"', async () => {
    const lib = path.join(server.area.libDir, 'libcounter.so');
    const files = await Promise.all(Array.from({ length: 100 }, () => callClassic(server.socket, `${lib} run`)));
    assert.equal(new Set(files).size, 100, 'each call has its own output file');
    for (const file of files) assert.equal(readOutput(file), 'Got called 1 times\n');
  });

  it('10 parallel calls of a 0.5 s function overlap instead of queueing one after the other', async () => {
    const lib = path.join(server.area.libDir, 'liblifecycle.so');
    const started = Date.now();
    const files = await Promise.all(Array.from({ length: 10 }, () => callClassic(server.socket, `${lib} sleep_half`)));
    const elapsed = Date.now() - started;
    for (const file of files) assert.equal(readOutput(file), 'before sleep\nafter sleep\n');
    // One after the other they would need 5 s at least.
    assert.ok(elapsed < 2500, `10 half-second calls took ${elapsed} ms`);
  });
});
