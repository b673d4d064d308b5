// A server-sent events client over the API socket (HTTP over UNIX), for the
// dashboard's stream: the events as they arrive, and a way to wait for one.
import http from 'node:http';
import { HANG_GUARD_MS } from './environment.js';

export interface StreamEvent {
  id: string;
  data: string;
}

export interface EventStream {
  status: number;
  events: StreamEvent[];
  /** Resolves with the first event (already received or to come) that matches. */
  next(match: (event: StreamEvent) => boolean): Promise<StreamEvent>;
  close(): void;
}

/** Splits a stream's text into its complete events (id and data lines); the rest is what is not complete yet. */
export function parseEvents(text: string): { events: StreamEvent[]; rest: string } {
  const blocks = text.split('\n\n');
  const rest = blocks.pop()!;
  const events: StreamEvent[] = [];
  for (const block of blocks) {
    const id = /^id: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (id !== undefined && data !== undefined) events.push({ id, data });
  }
  return { events, rest };
}

export function openEventStream(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, path, headers: { accept: 'text/event-stream', ...headers }, agent: false }, (response) => {
      const events: StreamEvent[] = [];
      const waiters: Array<{ match: (event: StreamEvent) => boolean; resolve: (event: StreamEvent) => void }> = [];
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const parsed = parseEvents(text + chunk);
        text = parsed.rest;
        for (const event of parsed.events) {
          events.push(event);
          for (const waiter of waiters.filter((w) => w.match(event))) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(event);
          }
        }
      });
      response.on('error', () => undefined);
      resolve({
        status: response.statusCode!,
        events,
        next(match) {
          const found = events.find(match);
          if (found) return Promise.resolve(found);
          return new Promise((resolveEvent, rejectEvent) => {
            const timer = setTimeout(() => rejectEvent(new Error(`no such event on ${path} after ${HANG_GUARD_MS} ms`)), HANG_GUARD_MS);
            waiters.push({ match, resolve: (event) => (clearTimeout(timer), resolveEvent(event)) });
          });
        },
        close: () => request.destroy(),
      });
    });
    request.on('error', reject);
    request.end();
  });
}
