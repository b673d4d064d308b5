// The private nats-server (src/cluster/private-nats.ts), a real Debian
// nats-server each time: loopback only, credentials in 0600 files and never on
// its command line, TLS with a pinned certificate, ready when a client gets
// in; killed, it comes back (on another port if its own was taken, which
// clients follow), with its JetStream data; stopped, it stays stopped; it
// dies with the fnjail process that started it, even one killed with SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { PrivateNatsServer, type PrivateNatsEndpoint } from '../../../src/cluster/private-nats.js';
import { FnjailError } from '../../../src/errors.js';
import { packageRoot } from '../../../src/paths.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';

let area: TestArea;
before(() => (area = createTestArea()));
after(() => area.cleanup());

let count = 0;
function stateDir(): string {
  return path.join(area.root, `nats-state-${++count}`);
}

function connectTo(endpoint: PrivateNatsEndpoint): Promise<NatsSystem> {
  return NatsSystem.connect({ servers: [endpoint.url], nkeySeed: endpoint.credentials.nkeySeed, tls: { ca: endpoint.credentials.caCert }, reconnectWaitMs: 50 });
}

/** Resolves with the first status event in that state. */
function nextState(system: NatsSystem, state: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (status: { state: string }) => {
      if (status.state !== state) return;
      system.off('status', listener);
      resolve();
    };
    system.on('status', listener);
  });
}

function refusedConnection(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('the private nats-server', () => {
  it('starts on loopback with fresh credentials kept in 0600 files, none of them on its command line', async () => {
    const dir = stateDir();
    const server = new PrivateNatsServer({ stateDir: dir });
    const endpoint = await server.start();
    try {
      assert.match(endpoint.url, /^tls:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(new URL(endpoint.url).port);
      assert.equal(await refusedConnection(port, '127.0.0.2'), 'ECONNREFUSED', 'it listens on 127.0.0.1 only');

      const mode = (file: string) => fs.statSync(path.join(dir, file)).mode & 0o777;
      assert.equal(mode(''), 0o700);
      assert.equal(mode('client.nk'), 0o600);
      assert.equal(mode('nats.conf'), 0o600);
      assert.equal(mode('tls/key.pem'), 0o600);
      assert.equal(fs.readFileSync(path.join(dir, 'client.nk'), 'utf8').trim(), endpoint.credentials.nkeySeed);
      assert.match(endpoint.credentials.nkeySeed, /^SU[A-Z2-7]+$/);
      const config = fs.readFileSync(path.join(dir, 'nats.conf'), 'utf8');
      assert.ok(!config.includes(endpoint.credentials.nkeySeed), 'the config holds the public key only');
      assert.match(config, /"nkey": "U[A-Z2-7]+"/);

      const cmdline = fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      assert.deepEqual(cmdline.slice(-2), ['-c', path.join(dir, 'nats.conf')]);
      assert.ok(!cmdline.join(' ').includes(endpoint.credentials.nkeySeed.slice(2, 20)));

      const system = await connectTo(endpoint);
      assert.equal(system.status().state, 'connected');
      await system.close();

      // Without the credentials, or without trusting its certificate, nobody gets in.
      await assert.rejects(NatsSystem.connect({ servers: [endpoint.url], tls: { ca: endpoint.credentials.caCert } }), (e: unknown) => e instanceof FnjailError && e.code === 'FNJ_NATS_UNREACHABLE' && /Authorization/i.test(e.message));
      await assert.rejects(NatsSystem.connect({ servers: [endpoint.url], nkeySeed: endpoint.credentials.nkeySeed, tls: {} }), (e: unknown) => e instanceof FnjailError && e.code === 'FNJ_NATS_UNREACHABLE' && /certificate/i.test(e.message));
    } finally {
      await server.stop();
    }
  });

  it('killed, is restarted on the same port with its data; clients reconnect by themselves', async () => {
    const server = new PrivateNatsServer({ stateDir: stateDir(), restartDelaysMs: [50] });
    const endpoint = await server.start();
    const system = await connectTo(endpoint);
    try {
      const kv = await system.kv('test-restart');
      await kv.put('greeting', 'hello');
      const died = new Promise<{ exit: { signal: string | null } }>((resolve) => server.once('died', resolve));
      const restarted = new Promise<{ url: string }>((resolve) => server.once('restarted', resolve));
      const disconnected = nextState(system, 'disconnected');
      const oldPid = server.pid!;
      process.kill(oldPid, 'SIGKILL');
      assert.equal((await died).exit.signal, 'SIGKILL');
      await disconnected;
      assert.equal((await restarted).url, endpoint.url);
      assert.notEqual(server.pid, oldPid);
      await system.whenConnected();
      assert.equal(system.status().reconnects, 1);
      assert.equal((await kv.get('greeting'))?.string(), 'hello', 'JetStream data survives the restart');
      assert.equal(server.restarts, 1);
    } finally {
      await system.close();
      await server.stop();
    }
  });

  it('restarted on another port when its own was taken meanwhile; the connection follows the new URL', async () => {
    const server = new PrivateNatsServer({ stateDir: stateDir(), restartDelaysMs: [20] });
    const endpoint = await server.start();
    const system = await connectTo(endpoint);
    const squatter = net.createServer();
    try {
      const kv = await system.kv('test-moved');
      await kv.put('k', 'v');
      const port = Number(new URL(endpoint.url).port);
      // Taken as soon as it died, before the restart's timer runs.
      server.once('died', () => squatter.listen(port, '127.0.0.1'));
      const failures: number[] = [];
      server.on('restart-failed', ({ attempt }) => failures.push(attempt));
      const restarted = new Promise<{ url: string }>((resolve) => server.once('restarted', resolve));
      process.kill(server.pid!, 'SIGKILL');
      const { url } = await restarted;
      assert.notEqual(url, endpoint.url);
      assert.deepEqual(failures, [1, 2], 'two tries on the old port, then any free one');
      assert.equal(server.url, url);
      await system.setServers([url]);
      await system.whenConnected();
      assert.equal((await kv.get('k'))?.string(), 'v');
    } finally {
      squatter.close();
      await system.close();
      await server.stop();
    }
  });

  it('stopped, it is gone and not restarted; started again, it has its data and new credentials', async () => {
    const dir = stateDir();
    const server = new PrivateNatsServer({ stateDir: dir, restartDelaysMs: [10] });
    const first = await server.start();
    const system = await connectTo(first);
    await (await system.kv('test-stop')).put('kept', 'yes');
    await system.close();
    const pid = server.pid!;
    let restarting = false;
    server.on('restarting', () => (restarting = true));
    await server.stop();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    assert.equal(restarting, false);
    assert.equal(fs.existsSync(path.join(dir, 'owner.pid')), false);

    const second = await server.start();
    try {
      assert.notEqual(second.credentials.nkeySeed, first.credentials.nkeySeed);
      const again = await connectTo(second);
      assert.equal((await (await again.kv('test-stop')).get('kept'))?.string(), 'yes');
      await again.close();
      // The old credentials are worthless now.
      await assert.rejects(connectTo({ url: second.url, credentials: first.credentials }), { code: 'FNJ_NATS_UNREACHABLE' });
    } finally {
      await server.stop();
    }
  });

  it('refuses a state directory others can write, and one another server uses', async () => {
    const open = stateDir();
    fs.mkdirSync(open, { mode: 0o777 });
    fs.chmodSync(open, 0o777);
    await assert.rejects(new PrivateNatsServer({ stateDir: open }).start(), (e: unknown) => e instanceof FnjailError && e.code === 'FNJ_STATE_DIR_UNSAFE' && /writable by others/.test(e.message));
    assert.deepEqual(fs.readdirSync(open), [], 'nothing was started or written');

    const shared = stateDir();
    const owner = spawnOwner(shared);
    try {
      const { pid } = await owner.ready;
      await assert.rejects(new PrivateNatsServer({ stateDir: shared }).start(), (e: unknown) => e instanceof FnjailError && e.code === 'FNJ_NATS_FAILED' && e.message.includes(`in use by process ${pid}`));
    } finally {
      owner.child.kill('SIGKILL');
    }
  });

  it('dies with the fnjail process that started it, even one killed with SIGKILL', async () => {
    const owner = spawnOwner(stateDir());
    const { endpoint } = await owner.ready;
    const system = await connectTo(endpoint);
    try {
      const disconnected = nextState(system, 'disconnected');
      owner.child.kill('SIGKILL');
      await disconnected;
      // The server closes its clients' connections before its listener as it exits: asked again until the
      // port refuses (bounded: a server that lives on fails the test).
      let answer = '';
      for (let ask = 0; ask < 200 && answer !== 'ECONNREFUSED'; ask++) {
        if (ask) await new Promise((resolve) => setTimeout(resolve, 25));
        answer = await refusedConnection(Number(new URL(endpoint.url).port), '127.0.0.1');
      }
      assert.equal(answer, 'ECONNREFUSED');
    } finally {
      await system.close();
    }
  });
});

/** Another Node process that starts a private server and prints its endpoint. */
function spawnOwner(dir: string) {
  const module = path.join(packageRoot, 'dist', 'src', 'cluster', 'private-nats.js');
  const script = `const { PrivateNatsServer } = await import(${JSON.stringify(module)});
const endpoint = await new PrivateNatsServer({ stateDir: ${JSON.stringify(dir)} }).start();
console.log(JSON.stringify({ pid: process.pid, endpoint }));
setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<{ pid: number; endpoint: PrivateNatsEndpoint }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
    });
    child.once('exit', (code) => reject(new Error(`the owner process exited (${code}) before it was ready`)));
  });
  return { child, ready };
}
