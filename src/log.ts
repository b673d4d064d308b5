// The server's log: pino, JSON lines on stdout.
import { pino, type Logger } from 'pino';

export function createLogger(level = process.env.FNJAIL_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
