// A protocol-level client for tests that make many calls: the same bytes the
// classic C client or a session client sends, from inside the test process.
import net from 'node:net';
import { HANG_GUARD_MS } from './environment.js';

/** Classic framing: the command without terminator; the reply is the path. */
export function callClassic(socket: string, command: string | Buffer, timeoutMs = HANG_GUARD_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let reply = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no reply to '${command.toString()}' within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('connect', () => conn.write(command));
    conn.on('data', (chunk) => {
      reply += chunk.toString();
      // The classic reply has no terminator: one path, then the server waits for more.
      clearTimeout(timer);
      conn.end();
      resolve(reply);
    });
    conn.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Session framing: newline-terminated commands, one reply line each. */
export function callSession(socket: string, commands: string[], timeoutMs = HANG_GUARD_MS): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let data = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`session did not end within ${timeoutMs} ms; got: ${data}`));
    }, timeoutMs);
    conn.on('connect', () => conn.end(commands.map((c) => `${c}\n`).join('')));
    conn.on('data', (chunk) => (data += chunk.toString()));
    conn.on('end', () => {
      clearTimeout(timer);
      resolve(data.split('\n').filter((l) => l.length > 0));
    });
    conn.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
