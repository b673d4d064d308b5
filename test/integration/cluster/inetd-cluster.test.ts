// Per-connection services (inetd) across a cluster: three real `fnjail serve`
// nodes in hosts of their own (netns), each beside its nats-server (mutual
// TLS, the broker permissions of `fnjail cluster config`), one sandbox slot
// each. node-b exposes TP7's toupper (built in the sandbox) and an echo
// program with --balance round-robin: consecutive clients of node-b are
// served in turn by node-a, node-b and node-c (the program's host name says
// which), the connection staying on node-b and its bytes relayed over NATS
// both ways. A large input comes back whole and in order (through the relay's
// credit window many times over). node-a exposes echo, least-loaded: a client
// runs there while its slot is free, then on a node with a free slot, never
// on one without; a node killed while running a client's program ends that
// client's connection, recorded "node lost" on node-a; the entry node killed
// ends the programs its clients had elsewhere at once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { BROKER_FILES } from '../../../src/cluster/broker-config.js';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { SUBJECTS, inboxPrefix } from '../../../src/cluster/subjects.js';
import { decodeMessage } from '../../../src/cluster/wire.js';
import { tarGz } from '../../helpers/tar-builder.js';
import type { User } from '../../helpers/as-user.js';
import { createClusterLab, type ClusterLab } from '../../helpers/cluster-lab.js';
import { startClusterNode } from '../../helpers/cluster-servers.js';
import { cliMain, createTestArea, requireRoot, type TestArea } from '../../helpers/environment.js';
import { fnjailAs, toupperBundle } from '../../helpers/fnjail-cli.js';
import { lineClient, type LineClient } from '../../helpers/line-client.js';
import { waitForLog, type TestServer } from '../../helpers/server.js';

const run = promisify(execFile);
const NODES = ['node-a', 'node-b', 'node-c'];
const BOB: User = { uid: 4531, gid: 4531 };
let area: TestArea;
let lab: ClusterLab;
const servers = new Map<string, TestServer>();
const node = (name: string): TestServer => servers.get(name)!;
type Record = { [key: string]: unknown };

const policy = (a: TestArea) => ({
  defaults: { libraryDirs: [a.libDir], inputDirs: [a.dataDir], limits: { timeoutMs: 600_000 } },
  tenants: [{ name: 'bob', match: { uids: [BOB.uid] }, deploy: true }],
});

/** A per-connection program: the host name its sandbox sees (the node's), then `then`. */
function hostBundle(name: string, then: string): string {
  const file = path.join(area.root, `${name}.tar.gz`);
  fs.writeFileSync(
    file,
    tarGz([
      { name: 'fnjail.json', data: JSON.stringify({ name, kind: 'program', mode: 'per-connection', entry: 'run.sh' }) },
      { name: 'run.sh', mode: 0o755, data: `#!/bin/sh\ncat /proc/sys/kernel/hostname\n${then}\n` },
    ]),
    { mode: 0o644 },
  );
  return file;
}

/** The entry node's port for the function, from its start record. */
function exposedPort(name: string, entry = 'node-b'): number {
  const start = node(entry).logs.find((l) => l.event === 'server-start') as { expose: Array<{ function: string; listen: string }> };
  return Number(/:(\d+)$/.exec(start.expose.find((e) => e.function === name)!.listen)![1]);
}

/** Connects to node-b's exposed echo, writes `input` then EOF; resolves to all it received, until the connection ended. */
function echoExchange(input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: lab.network.host('node-b').address, port: exposedPort('echo') });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.end(input);
  });
}

/** Waits until node `name`'s member table passes the test (asked a few times a second). */
async function membersUntil(name: string, test: (rows: Array<{ node: string; state: string; calls: { freeSlots: number } | null }>) => boolean): Promise<void> {
  for (;;) {
    const status = JSON.parse((await run(process.execPath, [cliMain, 'cluster', 'status', '--json', '--api-socket', node(name).apiSocket])).stdout) as { members: Array<{ node: string; state: string; calls: { freeSlots: number } | null }> };
    if (test(status.members)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The record of the connection whose client was at `address`, on a node. */
const executionOf = (server: TestServer, address: string): Promise<Record> =>
  waitForLog(server, (l) => l.event === 'execution' && (l.peer as { remote?: { address?: string } }).remote?.address === address);

before(async () => {
  requireRoot();
  area = createTestArea();
  lab = await createClusterLab(area.root, NODES, () => ({ balance: 'round-robin', capacity: 4, replicas: 3 }));
  const [a, b] = ['node-a', 'node-b'].map((n) => lab.network.host(n).address);
  const roles: { [node: string]: string[] } = {
    'node-a': ['--balance', 'least-loaded', '--expose', `echo=${a}:0`],
    'node-b': ['--balance', 'round-robin', '--expose', `toupper=${b}:0`, '--expose', `echo=${b}:0`, '--expose', `flood=${b}:0`],
    'node-c': [],
  };
  for (const name of NODES) servers.set(name, await startClusterNode(lab, name, policy, ['--max-concurrent', '1', ...roles[name]!]));
  // Every node sees the three up (the entry's router picks among them).
  for (const name of NODES) await membersUntil(name, (rows) => NODES.every((n) => rows.some((m) => m.node === n && m.state === 'up' && m.calls !== null)));
  // echo: its input back; flood: "y" lines without end, as fast as they are taken.
  for (const bundle of [toupperBundle(area), hostBundle('echo', 'exec cat'), hostBundle('flood', 'exec yes')]) {
    const deployed = await fnjailAs(node('node-b'), BOB, ['deploy', bundle]);
    assert.equal(deployed.status, 0, deployed.stderr);
  }
});
after(async () => {
  for (const server of servers.values()) await server.stop().catch(() => undefined);
  await lab?.destroy();
  area?.cleanup();
});

describe('per-connection services forwarded across a cluster of three hosts', { timeout: 300_000 }, () => {
  it('round-robin: consecutive clients of node-b get their lines upper-cased by node-a, node-b and node-c in turn, each recorded on both nodes', async () => {
    const hosts: string[] = [];
    for (let i = 0; i < 6; i++) {
      const client = lineClient(exposedPort('toupper'), lab.network.host('node-b').address);
      const address = await client.connected;
      client.socket.write(`hello ${i}\n`);
      await client.lineCount(1);
      client.socket.end(`bonjour ${i}\n`);
      await client.closed;
      const match = /^(node-[abc]) (\d+) HELLO (\d)$/.exec(client.lines[0] ?? '');
      assert.ok(match, `client ${i}: ${client.lines.join(' | ')}`);
      assert.equal(match[3], String(i));
      assert.deepEqual(client.lines, [`${match[1]} ${match[2]} HELLO ${i}`, `${match[1]} ${match[2]} BONJOUR ${i}`], 'both lines, by one process, then the end');
      hosts.push(match[1]!);
      // node-b's record has the client's address and where it ran; the node that ran it records it too.
      const record = await executionOf(node('node-b'), address);
      assert.equal(record.outcome, 'ok', JSON.stringify(record));
      if (match[1] !== 'node-b') {
        assert.equal(record.ranOn, match[1]);
        const there = await executionOf(node(match[1]!), address);
        assert.equal(there.outcome, 'ok');
        assert.equal((there.registered as { name: string }).name, 'toupper');
      } else {
        assert.equal(record.ranOn ?? undefined, undefined);
      }
    }
    for (let i = 1; i < hosts.length; i++) assert.notEqual(hosts[i], hosts[i - 1], `alternation: ${hosts.join(', ')}`);
    assert.deepEqual([...new Set(hosts)].sort(), NODES, `every node served some: ${hosts.join(', ')}`);
  });

  it('a large input (1 MiB) relayed from node-b to another node comes back whole and in order', async () => {
    const input = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < input.length; i += 4) input.writeUInt32BE(i / 4, i);
    // Round-robin: one of three consecutive clients is served elsewhere.
    let remote = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const output = await echoExchange(input);
      const newline = output.indexOf(0x0a);
      const host = output.subarray(0, newline).toString();
      assert.match(host, /^node-[abc]$/);
      assert.equal(output.length - newline - 1, input.length, `all the bytes back from ${host}`);
      assert.ok(output.subarray(newline + 1).equals(input), `in order, from ${host}`);
      if (host !== 'node-b') remote++;
    }
    assert.equal(remote, 2, 'two of the three through the relay');
  });

  it('backpressure: a client that stops reading stops the program on the other node after a bounded number of bytes; flow resumes, and its close ends the program', async (t) => {
    // What the runner sends node-b, counted as node-b receives it (node-b's identity: only it may read these subjects).
    const files = path.join(lab.configDir, 'node-b');
    const observer = await NatsSystem.connect({
      servers: lab.urls,
      tls: { caFile: path.join(files, BROKER_FILES.ca), certFile: path.join(files, BROKER_FILES.nodeCert), keyFile: path.join(files, BROKER_FILES.nodeKey) },
      name: 'node-b-observer',
      inboxPrefix: inboxPrefix('node-b'),
    });
    let relayed = 0;
    observer.connection.subscribe(SUBJECTS.relaysFor('node-b'), {
      callback: (error, msg) => {
        if (!error && msg.subject.split('.')[2] !== 'node-b') relayed += decodeMessage(msg.data, 'relay-data', 'relay-credit', 'relay-eof', 'relay-abort').body.length;
      },
    });
    await observer.connection.flush();
    try {
      let client: LineClient | undefined;
      for (let attempt = 0; attempt < 3; attempt++) {
        client = lineClient(exposedPort('flood'), lab.network.host('node-b').address);
        await client.lineCount(1);
        client.socket.pause(); // the client reads no more
        if (client.lines[0] !== 'node-b') break;
        client.socket.destroy();
        await client.closed;
      }
      const runner = client!.lines[0]!;
      assert.ok(runner === 'node-a' || runner === 'node-c', `served elsewhere, not by ${runner}`);
      const address = `${client!.socket.localAddress}:${client!.socket.localPort}`;
      // The flow stops: the count stays the same over ten looks in a row (a
      // bounded number of looks: no event says "nothing more comes"; without
      // the window the count grows as fast as yes writes, and this fails).
      let same = 0;
      for (let look = 0, last = -1; look < 600 && same < 10; look++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        same = relayed === last ? same + 1 : 0;
        last = relayed;
      }
      assert.equal(same, 10, `the relayed bytes never stopped growing (${relayed})`);
      // One window (256 KiB) past what the client's and node-b's TCP buffers hold (a few MiB).
      assert.ok(relayed < 32 * 1024 * 1024, `${relayed} bytes relayed to a client that reads nothing`);
      assert.ok(relayed > 256 * 1024, `the window was used (${relayed})`);
      t.diagnostic(`relayed to a client that stopped reading: ${relayed} bytes`);
      // Reading again: the flow resumes.
      const stopped = relayed;
      client!.socket.resume();
      while (relayed < stopped + 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 50));
      // The client goes: the program on the other node ends (its connection closed), recorded there.
      client!.socket.destroy();
      const record = await executionOf(node(runner), address);
      assert.equal((record.registered as { name: string }).name, 'flood');
      assert.equal((await executionOf(node('node-b'), address)).ranOn, runner);
    } finally {
      await observer.close();
    }
  });

  const holders: LineClient[] = [];
  it('least-loaded: a client of node-a runs there while its slot is free, then on a node with a free slot, never on one without', async () => {
    const address = lab.network.host('node-a').address;
    // node-b and node-c idle in node-a's view (a heartbeat sent while the tests above ran may say busy).
    await membersUntil('node-a', (rows) => ['node-b', 'node-c'].every((n) => rows.some((m) => m.node === n && m.state === 'up' && m.calls?.freeSlots === 1)));
    // Each client gets its program's first line (its host) and holds its sandbox slot.
    const hold = async (): Promise<string> => {
      const client = lineClient(exposedPort('echo', 'node-a'), address);
      holders.push(client);
      await client.lineCount(1);
      return client.lines[0] ?? `nothing (closed: ${client.socket.destroyed})`;
    };
    assert.equal(await hold(), 'node-a', 'a free slot here: here');
    const second = await hold();
    assert.ok(second === 'node-b' || second === 'node-c', `node-a full: elsewhere, not ${second}`);
    const third = await hold();
    assert.equal(third, second === 'node-b' ? 'node-c' : 'node-b', `${second} full too: the node with a free slot`);
  });

  it("kill -9 the node running a client's program: the client's connection ends, node-a records it lost", async () => {
    // The second client of the test above: on node-b or node-c.
    const client = holders[1]!;
    const victim = client.lines[0]!;
    client.socket.write('still there\n');
    await client.lineCount(2);
    assert.equal(client.lines[1], 'still there', 'bytes both ways');
    const clientAddress = `${client.socket.localAddress}:${client.socket.localPort}`;
    node(victim).process.kill('SIGKILL');
    await client.closed; // never left hanging
    const record = await executionOf(node('node-a'), clientAddress);
    assert.equal(record.ranOn, victim);
    assert.equal(record.outcome, 'server-error');
    assert.match((record.reasons as string[]).join('\n'), new RegExp(`the call started on node ${victim}, then it went down; it was not run again`));
    // The others end normally: their end of input, then their connection closed after the last bytes.
    for (const other of [holders[0]!, holders[2]!]) {
      other.socket.end('bye\n');
      await other.closed;
      assert.equal(other.lines[1], 'bye');
    }
  });
  it("kill -9 the entry node: the program its client had on another node is told at once (not at its idle limit) and ends", async () => {
    const survivor = ['node-b', 'node-c'].find((n) => node(n).process.exitCode === null && node(n).process.signalCode === null)!;
    const address = lab.network.host('node-a').address;
    await membersUntil('node-a', (rows) => rows.some((m) => m.node === 'node-a' && m.calls?.freeSlots === 1) && rows.some((m) => m.node === survivor && m.state === 'up' && m.calls?.freeSlots === 1));
    const here = lineClient(exposedPort('echo', 'node-a'), address);
    await here.lineCount(1);
    assert.equal(here.lines[0], 'node-a', 'the first client holds node-a\'s slot');
    const relayed = lineClient(exposedPort('echo', 'node-a'), address);
    await relayed.lineCount(1);
    assert.equal(relayed.lines[0], survivor, 'node-a full: the program runs on the node left');
    const clientAddress = await relayed.connected;
    node('node-a').process.kill('SIGKILL');
    await Promise.all([here.closed, relayed.closed]);
    // The runner hears node-a went down (from the coordinator), ends the relay, and its program ends with its input.
    const told = await waitForLog(node(survivor), (l) => l.msg === 'relayed connection ended: its client was on a node that is gone' && l.caller === 'node-a');
    assert.match(String(told.reason), /^node node-a went down$/);
    const record = await executionOf(node(survivor), clientAddress);
    assert.equal(record.outcome, 'ok', 'cat saw the end of its input and exited');
  });
});
