// Per-connection programs (inetd style): the server accepts a TCP connection
// and hands it to the launcher, which makes it the program's stdin and stdout.
// TP7's toupper answers each line upper-cased after the host name given to
// the launcher; many connections are served by as many sandboxes at once; a
// connection ends with its program, its wall-clock limit or its idle limit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Outcome, type LaunchResult } from '../../src/launcher/protocol.js';
import type { RunSpec } from '../../src/launcher/run-spec.js';
import { common, installProgram, startLauncher, type TestLauncher } from '../helpers/launcher.js';
import { sandboxProcesses } from '../helpers/processes.js';
import { lineClient } from '../helpers/line-client.js';
import { classified } from '../helpers/programs.js';

const HOST = 'tp7-node';

/** A TCP listener that hands each connection it accepts to the launcher, with spec's target. */
async function exposing(t: TestLauncher, target: (socket: net.Socket) => RunSpec) {
  const results: Array<Promise<{ spec: RunSpec; result: LaunchResult }>> = [];
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const spec = target(socket);
    results.push(t.launcher.run(spec).then((result) => ({ spec, result })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    results,
    /** The one call made: its spec and result, once it ended. */
    async only(): Promise<{ spec: RunSpec; result: LaunchResult }> {
      assert.equal(results.length, 1);
      return results[0]!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A client of the exposed port. */
const client = (port: number) => lineClient(port);

describe('per-connection programs', () => {
  let t: TestLauncher;
  let toupper: string;
  before(async () => {
    t = await startLauncher({ hostname: HOST, maxSandboxes: 12, prepared: 4 });
    toupper = installProgram(t.area, 'toupper');
  });
  after(async () => {
    await t.stop();
    assert.deepEqual(sandboxProcesses(), [], 'no sandbox process is left');
  });

  it('serves a real TCP connection: two lines in, two upper-cased lines out with the host name; the connection ends with the program', async () => {
    let handed: net.Socket | undefined;
    const exposed = await exposing(t, (socket) => {
      handed = socket;
      return { ...common(t.area), kind: 'program', program: toupper, stdin: { socket } };
    });
    try {
      const c = client(exposed.port);
      c.socket.write('hello\n');
      c.socket.end('bonjour\n');
      await c.closed;
      assert.deepEqual(c.lines, [`${HOST} 2 HELLO`, `${HOST} 2 BONJOUR`]);
      const { spec, result } = await exposed.only();
      assert.equal(classified(result, spec.limits, { kind: 'program', program: toupper }).kind, 'ok');
      assert.equal(result.exitCode, 0);
      assert.equal(handed?.destroyed, true, 'the server closed its copy once the connection was handed over');
      assert.equal(fs.readFileSync(spec.output, 'utf8'), '', 'nothing on stderr');
    } finally {
      await exposed.close();
    }
  });

  it('serves 10 connections at once, each by its own sandboxed process', async () => {
    const exposed = await exposing(t, (socket) => ({ ...common(t.area), kind: 'program', program: toupper, stdin: { socket } }));
    try {
      const clients = Array.from({ length: 10 }, () => client(exposed.port));
      clients.forEach((c, i) => c.socket.write(`first ${i}\n`));
      await Promise.all(clients.map((c) => c.lineCount(1)));
      // Every client has its first answer and has not ended its input: a
      // program ends only at the end of its input, so all 10 are alive now.
      assert.ok(clients.every((c) => !c.socket.destroyed));
      assert.equal(exposed.results.length, 10);
      clients.forEach((c, i) => c.socket.end(`second ${i}\n`));
      await Promise.all(clients.map((c) => c.closed));
      clients.forEach((c, i) => assert.deepEqual(c.lines, [`${HOST} 2 FIRST ${i}`, `${HOST} 2 SECOND ${i}`]));
      const done = await Promise.all(exposed.results);
      assert.ok(done.every(({ result }) => result.outcome === Outcome.Completed && result.exitCode === 0));
      assert.equal(new Set(done.map(({ result }) => result.sandboxUid)).size, 10, 'ten sandboxes, each with its uid');
    } finally {
      await exposed.close();
    }
  });

  it('a connection that carries no data for its idle limit is closed, and the call named', async () => {
    const exposed = await exposing(t, (socket) => ({ ...common(t.area), kind: 'program', program: toupper, stdin: { socket, idleMs: 2000 } }));
    try {
      const c = client(exposed.port);
      c.socket.write('only line\n');
      await c.closed; // the client never ends its side: the idle limit does (its one answer came after a second)
      assert.deepEqual(c.lines, [`${HOST} 2 ONLY LINE`]);
      const { spec, result } = await exposed.only();
      assert.equal(result.outcome, Outcome.Idle);
      const verdict = classified(result, spec.limits, { kind: 'program', program: toupper, idleMs: 2000 });
      assert.equal(verdict.kind, 'timeout');
      assert.deepEqual(verdict.reasons, ['the connection was idle for 2000 ms (no data either way: idle limit); 1 process in the sandbox was killed']);
      assert.deepEqual(verdict.limitsHit, ['time']);
    } finally {
      await exposed.close();
    }
  });

  it('a connection kept open past the wall-clock limit is closed, and the call named', async () => {
    const exposed = await exposing(t, (socket) => ({ ...common(t.area, { limits: { timeoutMs: 1500 } }), kind: 'program', program: toupper, stdin: { socket } }));
    try {
      const c = client(exposed.port);
      c.socket.write('still here\n');
      await c.closed;
      assert.deepEqual(c.lines, [`${HOST} 2 STILL HERE`]);
      const { spec, result } = await exposed.only();
      const verdict = classified(result, spec.limits, { kind: 'program', program: toupper });
      assert.equal(verdict.kind, 'timeout');
      assert.deepEqual(verdict.reasons, ['timed out after 1500 ms (wall clock limit); 1 process in the sandbox was killed']);
    } finally {
      await exposed.close();
    }
  });

  it('a connection whose program cannot be started is closed at once, and the failure said', async () => {
    const exposed = await exposing(t, (socket) => ({ ...common(t.area), kind: 'program', program: `${t.area.root}/bin/missing`, stdin: { socket } }));
    try {
      const c = client(exposed.port);
      await c.closed;
      assert.deepEqual(c.lines, []);
      assert.deepEqual(c.errors, []);
      const { result } = await exposed.only();
      assert.equal(result.outcome, Outcome.LaunchFailed);
      assert.match(result.message, /^cannot open program .*\/bin\/missing: No such file or directory$/);
    } finally {
      await exposed.close();
    }
  });

  it('writes what the program says on stderr to the output file, not to the client', async () => {
    const script = `${t.area.root}/bin/talk.sh`;
    fs.writeFileSync(script, '#!/bin/sh\necho "to the log" >&2\nread line\necho "got $line"\n', { mode: 0o755 });
    const exposed = await exposing(t, (socket) => ({ ...common(t.area), kind: 'program', program: script, stdin: { socket } }));
    try {
      const c = client(exposed.port);
      c.socket.end('x\n');
      await c.closed;
      assert.deepEqual(c.lines, ['got x']);
      const { spec } = await exposed.only();
      assert.equal(fs.readFileSync(spec.output, 'utf8'), 'to the log\n');
    } finally {
      await exposed.close();
    }
  });
});
