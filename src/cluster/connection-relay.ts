// A per-connection (inetd) call run on another node: the TCP connection stays
// on the node it arrived at (the entry), the program on the node the router
// picked (the runner) gets one end of a loopback TCP connection as its stdin
// and stdout, and this relay carries the bytes between the two over NATS, one
// relay at each end:
//
//   entry                                              runner
//   client socket ◄─► relay ── fnjail.node.<entry>.conn.<runner>.<id> ──► relay ◄─► loopback ◄─► program
//                          ◄── fnjail.node.<runner>.conn.<entry>.<id> ──
//
// Messages (wire.ts, validated against cluster-message.schema.json):
//   relay-credit {bytes}  the sender takes that many more bytes. Each side
//                         grants RELAY_WINDOW_BYTES first, then grants again
//                         what it has handed to its socket (written to the
//                         kernel): a slow reader on either side stops the
//                         other at one window, nothing is buffered without
//                         limit. The runner grants first, once subscribed:
//                         the entry reads nothing from its client before, and
//                         answers with its own grant.
//   relay-data {seq}      a chunk of bytes, numbered: NATS keeps one
//                         publisher's order to one subscriber; a gap (a chunk
//                         lost) or bytes past the window abort the connection.
//   relay-eof {seq}       the sender's side ended after seq chunks: the
//                         receiver half-closes its socket once they are
//                         written (client EOF → the program's stdin EOF;
//                         program's exit → the client's connection ends after
//                         its last bytes).
//   relay-abort {reason}  over, bytes in flight dropped (a reset).
//
// Who speaks is in the subject (the broker lets only <sender> publish under
// fnjail.node.<sender>.>, and only <receiver> subscribe to
// fnjail.node.*.conn.<receiver>.>), and a relay believes only the node its
// call was started on (the runner: the entry that sent it).
import net from 'node:net';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { SUBJECTS, subjectToken } from './subjects.js';
import { decodeMessage, encodeMessage, InvalidMessage, type ClusterMessage } from './wire.js';

/**
 * The runner's stand-in for the client's connection: a TCP connection over
 * loopback, so the program's end is what a local client's would be (the
 * launcher's idle limit reads TCP's counters). The listener takes only the
 * connection made here (its port checked) and closes at once. Returns [ours,
 * the program's], the program's paused (handed over unread).
 */
export async function loopbackPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, backlog: 4 }, () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    const ours = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    ours.pause();
    const connected = new Promise<void>((resolve, reject) => {
      ours.once('connect', () => resolve());
      ours.once('error', reject);
    });
    const theirs = new Promise<net.Socket>((resolve) => {
      server.on('connection', (socket) => {
        // Anyone else on this machine who raced to the port is turned away.
        void connected.then(() => (socket.remotePort === ours.localPort && socket.remoteAddress === ours.localAddress ? resolve(socket) : socket.destroy()), () => socket.destroy());
      });
    });
    await connected;
    return [ours, await theirs];
  } finally {
    server.close();
  }
}

/** Bytes one side may send before the other grants more. */
export const RELAY_WINDOW_BYTES = 256 * 1024;
/** The largest chunk of one relay-data message (well below NATS's max payload). */
const CHUNK_BYTES = 64 * 1024;
/** Messages kept while the entry does not know its runner yet (the runner's first grant may come before the call's "started"). */
const EARLY_MESSAGES = 16;

export interface RelayOptions {
  connection: NatsConnection;
  /** This node. */
  node: string;
  /** The relay's id (random, chosen by the entry, carried in the call). */
  id: string;
  /** The client's connection (entry), or this node's end of the loopback connection (runner); paused, nothing read yet. */
  socket: net.Socket;
  /** The other node, when known (the runner knows its caller; the entry learns it when the call starts). */
  peer?: string;
  logger?: Logger;
}

export class ConnectionRelay {
  private peer: string | undefined;
  private readonly subscription: Subscription;
  private early: Msg[] = [];
  /** Bytes the peer still takes. */
  private credit = 0;
  private reading = false;
  private granted = false;
  private sendSeq = 0;
  private receiveSeq = 0;
  /** Bytes handed to the socket and not granted back yet. */
  private written = 0;
  /** Bytes the peer may still send (granted less received). */
  private allowance = 0;
  /** This side's bytes all sent (relay-eof published). */
  private sentEof = false;
  /** The peer's bytes all received (relay-eof came). */
  private gotEof = false;
  private abortReason: string | undefined;
  private closed = false;
  private progress: Array<() => void> = [];

  constructor(private readonly options: RelayOptions) {
    this.peer = options.peer;
    // Any sender here: the entry learns its runner later; messages of other nodes are dropped (onMessage).
    this.subscription = options.connection.subscribe(`fnjail.node.*.conn.${options.node}.${options.id}`, { callback: (error, msg) => void (error || this.onMessage(msg)) });
    const { socket } = options;
    // A half-close keeps the other direction open (the client's EOF is the program's stdin EOF, not the end of its answer).
    socket.allowHalfOpen = true;
    socket.on('error', () => undefined); // the close that follows says it
    socket.on('close', () => {
      if (!this.closed && !(this.sentEof && this.gotEof)) this.abort('the connection was closed on this side', true);
      this.wake();
    });
  }

  get id(): string {
    return this.options.id;
  }

  /** Why the connection was aborted (undefined: it was not). */
  get aborted(): string | undefined {
    return this.abortReason;
  }

  /** The other node is known: sends it the first grant if it should (the runner does, first). */
  open(peer: string, grantFirst: boolean): void {
    this.peer = peer;
    // The client went before the call started: the runner's program is told at once.
    if (this.abortReason !== undefined) return this.publish({ type: 'relay-abort', id: this.options.id, reason: this.abortReason });
    if (grantFirst) this.grant(RELAY_WINDOW_BYTES);
    for (const msg of this.early.splice(0)) this.onMessage(msg);
  }

  /** Runner: waits (no progress for idleMs ends it) until the program's bytes are all sent, then leaves. */
  async drain(idleMs: number): Promise<void> {
    await this.until(() => this.sentEof || this.abortReason !== undefined, idleMs, 'the program ended but its last bytes were not taken');
    await this.options.connection.flush().catch(() => undefined);
    this.close();
  }

  /** Entry: the call is over; the client gets the bytes already here, then its connection ends. */
  async finish(idleMs: number): Promise<void> {
    const { socket } = this.options;
    if (this.abortReason === undefined && !socket.destroyed) {
      socket.on('drain', () => this.wake()); // a slow client still taking bytes is progress
      const flushed = new Promise<void>((resolve) => socket.end(resolve));
      let done = false;
      void flushed.then(() => {
        done = true;
        this.wake();
      });
      await this.until(() => done || socket.destroyed, idleMs, 'the client did not take the last bytes');
    }
    this.close();
  }

  /** Ends the connection at once (e.g. the runner was lost), telling the peer. */
  abort(reason: string, tell = true): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    if (tell && this.peer !== undefined) this.publish({ type: 'relay-abort', id: this.options.id, reason });
    this.options.socket.destroy();
    this.wake();
  }

  /** Stops listening; the socket is destroyed unless kept (the call runs here after all, with the connection untouched). */
  close(keepSocket = false): void {
    this.closed = true;
    this.subscription.unsubscribe();
    if (!keepSocket) this.options.socket.destroy();
    this.wake();
  }

  private onMessage(msg: Msg): void {
    const sender = subjectToken(msg.subject, 2);
    if (this.peer === undefined) {
      if (this.early.length < EARLY_MESSAGES) this.early.push(msg);
      return;
    }
    if (sender !== this.peer || this.abortReason !== undefined) return;
    let decoded;
    try {
      decoded = decodeMessage(msg.data, 'relay-data', 'relay-credit', 'relay-eof', 'relay-abort');
    } catch (error) {
      if (error instanceof InvalidMessage) this.options.logger?.warn({ subject: msg.subject, err: error.message }, 'relayed connection: message refused');
      return;
    }
    const { message, body } = decoded;
    if (message.id !== this.options.id) return;
    switch (message.type) {
      case 'relay-credit':
        this.credit += message.bytes;
        if (!this.granted) this.grant(RELAY_WINDOW_BYTES);
        this.startReading();
        if (this.credit > 0 && this.options.socket.isPaused()) this.options.socket.resume();
        break;
      case 'relay-data':
        if (message.seq !== this.receiveSeq++ || this.gotEof) return this.abort(`chunk ${message.seq} came where ${this.receiveSeq - 1} was expected: bytes were lost`);
        this.allowance -= body.length;
        if (this.allowance < -CHUNK_BYTES) return this.abort(`node ${this.peer} sent past the window it was granted`);
        this.options.socket.write(Buffer.from(body), () => {
          this.written += body.length;
          // Granting back in halves of the window: a credit message per 128 KiB, not per chunk.
          if (this.written >= RELAY_WINDOW_BYTES / 2 && this.abortReason === undefined) {
            this.grant(this.written);
            this.written = 0;
          }
        });
        break;
      case 'relay-eof':
        if (message.seq !== this.receiveSeq) return this.abort(`the end came after ${message.seq} chunks, ${this.receiveSeq} arrived: bytes were lost`);
        this.gotEof = true;
        this.options.socket.end(); // after the bytes written before it
        break;
      case 'relay-abort':
        this.abort(`node ${this.peer} ended the connection: ${message.reason}`, false);
        break;
    }
    this.wake();
  }

  private grant(bytes: number): void {
    this.granted = true;
    this.allowance += bytes;
    this.publish({ type: 'relay-credit', id: this.options.id, bytes });
  }

  private startReading(): void {
    if (this.reading) return;
    this.reading = true;
    const { socket } = this.options;
    socket.on('data', (chunk: Buffer) => {
      for (let offset = 0; offset < chunk.length; offset += CHUNK_BYTES) {
        const part = chunk.subarray(offset, offset + CHUNK_BYTES);
        this.publish({ type: 'relay-data', id: this.options.id, seq: this.sendSeq++ }, part);
        this.credit -= part.length;
      }
      if (this.credit <= 0) socket.pause();
      this.wake();
    });
    socket.on('end', () => {
      this.publish({ type: 'relay-eof', id: this.options.id, seq: this.sendSeq });
      this.sentEof = true;
      this.wake();
    });
    socket.resume();
  }

  private publish(message: ClusterMessage, body?: Uint8Array): void {
    if (this.peer === undefined || this.options.connection.isClosed()) return;
    this.options.connection.publish(SUBJECTS.relay(this.options.node, this.peer, this.options.id), encodeMessage(message, body));
  }

  private wake(): void {
    for (const resolve of this.progress.splice(0)) resolve();
  }

  /** Waits for done(); aborts when nothing moved for idleMs (0: waits as long as it takes). */
  private async until(done: () => boolean, idleMs: number, why: string): Promise<void> {
    while (!done()) {
      const moved = new Promise<boolean>((resolve) => this.progress.push(() => resolve(true)));
      let timer: NodeJS.Timeout | undefined;
      const idle = idleMs > 0 ? new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), idleMs))) : undefined;
      const progressed = await (idle ? Promise.race([moved, idle]) : moved);
      clearTimeout(timer);
      if (!progressed) {
        this.abort(`${why} within ${idleMs} ms`);
        return;
      }
    }
  }
}
