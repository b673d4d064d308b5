// One client connection. Two framings, told apart by what arrives
// (docs/protocol.md, DESIGN.md's compatibility contract):
//   session: newline-terminated commands, one newline-terminated reply each,
//            in order, until `exit` or `quit` (or the client closes);
//   classic: one command sent without terminator (the classic client sends,
//            then does a single recv); the reply is the path, no terminator.
// Bytes may arrive in any segmentation: a command is never cut where a read
// happened to end. A newline ends a command at once; an unterminated message
// is taken as one classic command when the client closes its side, or when
// nothing more arrived for `classicWaitMs` (a quiet window restarted by every
// byte: the server cannot otherwise know that a classic client is done).
// Once a newline was seen the connection is a session, and an unterminated
// rest waits for its newline (or the end).
//
// In either, a command starting with `{` is a JSON request and gets a JSON
// reply; a line naming a control command (`stats`) is answered by the server
// itself, in its turn among the others.
//
// What one connection can hold is bounded: at most `maxPending` commands
// accepted and not answered, at most MAX_LINE_BYTES of a command waiting for
// its end, at most MAX_UNSENT_BYTES of replies the client has not read.
// Beyond, the connection is not read until there is room again (TCP
// backpressure: a client pipelining faster than its calls run just waits). A
// command longer than MAX_LINE_BYTES is one bad request, and the rest of it,
// up to its newline, is skipped. A connection that sends nothing for the idle
// timeout while nothing of it runs is closed.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { ExecutionResult } from '../executor/executor.js';
import { isJsonRequest, MAX_JSON_REQUEST_BYTES } from '../executor/json-request.js';
import type { Tenant } from '../policy/decide.js';
import { replyJson, replyText, type Refusal } from './replies.js';

/** A command longer than this is one bad request. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Replies not yet read by the client, at most, before the connection is no longer read. */
export const MAX_UNSENT_BYTES = 64 * 1024;
/** How long a connection the server ended may stay open. */
const END_GRACE_MS = 2000;

export interface SessionOptions {
  execute: (raw: string, tenant: Tenant, format: 'text' | 'json') => Promise<ExecutionResult>;
  /** The reply to a control command, or undefined if the line is not one. */
  control: (word: string, tenant: Tenant) => (() => string) | undefined;
  /** Before a command runs: why it may not (the peer made too many refused requests), or undefined; a refusal also ends the connection. */
  admit: () => Refusal | undefined;
  /** After a command was answered (to count what it made the server create). Returns a line that ends the connection, or undefined. */
  answered: (result: ExecutionResult) => string | undefined;
  /** 0: never. */
  idleTimeoutMs: number;
  /** The quiet window that ends an unterminated (classic) message. */
  classicWaitMs: number;
  /** Commands accepted and not answered yet, at most. */
  maxPending: number;
  logger: Logger;
}

export class Session {
  private buffer: Buffer = Buffer.alloc(0);
  private lineMode = false;
  /** Discarding the rest of a command that was too long, up to its newline. */
  private skipping = false;
  private work: Promise<void> = Promise.resolve();
  private ending = false;
  /** Commands accepted and not answered yet. */
  private inFlight = 0;
  /** Cancels the pending quiet window, if one runs. */
  private classicTimer: (() => void) | undefined;
  private paused = false;
  /** The client closed its side. */
  private ended = false;
  /** Closed for too many refused requests: the commands it still has queued do not run. */
  private cutOff = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly tenant: Tenant,
    private readonly options: SessionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.pump());
    socket.on('close', () => this.stopClassicTimer());
    socket.on('error', (error) => options.logger.debug({ err: error, peer: tenant }, 'client connection error'));
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs);
      socket.on('timeout', () => this.onIdle());
    }
  }

  private onIdle(): void {
    if (this.inFlight > 0) return; // waiting for its own call is not idleness
    this.options.logger.debug({ peer: this.tenant, idleTimeoutMs: this.options.idleTimeoutMs }, 'closing an idle connection');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.ending) return;
    this.stopClassicTimer(); // the quiet window starts again after these bytes
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.pump();
  }

  /** Whether the connection holds as much as it may: stop reading it until it does not. */
  private full(): boolean {
    return this.inFlight >= this.options.maxPending || this.socket.writableLength > MAX_UNSENT_BYTES;
  }

  /** Takes the complete commands out of the buffer, as long as there is room for them. */
  private pump(): void {
    while (!this.ending && !this.full()) {
      if (this.skipping) {
        const newline = this.buffer.indexOf(0x0a);
        this.buffer = newline < 0 ? Buffer.alloc(0) : this.buffer.subarray(newline + 1);
        if (newline < 0) {
          if (this.ended) this.finish();
          break;
        }
        this.skipping = false;
        continue;
      }
      const newline = this.buffer.indexOf(0x0a);
      if (newline >= 0) {
        this.lineMode = true;
        let line = this.buffer.subarray(0, newline);
        if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
        this.buffer = this.buffer.subarray(newline + 1);
        if (line.length > MAX_LINE_BYTES) this.tooLong(line);
        else this.onLine(line.toString('utf8'));
        continue;
      }
      if (this.buffer.length > MAX_LINE_BYTES) {
        this.tooLong(this.buffer);
        this.buffer = Buffer.alloc(0);
        this.skipping = true;
        continue;
      }
      if (this.ended) {
        // The client closed its side: what is left is the last command.
        const rest = this.buffer.toString('utf8');
        this.buffer = Buffer.alloc(0);
        if (rest.length > 0 && rest.trim() !== 'exit' && rest.trim() !== 'quit') this.enqueue(rest, this.lineMode ? '\n' : '');
        this.finish();
        break;
      }
      if (this.buffer.length > 0 && !this.lineMode && !this.classicTimer) {
        // 0: the next turn of the event loop (what the reads so far held).
        const wait = this.options.classicWaitMs;
        if (wait > 0) {
          const timer = setTimeout(() => this.classicMessage(), wait);
          this.classicTimer = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(() => this.classicMessage());
          this.classicTimer = () => clearImmediate(immediate);
        }
      }
      break;
    }
    this.setReading(!this.full());
  }

  private setReading(reading: boolean): void {
    if (reading === !this.paused) return;
    this.paused = !reading;
    if (reading) this.socket.resume();
    else this.socket.pause();
  }

  /** Nothing more came within the quiet window: the unterminated message is one classic command. */
  private classicMessage(): void {
    this.classicTimer = undefined;
    if (this.ending || this.lineMode || this.buffer.length === 0) return;
    const message = this.buffer.toString('utf8');
    this.buffer = Buffer.alloc(0);
    this.enqueue(message, '');
    this.pump();
  }

  private stopClassicTimer(): void {
    this.classicTimer?.();
    this.classicTimer = undefined;
  }

  /** A command longer than the limit: one bad request (its start is enough for the
   * parser to say it is too long), answered as a line: a classic command is never that long. */
  private tooLong(line: Buffer): void {
    this.enqueue(line.subarray(0, MAX_JSON_REQUEST_BYTES + 1).toString('utf8'), '\n');
  }

  private onLine(line: string): void {
    const word = line.trim();
    if (word === 'exit' || word === 'quit') {
      this.finish();
      return;
    }
    if (word === '') return; // blank lines between commands are harmless
    const answer = this.options.control(word, this.tenant);
    if (answer) {
      this.inFlight++;
      this.work = this.work.then(() => this.reply(`${answer()}\n`));
      return;
    }
    this.enqueue(line, '\n');
  }

  /** The client closed its side: the commands still buffered are taken as room allows, then the connection ends. */
  private onEnd(): void {
    this.stopClassicTimer();
    this.ended = true;
    this.pump();
  }

  private enqueue(command: string, terminator: string): void {
    const format = isJsonRequest(command) ? 'json' : 'text';
    this.inFlight++;
    this.work = this.work.then(async () => {
      if (this.socket.destroyed || this.cutOff) return this.reply(''); // the client is gone, or cut off: nothing more runs for it
      const refusal = this.options.admit();
      if (refusal) {
        // Answered in-band, and the connection ends: a throttled peer's pipeline costs one line, not one per command.
        this.cutOff = true;
        this.reply((format === 'json' ? JSON.stringify({ outcome: refusal.outcome, reasons: [refusal.reason] }) : `Error: ${refusal.reason}`) + terminator);
        this.finish();
        return;
      }
      let reply: string;
      let last: string | undefined;
      try {
        const result = await this.options.execute(command, this.tenant, format);
        reply = format === 'json' ? replyJson(result) : replyText(result);
        last = this.options.answered(result);
      } catch (error) {
        this.options.logger.error({ err: error }, 'execution failed unexpectedly');
        const message = `the server failed to handle the command: ${(error as Error).message}`;
        reply = format === 'json' ? JSON.stringify({ outcome: 'server-error', reasons: [message] }) : `Error: ${message}`;
      }
      this.reply(reply + terminator);
      if (last !== undefined && !this.cutOff) {
        this.cutOff = true;
        if (this.lineMode) this.write(`${last}\n`);
        this.finish();
      }
    });
  }

  /** One answer written: room for the next command. */
  private reply(text: string): void {
    this.inFlight--;
    if (text) this.write(text);
    this.pump();
  }

  private write(text: string): void {
    if (this.socket.writable) this.socket.write(text);
  }

  /** Stops taking commands; the connection ends once the accepted ones are answered. */
  drain(): void {
    this.finish();
  }

  /** Ends the connection once every accepted command has been answered; a
   * client that neither closes nor reads its last replies is cut off after
   * END_GRACE_MS (what it still sends meanwhile is read and dropped). */
  private finish(): void {
    if (this.ending) return;
    this.ending = true;
    this.stopClassicTimer();
    this.buffer = Buffer.alloc(0);
    this.setReading(true);
    void this.work.then(() => {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
    });
  }
}
