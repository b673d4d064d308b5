// The client side of the socket protocol, for the CLI: one command, one reply.
import { FnjailError } from '../errors.js';
import { openConnection, type Target } from './transport.js';

/** Why the server cannot be reached, with what to do about it. */
export function connectError(server: string, error: NodeJS.ErrnoException): FnjailError {
  const tlsProblem = /certificate|CERT|SSL|TLS|alert/i.test(`${error.code ?? ''} ${error.message}`);
  const hint =
    error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
      ? 'is the server running? As root: systemctl start fnjail, or fnjail serve (the socket comes from --socket or FNJAIL_SOCKET; TCP from its --listen)'
      : error.code === 'EACCES'
        ? 'the socket exists but you may not connect to it: ask the admin about its mode'
        : tlsProblem
          ? "the TLS handshake failed: --tls-ca must be the CA of the server's certificate, issued for the host connected to, and the server must know the CA of --tls-cert"
          : undefined;
  return new FnjailError('FNJ_CONNECT_FAILED', `cannot connect to the fnjail server at ${server}: ${error.message}`, hint);
}

/** Sends one newline-terminated command and returns the reply line. */
export function sendCommand(target: Target, command: string): Promise<string> {
  const socketPath = target.name;
  return new Promise((resolve, reject) => {
    const socket = openConnection(target, () => {
      socket.write(`${command}\n`);
      socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => reject(error instanceof FnjailError ? error : connectError(socketPath, error)));
    socket.on('end', () => {
      const reply = Buffer.concat(chunks).toString('utf8');
      const line = reply.split('\n')[0] ?? '';
      if (!line) reject(new FnjailError('FNJ_NO_REPLY', `the fnjail server at ${socketPath} closed the connection without a reply`, 'see the server log'));
      else resolve(line);
    });
  });
}
