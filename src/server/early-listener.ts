// The UNIX socket, bound first thing when fnjail serve starts, before the
// policy, the log machinery, the seccomp compiler and the launcher are loaded:
// a client that connects a few hundred milliseconds after the server was
// started (as the classic checker does) finds the socket. Connections that
// arrive meanwhile are held, their commands unread, and handed over to the
// server once it is ready; each then waits for its answer as any client waits
// for a busy server (its own timeout), never refused for being early. At most
// --max-clients are held (the server would refuse the rest at once anyway):
// beyond, a connection is closed, so that the window before the server counts
// connections (server.ts admit) cannot hold an unbounded number of them.
import fs from 'node:fs';
import net from 'node:net';
import { listenUnix, UNIX_BACKLOG } from './unix-listener.js';

export interface EarlyListenerOptions {
  path: string;
  mode: number;
  owner: string | number;
  group: string | number;
  /** Connections held at most; beyond, closed. */
  maxHeld: number;
}

export class EarlyListener {
  readonly server = net.createServer({ allowHalfOpen: true });
  private held: net.Socket[] = [];
  private readonly hold = (socket: net.Socket) => {
    this.held = this.held.filter((s) => !s.destroyed); // clients that gave up
    if (this.held.length >= this.maxHeld) {
      socket.destroy();
      return;
    }
    // A client that gives up while held must not crash the server.
    socket.on('error', ignore);
    this.held.push(socket);
  };

  private constructor(
    private readonly path: string,
    private readonly maxHeld: number,
  ) {
    this.server.on('connection', this.hold);
  }

  static async listen(options: EarlyListenerOptions): Promise<EarlyListener> {
    const early = new EarlyListener(options.path, options.maxHeld);
    const { path, mode, owner, group } = options;
    await listenUnix(early.server, { path, mode, owner, group, backlog: UNIX_BACKLOG });
    return early;
  }

  /** From now on every connection goes to accept, the held ones first, in order. */
  handOver(accept: (socket: net.Socket) => void): void {
    this.server.off('connection', this.hold);
    this.server.on('connection', accept);
    for (const socket of this.held.splice(0)) {
      socket.off('error', ignore);
      if (!socket.destroyed) accept(socket); // else its client is gone already
    }
  }

  /** The server could not start: close the held connections and remove the socket file. */
  abandon(): void {
    this.server.close();
    for (const socket of this.held.splice(0)) socket.destroy();
    try {
      fs.unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function ignore(): void {}
