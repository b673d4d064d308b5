// How the CLI reaches the server: the UNIX socket (default), or TCP with
// mutual TLS, from flags or, as for the C client library, the environment:
// FNJAIL_SOCKET, FNJAIL_CONNECT=HOST:PORT, FNJAIL_TLS_CERT, FNJAIL_TLS_KEY,
// FNJAIL_TLS_CA, FNJAIL_INSECURE=1 (plain TCP, loopback only).
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { defaultSocket } from '../config/defaults.js';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { FnjailError } from '../errors.js';
import { peerCredentials } from '../server/peer-credentials.js';
import { usageError } from './args.js';

export type Target =
  | { kind: 'unix'; name: string; path: string }
  | { kind: 'tcp'; name: string; host: string; port: number; tls: { cert: string; key: string; ca: string } | undefined };

export const TRANSPORT_OPTIONS = {
  socket: { type: 'string' },
  connect: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

export const TRANSPORT_HELP = `  --socket PATH        the server's UNIX socket (default: $FNJAIL_SOCKET, else /run/fnjail/fnjail.sock)
  --connect HOST:PORT  the server over TCP instead, with TLS (default: $FNJAIL_CONNECT)
  --tls-cert FILE      this client's certificate, from the server's --tls-ca ($FNJAIL_TLS_CERT)
  --tls-key FILE       its key ($FNJAIL_TLS_KEY)
  --tls-ca FILE        the CA of the server's certificate ($FNJAIL_TLS_CA)
  --insecure           plain TCP, to a server on loopback only ($FNJAIL_INSECURE=1)`;

interface TransportValues {
  socket?: string | undefined;
  connect?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-ca'?: string | undefined;
  insecure?: boolean | undefined;
}

export function targetFrom(command: string, values: TransportValues, env: NodeJS.ProcessEnv = process.env): Target {
  const connect = values.connect ?? (values.socket === undefined ? env.FNJAIL_CONNECT || undefined : undefined);
  if (connect === undefined) {
    const path = values.socket ?? defaultSocket();
    return { kind: 'unix', name: path, path };
  }
  if (values.socket !== undefined) throw usageError(command, '--socket and --connect exclude each other');
  let address: { host: string; port: number };
  try {
    address = parseListenAddress(connect, 'server');
  } catch (error) {
    throw usageError(command, (error as Error).message);
  }
  const name = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const cert = values['tls-cert'] ?? env.FNJAIL_TLS_CERT;
  const key = values['tls-key'] ?? env.FNJAIL_TLS_KEY;
  const ca = values['tls-ca'] ?? env.FNJAIL_TLS_CA;
  const insecureEnv = env.FNJAIL_INSECURE ?? '';
  if (!['', '0', '1'].includes(insecureEnv)) throw usageError(command, `FNJAIL_INSECURE must be 1 or 0, not '${insecureEnv}'`);
  const insecure = values.insecure ?? insecureEnv === '1';
  if (insecure && (cert || key || ca)) throw usageError(command, 'plain TCP (--insecure, FNJAIL_INSECURE=1) and TLS settings exclude each other');
  if (insecure) {
    if (!isLoopback(address.host)) throw usageError(command, `plain TCP (--insecure) only to a server on loopback, not ${address.host}`);
    if (runsAsRoot()) {
      throw new FnjailError('FNJ_SERVER_UNTRUSTED', `plain TCP (--insecure, FNJAIL_INSECURE=1) is refused as root: any local user may be the one listening on ${name}`, 'use TLS (--tls-cert, --tls-key, --tls-ca), or the UNIX socket');
    }
    return { kind: 'tcp', name: `tcp://${name}`, ...address, tls: undefined };
  }
  if (!cert || !key || !ca) {
    throw usageError(command, `--connect ${connect} needs --tls-cert, --tls-key and --tls-ca (or FNJAIL_TLS_CERT, FNJAIL_TLS_KEY, FNJAIL_TLS_CA): the server knows its clients by their certificates`);
  }
  return { kind: 'tcp', name: `tls://${name}`, ...address, tls: { cert, key, ca } };
}

const runsAsRoot = () => process.geteuid?.() === 0;

/** A client running as root talks only to a server running as root: a socket
 * named by FNJAIL_SOCKET may be any user's, whose fake server could answer
 * anything (SO_PEERCRED says who listens, whatever the file says). */
function checkServerIsRoot(socket: net.Socket, target: Target): void {
  const { uid } = peerCredentials(socket);
  if (uid !== 0) {
    socket.destroy(
      new FnjailError('FNJ_SERVER_UNTRUSTED', `the server on ${target.name} runs as uid ${uid}, not root: refused, as this client runs as root`, 'check --socket or FNJAIL_SOCKET: the fnjail server runs as root'),
    );
  }
}

/** Opens the connection; `ready` is called once it can carry commands (after the TLS handshake). */
export function openConnection(target: Target, ready: () => void): net.Socket {
  if (target.kind === 'unix') {
    const socket = net.connect(target.path, () => {
      if (runsAsRoot()) checkServerIsRoot(socket, target);
      if (!socket.destroyed) ready();
    });
    return socket;
  }
  if (!target.tls) return net.connect({ host: target.host, port: target.port }, ready);
  let files: { cert: Buffer; key: Buffer; ca: Buffer };
  try {
    files = { cert: fs.readFileSync(target.tls.cert), key: fs.readFileSync(target.tls.key), ca: fs.readFileSync(target.tls.ca) };
  } catch (error) {
    throw new FnjailError('FNJ_TLS_FAILED', `cannot read the TLS files: ${(error as Error).message}`, 'check --tls-cert, --tls-key and --tls-ca');
  }
  // The server's certificate is checked against the CA and the host name (or IP) connected to.
  const servername = net.isIP(target.host) ? undefined : target.host;
  return tls.connect({ host: target.host, port: target.port, ...files, ...(servername ? { servername } : {}), minVersion: 'TLSv1.2' }, ready);
}
