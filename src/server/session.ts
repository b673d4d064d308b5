// One client connection. Two framings, told apart by the first message:
//   classic: one command sent without terminator (the classic client sends,
//            then does a single recv); the reply is the path, no terminator;
//   session: newline-terminated commands, one newline-terminated reply each,
//            in order, until `exit` or `quit` (or the client closes). A line
//            naming a control command (`stats`) is answered by the server
//            itself, in its turn among the others.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { ExecutionResult } from '../executor/executor.js';
import type { Tenant } from '../policy/decide.js';

/** A line longer than this without a newline ends the session. */
export const MAX_LINE_BYTES = 64 * 1024;

export type Execute = (raw: string, tenant: Tenant) => Promise<ExecutionResult>;

/** The reply to a control command, or undefined if the line is not one. */
export type Control = (word: string, tenant: Tenant) => (() => string) | undefined;

/** The reply to a command: its output file, or an in-band error if none could be made. */
export function replyText(result: ExecutionResult): string {
  return result.outputPath ?? `Error: ${result.command} could not be executed: ${result.reasons.join('; ')}`;
}

export class Session {
  private buffer: Buffer = Buffer.alloc(0);
  private lineMode = false;
  private work: Promise<void> = Promise.resolve();
  private ending = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly tenant: Tenant,
    private readonly execute: Execute,
    private readonly control: Control,
    private readonly logger: Logger,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error) => logger.debug({ err: error, peer: tenant }, 'client connection error'));
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
    const answer = this.control(word, this.tenant);
    if (answer) {
      this.work = this.work.then(() => {
        if (this.socket.writable) this.socket.write(`${answer()}\n`);
      });
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
    this.work = this.work.then(async () => {
      let reply: string;
      try {
        reply = replyText(await this.execute(command, this.tenant));
      } catch (error) {
        this.logger.error({ err: error }, 'execution failed unexpectedly');
        reply = `Error: the server failed to handle the command: ${(error as Error).message}`;
      }
      if (this.socket.writable) this.socket.write(reply + terminator);
    });
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
