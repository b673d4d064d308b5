// A deploy's build takes a sandbox as a call does: through the executor's
// slots and its line of waiting calls, never straight from the launcher. On a
// server with one sandbox and a line of one, a connection to an exposed
// function holds the sandbox (for as long as the test keeps it open): a
// build then waits in the line, a second one finds the line full and is
// refused "busy" (FNJ_SERVER_BUSY; 429 over HTTP), and the waiting build
// runs once the sandbox is free.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../helpers/as-user.js';
import type { TestArea } from '../../helpers/environment.js';
import { fnjailAs, scriptBundle, toupperBundle } from '../../helpers/fnjail-cli.js';
import { httpRequest } from '../../helpers/http.js';
import { lineClient } from '../../helpers/line-client.js';
import { startServer, waitForStats, type TestServer } from '../../helpers/server.js';

const BOB: User = { uid: 4531, gid: 4531 };

const policy = (area: TestArea) => ({
  defaults: { libraryDirs: [area.libDir], inputDirs: [area.dataDir], limits: { timeoutMs: 120_000 } },
  tenants: [{ name: 'bob', match: { uids: [BOB.uid] }, deploy: true }],
});

describe('builds through admission', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ policy, registry: true, args: ['--max-concurrent', '1', '--queue-length', '1', '--expose', 'echo=127.0.0.1:0'] });
  });
  after(async () => {
    await server?.stop();
  });

  it('waits for a sandbox in the line of calls, is refused busy when the line is full, and runs once a sandbox is free', async () => {
    const area = server.area;
    assert.equal((await fnjailAs(server, BOB, ['deploy', scriptBundle(area, 'echo', 'echo')])).status, 0, 'no build: no sandbox needed');
    const start = server.logs.find((l) => l.event === 'server-start') as { expose: Array<{ listen: string }> };
    const holder = lineClient(Number(/:(\d+)$/.exec(start.expose[0]!.listen)![1]));
    holder.socket.write('holding the only sandbox\n');
    await holder.lineCount(1);
    assert.deepEqual(holder.lines, ['echo holding the only sandbox']);

    const waiting = fnjailAs(server, BOB, ['deploy', toupperBundle(area)]);
    await waitForStats(server, (s) => s.executions.running === 1 && s.executions.queued === 1);
    const second = toupperBundle(area, { name: 'toupper-two' }, 'toupper-two.tar.gz');
    const refused = await fnjailAs(server, BOB, ['deploy', second]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^fnjail: the build of 'toupper-two' could not start: the server is busy: 1 call already waits for a sandbox; try again later \[FNJ_SERVER_BUSY\]\n  hint: deploy again in a moment\n$/);
    const overHttp = await httpRequest(server.apiSocket, { method: 'PUT', path: '/registry/toupper-two', body: fs.readFileSync(second), as: BOB });
    assert.equal(overHttp.status, 429);
    assert.equal(overHttp.json().code, 'FNJ_SERVER_BUSY');

    holder.socket.end();
    await holder.closed;
    const built = await waiting;
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /^toupper: deployed, version [0-9a-f]{12}, program, owner bob\n$/);
    assert.equal((await fnjailAs(server, BOB, ['deploy', second])).status, 0, 'a sandbox is free again');
  });
});
