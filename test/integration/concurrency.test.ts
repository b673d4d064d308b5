// Every call is isolated and calls run side by side.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic } from '../helpers/client.js';
import { readOutput, startServer, waitForLogs, type TestServer } from '../helpers/server.js';

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
    const files = await Promise.all(Array.from({ length: 10 }, () => callClassic(server.socket, `${lib} sleep_half`)));
    for (const file of files) assert.equal(readOutput(file), 'before sleep\nafter sleep\n');
    // The server's own account of when each ran (its audit records: the end,
    // and the run time): one after the other, no two runs would overlap, however
    // slow the machine. Each run is shrunk by 50 ms for the records' rounding.
    const records = await waitForLogs(server, (l) => l.event === 'execution' && files.includes(String(l.output)), { count: 10 });
    const runs = records.map((r) => ({ end: Date.parse(String(r.time)), run: Number(r.runMs) })).map(({ end, run }) => ({ start: end - run + 50, end: end - 50 }));
    const overlapping = runs.some((a, i) => runs.some((b, j) => i !== j && a.start < b.end && b.start < a.end));
    assert.ok(overlapping, `no two calls ran at the same time: ${JSON.stringify(runs)}`);
  });
});
