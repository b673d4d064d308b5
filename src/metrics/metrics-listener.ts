// The optional HTTP listener of `fnjail serve --metrics ADDRESS`: answers
// `GET /metrics` with renderMetrics's text for a Prometheus scraper, and
// nothing else. Plain node:http (one route: a framework would be more code than
// the route). Loopback is no boundary on a host shared by tenants: any local
// user can connect. So the page names no tenant and no library unless the
// request carries the metrics token (`Authorization: Bearer <token>`, from
// --metrics-token FILE), the same information `stats` gives only to monitors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { isLoopback } from '../config/listen-address.js';
import { tokenMatches } from './metrics-token.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsListenerOptions {
  host: string;
  port: number;
  /** The page (renderMetrics with the server's current context); detailed: with tenants and libraries. */
  render: (detailed: boolean) => string;
  /** The token that unlocks the detailed page; undefined: nobody gets it. */
  token?: string | undefined;
  logger: Logger;
}

export class MetricsListener {
  private readonly server: http.Server;

  constructor(private readonly options: MetricsListenerOptions) {
    this.server = http.createServer((request, response) => this.handle(request, response));
  }

  /** Listens; resolves with the address bound (the port chosen when 0 was asked). */
  start(): Promise<{ host: string; port: number }> {
    const { host, port, logger } = this.options;
    if (!isLoopback(host)) {
      logger.warn({ host, port }, 'metrics listener is not on a loopback address: put a firewall in front or use a loopback address');
    }
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(new Error(`cannot listen for metrics on ${formatHostPort(host, port)}: ${error.code ?? error.message}`, { cause: error }));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        // Later errors (none expected once listening) are logged, not thrown.
        this.server.on('error', (error) => logger.error({ err: error }, 'metrics listener error'));
        const address = this.server.address() as AddressInfo;
        logger.info({ host: address.address, port: address.port }, 'metrics listener started');
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** Stops listening and drops open connections (a scraper's keep-alive one
   * would otherwise keep the process alive until it timed out). */
  stop(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Whether the request holds the token (compared in constant time). */
  private authorized(request: http.IncomingMessage): boolean {
    const { token } = this.options;
    const given = bearer(request);
    if (token === undefined || given === undefined) return false;
    return tokenMatches(given, token);
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      return reply(response, 404, 'text/plain; charset=utf-8', 'not found: the metrics are at /metrics\n');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return reply(response, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET /metrics\n');
    }
    let body: string;
    try {
      body = this.options.render(this.authorized(request));
    } catch (error) {
      this.options.logger.error({ err: error }, 'rendering the metrics failed');
      return reply(response, 500, 'text/plain; charset=utf-8', 'rendering the metrics failed (see the server log)\n');
    }
    // For HEAD, node:http sends the headers (Content-Length included) and no body.
    reply(response, 200, CONTENT_TYPE, body);
  }
}

function bearer(request: http.IncomingMessage): string | undefined {
  const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
  return match?.[1];
}

function reply(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
