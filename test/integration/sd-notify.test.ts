// Under systemd (Type=notify, fnjail install's unit), the server says READY=1
// once it serves, and STOPPING=1 when it stops, on NOTIFY_SOCKET.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { notifyAddress } from '../../src/cli/sd-notify.js';
import { listenForNotifications } from '../helpers/datagram.js';
import { createTestArea } from '../helpers/environment.js';
import { readOutput, startServer, waitForLog } from '../helpers/server.js';
import { callClassic } from '../helpers/client.js';

describe('systemd readiness (sd_notify)', () => {
  it('addresses a path with its NUL, an abstract name (@name) without one', () => {
    const file = notifyAddress('/run/systemd/notify');
    assert.equal(file.length, 2 + '/run/systemd/notify'.length + 1);
    assert.equal(file.address.readUInt16LE(0), 1);
    const abstract = notifyAddress('@fnjail/notify');
    assert.equal(abstract.length, 2 + '@fnjail/notify'.length);
    assert.equal(abstract.address[2], 0);
    assert.throws(() => notifyAddress('relative'), /is not a socket path/);
  });

  for (const kind of ['path', 'abstract'] as const) {
    it(`sends READY=1 once it serves and STOPPING=1 when it stops (${kind} socket)`, async () => {
      const area = createTestArea();
      const name = kind === 'path' ? path.join(area.root, 'notify.sock') : `@fnjail-test-${process.pid}`;
      const listener = listenForNotifications(name);
      try {
        const server = await startServer({ area, env: { NOTIFY_SOCKET: name } });
        const ready = await listener.next();
        assert.match(ready, /^READY=1\nSTATUS=serving on \S+fnjail\.sock, \S+api\.sock \(HTTP\)\nMAINPID=\d+$/);
        assert.equal(Number(/MAINPID=(\d+)/.exec(ready)![1]), server.process.pid);
        await waitForLog(server, (l) => l.event === 'server-start');
        assert.equal(readOutput(await callClassic(server.socket, path.join(area.libDir, 'libbasic.so'))), 'run\n');
        const stopped = server.stop();
        assert.equal(await listener.next(), 'STOPPING=1');
        assert.equal((await stopped).code, 0);
      } finally {
        listener.close();
      }
    });
  }
});
