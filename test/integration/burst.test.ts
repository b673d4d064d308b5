// The classic assignment's hardest case: 1000 classic clients at once, built
// on the C client library, each answer checked. Whether they are all answered
// within the checker's 5 s is speed, measured against the baseline in bench/
// (npm run bench, npm run bench:checker); here each waits as long as it takes.
// The burst runs twice in a row, as a person runs the checker again: its 250
// requests for a missing library are refused before they run, and must stay
// within one uid's budget of such requests (--refused-burst) both times.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { clientsBuild, HANG_GUARD_MS, writeData } from '../helpers/environment.js';
import { startServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

describe('a burst of 1000 concurrent classic clients', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ timeoutMs: 5000 });
  });
  after(() => server.stop());

  it('answers every client correctly, and again when the burst is run again at once', async () => {
    const lib = (name: string) => path.join(server.area.libDir, name);
    const content = 'x'.repeat(127) + '\n'; // 128 bytes
    const input = writeData(server.area, 'file128.txt', content);
    const missing = lib('libmissing.so');
    const workloads = [
      `1|=Got called 1 times\\n|${lib('libcounter.so')} run`,
      `1|=${content.slice(0, -1)}\\n|${lib('libbasic.so')} cat ${input}`,
      `1|=Counter reset\\n|${lib('libcounter.so')} reset`,
      `1|^Error: ${missing} could not be executed.\\nReason: library ${missing} does not exist\\n|${missing}`,
    ];
    for (const round of ['first', 'second']) {
      const { stdout } = await run(
        path.join(clientsBuild, 'fnjail-loadgen'),
        ['--clients', '1000', '--requests', '1', '--timeout-ms', String(HANG_GUARD_MS), ...workloads],
        { env: { ...process.env, FNJAIL_SOCKET: server.socket }, maxBuffer: 1 << 20 },
      ).catch((error: { stdout?: string; stderr?: string }) => {
        assert.fail(`loadgen failed in the ${round} burst: ${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
      const report = JSON.parse(stdout) as { requests: number; errors: number; elapsed_s: number; error_samples: string[] };
      assert.equal(report.requests, 1000, `${round} burst`);
      assert.deepEqual(report.error_samples, [], `${round} burst`);
      assert.equal(report.errors, 0, `${round} burst`);
    }
  });
});
