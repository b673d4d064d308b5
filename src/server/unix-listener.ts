// The UNIX socket the server listens on. A socket file left by a crashed
// server does not prevent a start; a live server on it does.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FnjailError } from '../errors.js';

/** Connections the kernel keeps waiting for accept(): a burst of a thousand
 * clients fits (net.core.somaxconn caps it; Debian's default is 4096). */
export const UNIX_BACKLOG = 4096;

/** A user or group setting as an id (names through the name service, loaded
 * only for them: the socket is bound first thing when the server starts). */
async function idOf(value: string | number, kind: 'user' | 'group'): Promise<number> {
  if (typeof value === 'number') return value;
  const { groupId, userId } = await import('../policy/names.js');
  const id = kind === 'user' ? userId(value) : groupId(value);
  if (id === undefined) throw new FnjailError('FNJ_USAGE', `unknown ${kind} '${value}' for the socket's ${kind === 'user' ? 'owner' : 'group'}`, 'see fnjail serve --help');
  return id;
}

async function isLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export interface UnixListenerOptions {
  path: string;
  /** Mode of the socket file: 0666 lets every local user connect (the policy decides what they may run). */
  mode: number;
  /** Owner and group of the socket file, by name or id. */
  owner: string | number;
  group: string | number;
  backlog: number;
}

export async function listenUnix(server: net.Server, options: UnixListenerOptions): Promise<void> {
  const socketPath = options.path;
  // Before the socket exists: an unknown name must not leave one behind.
  const owner = await idOf(options.owner, 'user');
  const group = await idOf(options.group, 'group');
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    // nothing there
  }
  if (stat) {
    if (!stat.isSocket()) {
      throw new FnjailError('FNJ_SOCKET_FAILED', `${socketPath} exists and is not a socket`, 'remove it or choose another path with --socket');
    }
    if (await isLive(socketPath)) {
      throw new FnjailError('FNJ_SOCKET_IN_USE', `another fnjail server is listening on ${socketPath}`, 'stop it first, or choose another path with --socket');
    }
    fs.unlinkSync(socketPath); // stale: its server is gone
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new FnjailError('FNJ_SOCKET_FAILED', `cannot listen on ${socketPath}: ${(error as Error).message}`)),
    );
    server.listen({ path: socketPath, backlog: options.backlog }, () => resolve());
  });
  fs.chmodSync(socketPath, options.mode);
  fs.chownSync(socketPath, owner, group);
}
