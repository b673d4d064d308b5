// TCP listeners: with mutual TLS (the client's certificate, issued by the
// configured CA, is its identity for the policy), or plain for --insecure on
// loopback only. A client refused at the handshake (no certificate, another
// CA's) never reaches a session; the refusal is audited.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { AuditLog } from '../audit/audit-log.js';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { FnjailError } from '../errors.js';
import type { Tenant } from '../policy/decide.js';

export type Remote = NonNullable<Tenant['remote']>;

export interface TcpListenerOptions {
  /** HOST:PORT. */
  address: string;
  tls: { cert: string; key: string; ca: string } | undefined;
  onConnection: (socket: net.Socket, remote: Remote) => void;
  audit: AuditLog;
}

const addressOf = (socket: net.Socket) => `${socket.remoteAddress}:${socket.remotePort}`;

function tlsServer(files: { cert: string; key: string; ca: string }, options: TcpListenerOptions): tls.Server {
  let context: { cert: Buffer; key: Buffer; ca: Buffer };
  try {
    context = { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), ca: fs.readFileSync(files.ca) };
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `cannot read the TLS files: ${(error as Error).message}`, 'check --tls-cert, --tls-key and --tls-ca');
  }
  let server: tls.Server;
  try {
    server = tls.createServer({ ...context, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', allowHalfOpen: true }, (socket) => {
      const certificate = socket.getPeerCertificate();
      const commonName = typeof certificate.subject?.CN === 'string' ? certificate.subject.CN : undefined;
      options.onConnection(socket, { address: addressOf(socket), commonName, fingerprint: certificate.fingerprint256 });
    });
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `the TLS files cannot be used: ${(error as Error).message}`, 'the certificate must match the key, all in PEM');
  }
  server.on('tlsClientError', (error, socket) => {
    options.audit.lifecycle(
      'connection-refused',
      { transport: 'tls', remote: addressOf(socket), reason: error.message, listen: options.address },
      `TLS client ${addressOf(socket)} refused at the handshake: ${error.message}`,
      'warn',
    );
  });
  return server;
}

/** Listens; resolves with the server and the address it is bound to (port 0: any free one). */
export async function listenTcp(options: TcpListenerOptions): Promise<{ server: net.Server; bound: string }> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseListenAddress(options.address));
  } catch (error) {
    throw new FnjailError('FNJ_USAGE', (error as Error).message, 'see fnjail serve --help');
  }
  let server: net.Server;
  if (options.tls) {
    server = tlsServer(options.tls, options);
  } else {
    if (!isLoopback(host)) {
      throw new FnjailError('FNJ_USAGE', `--insecure serves plain TCP only on loopback, not on ${host}`, 'use TLS (--tls-cert, --tls-key, --tls-ca) for other addresses');
    }
    server = net.createServer({ allowHalfOpen: true }, (socket) => options.onConnection(socket, { address: addressOf(socket), commonName: undefined, fingerprint: undefined }));
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new FnjailError('FNJ_SOCKET_FAILED', `cannot listen on ${options.address}: ${(error as Error).message}`)));
    server.listen({ host, port, backlog: 4096 }, () => resolve());
  });
  const info = server.address() as net.AddressInfo;
  return { server, bound: `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}` };
}
