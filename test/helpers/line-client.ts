// A TCP client of a line-oriented service (TP7's toupper, inetd style): what it
// received, line by line, as it arrives, and events to wait on.
import net from 'node:net';

export interface LineClient {
  socket: net.Socket;
  lines: string[];
  /** Resolves once connected, to the client's own address (ADDRESS:PORT: how the server names it). */
  connected: Promise<string>;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
  /** Socket errors (a connection reset while data was unread). */
  errors: Error[];
  /** Resolves once n lines have arrived (or the connection closed). */
  lineCount(n: number): Promise<void>;
}

/** Connects to port on host (default 127.0.0.1), from localAddress if given (another loopback address: another client). */
export function lineClient(port: number, host = '127.0.0.1', localAddress?: string): LineClient {
  const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  const lines: string[] = [];
  let partial = '';
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const resolve of waiters.splice(0)) resolve();
  };
  socket.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    wake();
  });
  const connected = new Promise<string>((resolve) => socket.once('connect', () => resolve(`${socket.localAddress}:${socket.localPort}`)));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const errors: Error[] = [];
  socket.on('error', (error) => errors.push(error));
  socket.on('close', wake);
  return {
    socket,
    lines,
    connected,
    closed,
    errors,
    async lineCount(n: number): Promise<void> {
      while (lines.length < n && !socket.destroyed) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}
