// The client side of the socket protocol, for the CLI: one command, one reply.
import net from 'node:net';
import { FnjailError } from '../errors.js';

/** Why the server cannot be reached, with what to do about it. */
export function connectError(socketPath: string, error: NodeJS.ErrnoException): FnjailError {
  const hint =
    error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
      ? 'is the server running? Start it with: sudo npx fnjail serve (the socket comes from --socket or FNJAIL_SOCKET)'
      : error.code === 'EACCES'
        ? 'the socket exists but you may not connect to it: ask the admin about its mode'
        : undefined;
  return new FnjailError('FNJ_CONNECT_FAILED', `cannot connect to the fnjail server at ${socketPath}: ${error.message}`, hint);
}

/** Sends one newline-terminated command and returns the reply line. */
export function sendCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const chunks: Buffer[] = [];
    socket.on('connect', () => {
      socket.write(`${command}\n`);
      socket.end();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => reject(connectError(socketPath, error)));
    socket.on('end', () => {
      const reply = Buffer.concat(chunks).toString('utf8');
      const line = reply.split('\n')[0] ?? '';
      if (!line) reject(new FnjailError('FNJ_NO_REPLY', `the fnjail server at ${socketPath} closed the connection without a reply`, 'see the server log'));
      else resolve(line);
    });
  });
}
