// The connection to a NATS system (src/cluster/nats-connection.ts) against
// real nats-servers started by the test: plain NATS only to loopback and only
// when asked for; user and password; mutual TLS with the node's certificate
// (refused without it, with another CA's, or to a server whose certificate
// names another address); a status that follows the server going and coming
// back; KV buckets and object stores created if missing, with the replicas
// asked for.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NatsSystem, type NatsStatus } from '../../../src/cluster/nats-connection.js';
import { FnjailError } from '../../../src/errors.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';
import { makeTestPki, type TestPki } from '../../helpers/tls.js';

let area: TestArea;
let pki: TestPki;
let plain: TestNatsServer;
let mutualTls: TestNatsServer;
let wrongName: TestNatsServer;
const servers: TestNatsServer[] = [];

before(async () => {
  area = createTestArea();
  pki = makeTestPki(path.join(area.root, 'pki'));
  plain = await startTestNatsServer(area.root, { authorization: { user: 'fnjail', password: 'correct horse' } });
  // A server certificate for the IP address only, as many clusters have (no "localhost" in it).
  const ipOnly = pki.issue({ cn: 'nats-ip-only', usage: 'server', altNames: ['IP:127.0.0.1'] });
  mutualTls = await startTestNatsServer(area.root, { tls: { cert_file: ipOnly.cert, key_file: ipOnly.key, ca_file: pki.caCert, verify: true } });
  const other = pki.issue({ cn: 'nats-elsewhere', usage: 'server', altNames: ['IP:127.0.0.2', 'DNS:elsewhere.invalid'] });
  wrongName = await startTestNatsServer(area.root, { tls: { cert_file: other.cert, key_file: other.key } });
  servers.push(plain, mutualTls, wrongName);
});
after(async () => {
  for (const server of servers) await server.stop();
  area.cleanup();
});

const plainOptions = () => ({ servers: [plain.url], user: 'fnjail', password: 'correct horse', insecure: true, reconnectWaitMs: 50 });

function refused(code: string, pattern: RegExp) {
  return (error: unknown) => error instanceof FnjailError && error.code === code && pattern.test(error.message);
}

describe('connecting to NATS', () => {
  it('refuses plain NATS unless asked for, and to anything but loopback even then', async () => {
    await assert.rejects(NatsSystem.connect({ ...plainOptions(), insecure: false }), refused('FNJ_NATS_INSECURE', /refused unless asked for/));
    // Refused before any connection is tried: the name does not even resolve.
    await assert.rejects(NatsSystem.connect({ ...plainOptions(), servers: ['nats://nats.example.invalid:4222'] }), refused('FNJ_NATS_INSECURE', /only loopback addresses/));
    await assert.rejects(NatsSystem.connect({ ...plainOptions(), servers: [plain.url, 'nats.example.invalid:4222'] }), refused('FNJ_NATS_INSECURE', /nats\.example\.invalid/));
    const system = await NatsSystem.connect(plainOptions());
    assert.equal(system.status().state, 'connected');
    assert.equal(system.status().server, `127.0.0.1:${plain.port}`);
    await system.close();
  });

  it('with user and password: a wrong password is refused with the reason', async () => {
    await assert.rejects(NatsSystem.connect({ ...plainOptions(), password: 'wrong' }), refused('FNJ_NATS_UNREACHABLE', /Authorization Violation/i));
    await assert.rejects(NatsSystem.connect({ ...plainOptions(), user: undefined, password: undefined }), refused('FNJ_NATS_UNREACHABLE', /Authorization Violation/i));
  });

  it('with mutual TLS: the CA and the node certificate get in; no certificate or another CA\'s does not', async () => {
    const node = pki.client('node-a');
    const tls = { caFile: pki.caCert, certFile: node.cert, keyFile: node.key };
    const system = await NatsSystem.connect({ servers: [mutualTls.url], tls });
    assert.equal(system.status().state, 'connected');
    await system.close();
    // The server's refusal reaches the client library as a timeout only (it loses the TLS alert): a short one here.
    const refusedCertificate = refused('FNJ_NATS_UNREACHABLE', /refused client certificate/);
    await assert.rejects(NatsSystem.connect({ servers: [mutualTls.url], tls: { caFile: pki.caCert }, connectTimeoutMs: 1000 }), refusedCertificate);
    const stranger = pki.foreignClient('node-a');
    await assert.rejects(NatsSystem.connect({ servers: [mutualTls.url], tls: { caFile: pki.caCert, certFile: stranger.cert, keyFile: stranger.key }, connectTimeoutMs: 1000 }), refusedCertificate);
    await assert.rejects(NatsSystem.connect({ servers: [mutualTls.url], tls: { caFile: pki.foreignCaCert, certFile: node.cert, keyFile: node.key } }), refused('FNJ_NATS_UNREACHABLE', /certificate/i));
    await assert.rejects(NatsSystem.connect({ servers: [mutualTls.url], tls: { ...tls, caFile: path.join(area.root, 'missing-ca.pem') } }), refused('FNJ_TLS_FAILED', /missing-ca\.pem/));
  });

  it("checks the server's certificate against the address dialled", async () => {
    await assert.rejects(NatsSystem.connect({ servers: [wrongName.url], tls: { caFile: pki.caCert } }), refused('FNJ_NATS_UNREACHABLE', /altnames|does not match/i));
  });
});

describe('the connection over time', () => {
  it('says when the server goes away and when it is back, and reconnects by itself', async () => {
    const server = await startTestNatsServer(area.root, { authorization: { user: 'u', password: 'p' } });
    servers.push(server);
    const system = await NatsSystem.connect({ servers: [server.url], user: 'u', password: 'p', insecure: true, reconnectWaitMs: 50 });
    const states: string[] = [];
    const back = new Promise<NatsStatus>((resolve) =>
      system.on('status', (status) => {
        states.push(status.state);
        if (status.state === 'connected') resolve(status);
      }),
    );
    await server.kill();
    await server.restart();
    const status = await back;
    assert.equal(states[0], 'disconnected');
    assert.equal(status.reconnects, 1);
    assert.equal(status.server, `127.0.0.1:${server.port}`);
    await system.close();
    assert.equal(system.status().state, 'closed');
    await assert.rejects(system.whenConnected(), { code: 'FNJ_NATS_UNREACHABLE' });
  });
});

describe('JetStream handles', () => {
  it('creates a KV bucket when missing and opens it when it exists', async () => {
    const a = await NatsSystem.connect(plainOptions());
    const b = await NatsSystem.connect(plainOptions());
    try {
      await (await a.kv('test-bucket', { history: 3 })).put('key', 'first');
      const kv = await b.kv('test-bucket', { history: 3 });
      assert.equal((await kv.get('key'))?.string(), 'first');
      assert.equal((await kv.status()).history, 3);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('creates an object store with the replicas asked for (3 is refused by a single server, which shows they reach it)', async () => {
    const system = await NatsSystem.connect({ ...plainOptions(), replicas: 1 });
    try {
      const store = await system.objectStore('test-store');
      await store.putBlob({ name: 'blob' }, new Uint8Array(200_000).fill(7));
      assert.equal((await store.getBlob('blob'))?.length, 200_000);
      assert.equal((await store.status()).replicas, 1);
      await assert.rejects(system.objectStore('test-store-r3', { replicas: 3 }), /replicas > 1 not supported in non-clustered mode/);
      await assert.rejects(system.kv('test-kv-r3', { replicas: 3 }), /replicas > 1 not supported in non-clustered mode/);
    } finally {
      await system.close();
    }
  });
});
