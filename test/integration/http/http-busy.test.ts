// --max-clients over every front end at once: a real server allowing one
// connection, held by an HTTP client of its API socket; then an HTTP client
// over TCP and one of the API socket are answered 429 problem+json
// FNJ_SERVER_BUSY with Retry-After (not a reset, not a hang), a classic client
// over plain TCP gets the classic busy line, and once the held connection
// closes, clients are served again.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HANG_GUARD_MS } from '../../helpers/environment.js';
import { httpAddresses, httpRequest, tcpRequest, type HttpReply, type HttpTarget } from '../../helpers/http.js';
import { startServer, type TestServer } from '../../helpers/server.js';

/** An HTTP/1.1 connection of the API socket kept open after one answered request: it counts against --max-clients. */
async function holdApiConnection(apiSocket: string): Promise<net.Socket> {
  const socket = net.connect(apiSocket);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/^HTTP\/1\.1 200 [^]*\r\n\r\n/.test(seen)) resolve();
    });
    socket.write('GET /status HTTP/1.1\r\nHost: fnjail\r\nConnection: keep-alive\r\n\r\n');
  });
  return socket;
}

function assertBusy(reply: HttpReply, over: string): void {
  assert.equal(reply.status, 429, `${over}: ${reply.status} ${reply.body.toString()}`);
  assert.equal(reply.headers['content-type'], 'application/problem+json');
  assert.equal(reply.headers['retry-after'], '1');
  const problem = reply.json<{ code: string; detail: string }>();
  assert.equal(problem.code, 'FNJ_SERVER_BUSY');
  assert.equal(problem.detail, 'the server is busy: 1 clients are connected (its limit); try again later');
}

/** The classic protocol over plain TCP: one request line, the reply up to the close. */
function classicOverTcp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(HANG_GUARD_MS, () => socket.destroy(new Error('no answer from the classic TCP listener')));
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
    socket.write('/nonexistent/lib.so run\n');
  });
}

describe('an HTTP client over --max-clients', () => {
  let server: TestServer;
  let tcp: HttpTarget;
  let classicPort: number;

  before(async () => {
    server = await startServer({ args: ['--max-clients', '1', '--http', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--insecure'] });
    tcp = httpAddresses(server.logs)[0]!;
    const start = server.logs.find((l) => l.event === 'server-start')!;
    classicPort = Number(/:(\d+)$/.exec(String((start.listen as string[])[0]))![1]);
  });
  after(async () => {
    await server?.stop();
  });

  it('is answered 429 FNJ_SERVER_BUSY with Retry-After over TCP and the API socket, a classic TCP client its busy line; served again once a connection closes', async () => {
    const held = await holdApiConnection(server.apiSocket);
    assertBusy(await tcpRequest(tcp, { method: 'GET', path: '/status' }), 'HTTP over TCP');
    assertBusy(await httpRequest(server.apiSocket, { method: 'GET', path: '/status' }), 'HTTP over the API socket');
    assert.equal(await classicOverTcp(classicPort), 'Error: the server is busy: 1 clients are connected (its limit); try again later\n');

    const closed = new Promise((resolve) => held.once('close', resolve));
    held.end();
    await closed;
    // The server sees the close a moment after the client does: each try is a whole exchange, refused until then.
    let reply: HttpReply | undefined;
    for (let tries = 0; tries < 200 && reply?.status !== 200; tries++) reply = await tcpRequest(tcp, { method: 'GET', path: '/status' });
    assert.equal(reply?.status, 200, 'the freed connection slot is taken by the next client');
  });
});
