// TCP listeners: with mutual TLS (the client's certificate, issued by the
// configured CA, is its identity for the policy), or plain for --insecure on
// loopback only. Every TCP connection is shown to `admit` as soon as it is
// accepted, before any TLS, so that it counts against the server's limit on
// clients from its first byte: one that never starts or never completes its
// handshake is closed after handshakeTimeoutMs. A client refused at the
// handshake (no certificate, another CA's, plain text, too slow) never reaches
// a session; the refusal is reported with the client's address and what
// really went wrong.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { FnjailError } from '../errors.js';
import type { Tenant } from '../policy/decide.js';

export type Remote = NonNullable<Tenant['remote']>;

export interface TcpListenerOptions {
  /** HOST:PORT. */
  address: string;
  tls: { cert: string; key: string; ca: string } | undefined;
  /** A connection accepted, before TLS; false: it is refused (the caller says why). */
  admit: (raw: net.Socket, address: string) => boolean;
  /** How a plain connection that admit refused is answered (default: destroyed at once). With TLS
   * it is always destroyed: nothing can be said to a client before its handshake. */
  refuse?: (socket: net.Socket) => void;
  /** A TLS handshake is over (done or failed): the raw connection admitted for it no longer counts (its close is never reported; the TLS socket's is). */
  handshakeOver: (raw: net.Socket) => void;
  /** A connection ready for requests (after the handshake, with TLS). */
  onConnection: (socket: net.Socket, remote: Remote) => void;
  /** A TLS handshake that failed: the client's address and why, in words and as the error's code. */
  onHandshakeRefused: (address: string, reason: string, code: string | undefined) => void;
  handshakeTimeoutMs: number;
  /** required (default): a client without a certificate from the CA is refused at the handshake;
   * optional (the HTTP API, whose clients may bring a bearer token instead): a client may
   * present none, but one that presents a certificate the CA did not issue is refused. */
  clientCertificate?: 'required' | 'optional';
  /** The application protocols offered (ALPN), e.g. http/1.1. */
  alpn?: string[];
}

const addressOf = (socket: net.Socket) => `${socket.remoteAddress}:${socket.remotePort}`;

/** What a failed handshake means, for the audit log (Node's message alone says "socket hang up"). */
export function handshakeFailure(error: NodeJS.ErrnoException & { reason?: string }, timeoutMs: number): string {
  const reason = error.reason ?? '';
  switch (error.code) {
    case 'ECONNRESET':
      return 'the client closed the connection before the TLS handshake completed';
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return `no TLS handshake within ${timeoutMs} ms`;
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `not a TLS client: it sent plain text (${reason || error.code})`;
    case 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE':
      return 'the client presented no certificate (one issued by --tls-ca is required)';
    default:
      if (/certificate verify failed|unknown ca|unable to get (local )?issuer/i.test(`${reason} ${error.message}`)) {
        return `the client's certificate is not issued by the accepted CA (${reason || error.message.split('\n')[0]})`;
      }
      return reason || error.message.split('\n')[0] || String(error.code);
  }
}

function tlsServer(files: { cert: string; key: string; ca: string }, options: TcpListenerOptions): tls.Server {
  let context: { cert: Buffer; key: Buffer; ca: Buffer };
  try {
    context = { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), ca: fs.readFileSync(files.ca) };
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `cannot read the TLS files: ${(error as Error).message}`, 'check --tls-cert, --tls-key and --tls-ca');
  }
  let server: tls.Server;
  try {
    server = tls.createServer(
      {
        ...context,
        requestCert: true,
        rejectUnauthorized: options.clientCertificate !== 'optional',
        minVersion: 'TLSv1.2',
        allowHalfOpen: true,
        handshakeTimeout: options.handshakeTimeoutMs,
        ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
      },
      (socket) => {
        const raw = (socket as unknown as { _parent?: net.Socket })._parent;
        if (raw) options.handshakeOver(raw);
        const certificate = socket.getPeerCertificate();
        // Optional certificates: none is fine (a token may come), a bad one is a refusal as with required ones.
        if (!socket.authorized && Object.keys(certificate).length > 0) {
          const error = Object.assign(new Error(String(socket.authorizationError)), { code: 'ERR_TLS_CERT_REFUSED', reason: `certificate verify failed: ${String(socket.authorizationError)}` });
          options.onHandshakeRefused((raw && addresses.get(raw)) ?? addressOf(socket), handshakeFailure(error, options.handshakeTimeoutMs), error.code);
          socket.destroy();
          return;
        }
        const commonName = typeof certificate.subject?.CN === 'string' ? certificate.subject.CN : undefined;
        options.onConnection(socket, { address: addressOf(socket), commonName, fingerprint: certificate.fingerprint256 });
      },
    );
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `the TLS files cannot be used: ${(error as Error).message}`, 'the certificate must match the key, all in PEM');
  }
  // The address is taken when the connection is accepted: by the time a handshake fails the socket may be gone.
  const addresses = new WeakMap<net.Socket, string>();
  const refused = new WeakSet<net.Socket>();
  server.prependListener('connection', (raw: net.Socket) => {
    const address = addressOf(raw);
    addresses.set(raw, address);
    if (!options.admit(raw, address)) {
      refused.add(raw);
      raw.destroy();
    }
  });
  server.on('tlsClientError', (error, socket) => {
    const raw = (socket as unknown as { _parent?: net.Socket })._parent;
    if (raw && refused.has(raw)) return; // refused before its handshake, and said so then
    const address = (raw && addresses.get(raw)) ?? addressOf(socket);
    options.onHandshakeRefused(address, handshakeFailure(error, options.handshakeTimeoutMs), (error as NodeJS.ErrnoException).code);
    // Node ends the TLS socket but not always the connection under it (a handshake timeout left it open): close it.
    socket.destroy();
    if (raw) {
      raw.destroy();
      options.handshakeOver(raw);
    }
  });
  return server;
}

/** Resolves a host name to every address it has (an IP literal is itself). */
async function addressesOf(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host];
  try {
    return (await dns.lookup(host, { all: true })).map((a) => a.address);
  } catch (error) {
    throw new FnjailError('FNJ_SOCKET_FAILED', `cannot resolve ${host}: ${(error as Error).message}`);
  }
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
  const plainOnly = (what: string) =>
    new FnjailError('FNJ_USAGE', `--insecure serves plain TCP only on loopback, not on ${what}`, 'use TLS (--tls-cert, --tls-key, --tls-ca) for other addresses');
  let server: net.Server;
  if (options.tls) {
    server = tlsServer(options.tls, options);
  } else {
    // The name's spelling proves nothing ("evil.localhost" may resolve to 0.0.0.0): what it resolves to, then what is bound, must be loopback.
    for (const address of await addressesOf(host)) if (!isLoopback(address)) throw plainOnly(`${host} (${address})`);
    server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const address = addressOf(socket);
      if (!options.admit(socket, address)) (options.refuse ?? ((refused: net.Socket) => refused.destroy()))(socket);
      else options.onConnection(socket, { address, commonName: undefined, fingerprint: undefined });
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new FnjailError('FNJ_SOCKET_FAILED', `cannot listen on ${options.address}: ${(error as Error).message}`)));
    server.listen({ host, port, backlog: 4096 }, () => resolve());
  });
  const info = server.address() as net.AddressInfo;
  if (!options.tls && !isLoopback(info.address)) {
    server.close();
    throw plainOnly(`${host}, bound to ${info.address}`);
  }
  return { server, bound: `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}` };
}
