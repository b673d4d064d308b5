// Editing the policy while the server runs: editors write a new file and
// rename it over the old one; the next request follows the new rule. A broken
// edit keeps the last good policy in force and the log says why, with the file
// and line. Each reload is logged with the hash of the policy in force.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callClassic, callSession } from '../helpers/client.js';
import type { TestArea } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog, type TestServer } from '../helpers/server.js';

/** As an editor saves: a new file beside the old one, renamed over it. */
function save(file: string, text: string): void {
  fs.writeFileSync(`${file}.swp`, text);
  fs.renameSync(`${file}.swp`, file);
}

/** The policy hash the server logs: sha256 over each file's name and text, in order. */
function policyHash(files: Array<[string, string]>): string {
  const hash = createHash('sha256');
  for (const [name, text] of files) hash.update(`${name}\0${text}\0`);
  return hash.digest('hex');
}

const allowing = (area: TestArea, functions: string[]) =>
  `${JSON.stringify({ defaults: { libraryDirs: [area.libDir], functions: [{ library: area.libDir, allow: functions }] } }, null, 2)}\n`;

describe('policy: live reload of a file', () => {
  let server: TestServer;
  let call: (fn: string) => Promise<string>;

  before(async () => {
    server = await startServer({
      policyPath: (area) => {
        const file = path.join(area.root, 'policy.json');
        fs.writeFileSync(file, allowing(area, ['run']));
        return file;
      },
    });
    call = async (fn) => readOutput(await callClassic(server.socket, `${path.join(server.area.libDir, 'libcounter.so')} ${fn}`));
  });
  after(() => server.stop());

  const reloaded = (from: number) => waitForLog(server, (l) => l.event === 'policy-reload', { from });
  const refused = (from: number) => waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('policy not reloaded'), { from });

  it('follows an edit saved by rename from the next request on, and logs the new hash', async () => {
    assert.equal(await call('run'), 'Got called 1 times\n');
    const from = server.logs.length;
    const text = allowing(server.area, ['reset']);
    save(server.policyFile, text);
    const line = await reloaded(from);
    assert.equal(line.policyHash, policyHash([['policy.json', text]]));
    assert.match(await call('run'), /Reason: denied by policy '\S+policy\.json', rule defaults\.functions\[0\]: function 'run' of \S+libcounter\.so is not allowed/);
    assert.doesNotMatch(await call('reset'), /Error:/);
  });

  it('keeps the last good policy when an edit breaks the file, and logs the file and line', async () => {
    const from = server.logs.length;
    save(server.policyFile, '{\n  "defaults": {\n    "libraryDirs": [],,\n  }\n}\n');
    const line = await refused(from);
    assert.ok(Array.isArray(line.problems));
    assert.match(String((line.problems as string[])[0]), new RegExp(`^${server.policyFile}:3:\\d+: \\(top level\\): not valid JSON`));
    assert.match(await call('run'), /Reason: denied by policy .* function 'run' .* is not allowed/, 'the previous policy still denies run');
    assert.doesNotMatch(await call('reset'), /Error:/, 'and still allows reset');

    const schemaFrom = server.logs.length;
    save(server.policyFile, JSON.stringify({ defaults: { libraryDirs: [server.area.libDir], limits: { memory: 'plenty' } } }, null, 2));
    const schemaLine = await refused(schemaFrom);
    assert.match(String((schemaLine.problems as string[])[0]), new RegExp(`^${server.policyFile}:7:7: /defaults/limits/memory: must be a size in bytes`));
    assert.match(await call('run'), /is not allowed/);
  });

  it('takes the fixed file again', async () => {
    const from = server.logs.length;
    save(server.policyFile, allowing(server.area, ['run', 'reset']));
    await reloaded(from);
    assert.match(await call('run'), /^Got called \d+ times\n$/);
  });
});

describe('policy: live reload of a directory of files', () => {
  let server: TestServer;
  let dir: string;

  before(async () => {
    server = await startServer({
      policyPath: (area) => {
        dir = path.join(area.root, 'policy.d');
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, '10-base.json'), JSON.stringify({ tenants: [{ name: 'root', match: { uids: [0] }, libraryDirs: [area.libDir] }] }));
        return dir;
      },
    });
  });
  after(() => server.stop());

  const call = async () => readOutput(await callClassic(server.socket, path.join(server.area.libDir, 'libbasic.so')));

  it('takes a file added to the directory, and refuses one that conflicts with the others', async () => {
    assert.equal(await call(), 'run\n');

    let from = server.logs.length;
    const conflicting = path.join(dir, '20-conflict.json');
    fs.writeFileSync(conflicting, JSON.stringify({ tenants: [{ name: 'admins', match: { uids: [0] } }] }, null, 2));
    const refusal = await waitForLog(server, (l) => typeof l.msg === 'string' && l.msg.startsWith('policy not reloaded'), { from });
    assert.match(
      String((refusal.problems as string[])[0]),
      new RegExp(`^${conflicting}:\\d+:\\d+: /tenants/0/match/uids/0: uid 0 matches tenant 'root' already \\(${dir}/10-base\\.json\\); one id, one tenant$`),
    );
    assert.equal(await call(), 'run\n', 'the last good policy stays in force');

    from = server.logs.length;
    fs.rmSync(conflicting);
    fs.writeFileSync(path.join(dir, '20-limits.json'), JSON.stringify({ defaults: { libraryDirs: [] } }));
    await waitForLog(server, (l) => l.event === 'policy-reload' && Array.isArray(l.files) && l.files.length === 2, { from });
    assert.equal(await call(), 'run\n');

    from = server.logs.length;
    fs.rmSync(path.join(dir, '10-base.json'));
    await waitForLog(server, (l) => l.event === 'policy-reload', { from });
    assert.match(await call(), /Reason: denied by policy '\S+20-limits\.json', rule defaults\.libraryDirs: library \S+ is not in a library directory of the default tenant \(libraryDirs: none\)/);
  });
});

describe('policy: a tenant revoked while its calls wait', () => {
  it('decides each queued call again when it leaves the line: none runs once the tenant is gone', async () => {
    const server = await startServer({
      args: ['--max-concurrent', '1'],
      policyPath: (area) => {
        const file = path.join(area.root, 'policy.json');
        fs.writeFileSync(file, allowing(area, ['sleep_long', 'run']));
        return file;
      },
    });
    try {
      const lib = path.join(server.area.libDir, 'liblifecycle.so');
      const running = callClassic(server.socket, `${lib} sleep_long`); // until the 5 s timeout: the line waits that long
      const queued = Array.from({ length: 8 }, () => callClassic(server.socket, `${lib} run`));
      // Wait until all eight are in the line behind the running call.
      for (;;) {
        const stats = JSON.parse((await callSession(server.socket, ['stats']))[0]!) as { executions: { queued: number } };
        if (stats.executions.queued === 8) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const from = server.logs.length;
      save(server.policyFile, allowing(server.area, ['sleep_long']));
      await reloaded(server, from);
      assert.match(readOutput(await running), /Reason: timed out after 5000 ms/, 'the call already running goes on to its end');
      for (const reply of await Promise.all(queued)) {
        assert.match(readOutput(reply), /Reason: denied by policy '\S+policy\.json', rule defaults\.functions\[0\]: function 'run' of \S+liblifecycle\.so is not allowed/);
      }
      assert.equal(server.logs.filter((l) => l.event === 'execution-start' && l.function === 'run').length, 0, 'none of them started');
    } finally {
      await server.stop();
    }
  });
});

function reloaded(server: TestServer, from: number) {
  return waitForLog(server, (l) => l.event === 'policy-reload', { from });
}
