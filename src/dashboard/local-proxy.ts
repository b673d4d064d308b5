// fnjail dashboard: the dashboard for a browser on this host (or through an
// SSH tunnel), without a client certificate. A loopback listener passes the
// dashboard's requests (GET of /, /dashboard and /dashboard/*, nothing else of
// the API) to the server's API socket, where the server knows this process's
// user (SO_PEERCRED) and answers root and monitors only, as always. Other
// local users could connect to the loopback port too, and would borrow that
// user's right to look; so the listener answers only a browser that proved it
// holds the key printed at start: the URL carries it once, the listener swaps
// it for a cookie (HttpOnly, SameSite=Strict) and drops it from the address.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

const COOKIE = 'fnjail-dashboard';
/** The paths the listener passes on: the dashboard's, read-only. */
const DASHBOARD_PATH = /^\/(dashboard(\/[A-Za-z0-9._/-]*)?)?$/;
/** The request headers passed on (the browser's cookie and others stay here). */
const FORWARDED_HEADERS = ['accept', 'last-event-id', 'if-none-match'];

export interface LocalProxy {
  /** What to open: http://HOST:PORT/?key=KEY */
  url: string;
  close(): Promise<void>;
}

export async function startLocalProxy(options: { host: string; port: number; apiSocket: string }): Promise<LocalProxy> {
  const key = randomBytes(32).toString('base64url');
  const holdsKey = (presented: string | undefined | null) => {
    if (!presented) return false;
    const a = Buffer.from(presented);
    const b = Buffer.from(key);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (holdsKey(url.searchParams.get('key'))) {
      response.writeHead(303, { location: '/dashboard', 'set-cookie': `${COOKIE}=${key}; HttpOnly; SameSite=Strict; Path=/`, 'cache-control': 'no-store' }).end();
      return;
    }
    if (!holdsKey(cookieOf(request.headers.cookie))) {
      plain(response, 401, 'Open the address fnjail dashboard printed (it carries the key of this listener).\n');
      return;
    }
    if (request.method !== 'GET' || !DASHBOARD_PATH.test(url.pathname)) {
      plain(response, 404, 'This listener passes on the dashboard only.\n');
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const upstream = http.request({ socketPath: options.apiSocket, path: url.pathname, method: 'GET', headers }, (reply) => {
      response.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(response);
    });
    upstream.on('error', (error) => {
      if (!response.headersSent) plain(response, 502, `fnjail dashboard: the server's API socket ${options.apiSocket}: ${error.message}\n`);
      else response.destroy();
    });
    // The browser went away (a page closed): its event stream upstream ends with it.
    response.on('close', () => upstream.destroy());
    upstream.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as { address: string; port: number };
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/?key=${key}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function cookieOf(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return value.join('=');
  }
  return undefined;
}

function plain(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(text);
}
