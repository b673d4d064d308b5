// The client side of the `stats` session, for `fnjail stats` and `fnjail top`:
// one connection, kept open, asked `stats` as often as the caller wants. The
// server answers each request with one line, in order: a StatsSnapshot as JSON,
// or {"error": "..."} when this user may not see stats.
import type net from 'node:net';
import { FnjailError } from '../errors.js';
import type { StatsSnapshot } from '../metrics/stats.js';
import { connectError } from './client.js';
import { openConnection, type Target } from './transport.js';

export const DEFAULT_STATS_TIMEOUT_MS = 5000;

/** The server answered, but with {"error": ...}: the message is the server's, as is. */
export class StatsRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatsRefused';
  }
}

/** The server answered something that is neither a snapshot nor a refusal. */
export class UnexpectedStatsReply extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnexpectedStatsReply';
  }
}

interface Pending {
  resolve: (snapshot: StatsSnapshot) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class StatsConnection {
  private readonly socket: net.Socket;
  private readonly pending: Pending[] = [];
  private buffered = '';
  /** Set once the connection is unusable: every later next() rejects with it. */
  private failure: Error | undefined;
  private closing = false;
  private connected = false;
  private readonly closed: Promise<void>;

  /** The server, for messages. */
  readonly socketPath: string;

  /** target: where the server is; a string is the path of its UNIX socket. */
  constructor(
    target: Target | string,
    private readonly timeoutMs = DEFAULT_STATS_TIMEOUT_MS,
  ) {
    const resolved: Target = typeof target === 'string' ? { kind: 'unix', name: target, path: target } : target;
    const socketPath = (this.socketPath = resolved.name);
    this.socket = openConnection(resolved, () => (this.connected = true));
    this.socket.setEncoding('utf8');
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: string) => this.received(chunk));
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.fail(connectionError(socketPath, error, this.connected)));
    this.socket.on('end', () => {
      if (!this.closing) this.fail(new FnjailError('FNJ_NO_REPLY', `the fnjail server at ${socketPath} closed the connection without a reply`, 'see the server log'));
    });
  }

  /** Asks for one snapshot. Requests may overlap: replies come back in order. */
  next(): Promise<StatsSnapshot> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('the stats connection is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A late reply would be taken for the next request's: give up on the connection.
        this.fail(
          new FnjailError('FNJ_NO_REPLY', `the fnjail server at ${this.socketPath} did not answer 'stats' within ${this.timeoutMs / 1000} s`, 'see the server log'),
        );
        this.socket.destroy();
      }, this.timeoutMs);
      this.pending.push({ resolve, reject, timer });
      this.socket.write('stats\n');
    });
  }

  /** Says goodbye and waits for the connection to close. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.rejectAll(new Error('the stats connection is closed'));
      if (!this.socket.destroyed && this.socket.writable) {
        this.socket.end('quit\n');
        // A server that never closes its side must not keep us waiting.
        setTimeout(() => this.socket.destroy(), this.timeoutMs).unref();
      } else {
        this.socket.destroy();
      }
    }
    return this.closed;
  }

  private received(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const request = this.pending.shift();
      if (!request) continue; // nothing asked (or given up on): not ours to answer
      clearTimeout(request.timer);
      try {
        request.resolve(parseReply(line, this.socketPath));
      } catch (error) {
        request.reject(error as Error);
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.rejectAll(this.failure);
  }

  private rejectAll(error: Error): void {
    for (const request of this.pending.splice(0)) {
      clearTimeout(request.timer);
      request.reject(error);
    }
  }
}

/** Opens a connection, asks once, closes. */
export async function fetchStats(target: Target | string, timeoutMs = DEFAULT_STATS_TIMEOUT_MS): Promise<StatsSnapshot> {
  const connection = new StatsConnection(target, timeoutMs);
  try {
    return await connection.next();
  } finally {
    await connection.close();
  }
}

/** One reply line -> a snapshot, or the server's refusal, or an error saying what came instead. */
export function parseReply(line: string, socketPath: string): StatsSnapshot {
  let reply: unknown;
  try {
    reply = JSON.parse(line);
  } catch {
    throw unexpected(line, socketPath);
  }
  if (typeof reply !== 'object' || reply === null) throw unexpected(line, socketPath);
  const fields = reply as Record<string, unknown>;
  if (typeof fields.error === 'string') throw new StatsRefused(fields.error);
  if (typeof fields.executions !== 'object' || !Array.isArray(fields.running) || !Array.isArray(fields.tenants)) throw unexpected(line, socketPath);
  return reply as StatsSnapshot;
}

function unexpected(line: string, socketPath: string): UnexpectedStatsReply {
  const shown = line.length > 200 ? `${line.slice(0, 200)}...` : line;
  return new UnexpectedStatsReply(`the fnjail server at ${socketPath} sent an unexpected reply to 'stats' (is it older than this client?): ${JSON.stringify(shown)}`);
}

/** As client.ts says it; "lost" once the connection was up. */
function connectionError(socketPath: string, error: NodeJS.ErrnoException, wasConnected: boolean): FnjailError {
  if (error instanceof FnjailError) return error;
  if (wasConnected) return new FnjailError('FNJ_CONNECT_FAILED', `lost the connection to the fnjail server at ${socketPath}: ${error.message}`, 'see the server log');
  return connectError(socketPath, error);
}
