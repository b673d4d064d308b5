// One client connection. Two framings, told apart by the first message:
//   classic: one command sent without terminator (the classic client sends,
//            then does a single recv); the reply is the path, no terminator;
//   session: newline-terminated commands, one newline-terminated reply each,
//            in order, until `exit` or `quit` (or the client closes).
// In either, a command starting with `{` is a JSON request and gets a JSON
// reply; a line naming a control command (`stats`) is answered by the server
// itself, in its turn among the others. A connection that sends nothing for
// the idle timeout while nothing of it runs is closed.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { ExecutionResult } from '../executor/executor.js';
import { isJsonRequest } from '../executor/json-request.js';
import type { Tenant } from '../policy/decide.js';
import { replyJson, replyText } from './replies.js';

/** A line longer than this without a newline ends the session. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface SessionOptions {
  execute: (raw: string, tenant: Tenant, format: 'text' | 'json') => Promise<ExecutionResult>;
  /** The reply to a control command, or undefined if the line is not one. */
  control: (word: string, tenant: Tenant) => (() => string) | undefined;
  /** 0: never. */
  idleTimeoutMs: number;
  logger: Logger;
}

export class Session {
  private buffer: Buffer = Buffer.alloc(0);
  private lineMode = false;
  private work: Promise<void> = Promise.resolve();
  private ending = false;
  /** Commands accepted and not answered yet. */
  private inFlight = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly tenant: Tenant,
    private readonly options: SessionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
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
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf(0x0a)) >= 0) {
      this.lineMode = true;
      let line = this.buffer.subarray(0, newline);
      if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
      this.buffer = this.buffer.subarray(newline + 1);
      this.onLine(line.toString('utf8'));
      if (this.ending) return;
    }
    if (!this.lineMode && this.buffer.length > 0) {
      // Classic framing: the message is the whole command.
      const message = this.buffer.toString('utf8');
      this.buffer = Buffer.alloc(0);
      this.enqueue(message, '');
    } else if (this.buffer.length > MAX_LINE_BYTES) {
      const line = this.buffer.subarray(0, 200).toString('utf8');
      this.buffer = Buffer.alloc(0);
      this.enqueue(line + '\0', '\n'); // the NUL makes it a clear bad request
      this.finish();
    }
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
      this.work = this.work.then(() => this.write(`${answer()}\n`));
      return;
    }
    this.enqueue(line, '\n');
  }

  private onEnd(): void {
    if (this.buffer.length > 0 && !this.ending) {
      const rest = this.buffer.toString('utf8');
      this.buffer = Buffer.alloc(0);
      if (rest.trim() !== 'exit' && rest.trim() !== 'quit') this.enqueue(rest, this.lineMode ? '\n' : '');
    }
    this.finish();
  }

  private enqueue(command: string, terminator: string): void {
    const format = isJsonRequest(command) ? 'json' : 'text';
    this.inFlight++;
    this.work = this.work.then(async () => {
      let reply: string;
      try {
        const result = await this.options.execute(command, this.tenant, format);
        reply = format === 'json' ? replyJson(result) : replyText(result);
      } catch (error) {
        this.options.logger.error({ err: error }, 'execution failed unexpectedly');
        const message = `the server failed to handle the command: ${(error as Error).message}`;
        reply = format === 'json' ? JSON.stringify({ outcome: 'server-error', reasons: [message] }) : `Error: ${message}`;
      }
      this.inFlight--;
      this.write(reply + terminator);
    });
  }

  private write(text: string): void {
    if (this.socket.writable) this.socket.write(text);
  }

  /** Stops taking commands; the connection ends once the accepted ones are answered. */
  drain(): void {
    this.finish();
  }

  /** Ends the connection once every accepted command has been answered. */
  private finish(): void {
    if (this.ending) return;
    this.ending = true;
    void this.work.then(() => this.socket.end());
  }
}
