// The optional HTTP listener of `fnjail serve --metrics ADDRESS`: answers
// `GET /metrics` with renderMetrics's text for a Prometheus scraper, and
// nothing else. Plain node:http (one route: a framework would be more code than
// the route). Loopback by default: the metrics name tenants and library paths,
// which are not for everyone on the network.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export const DEFAULT_METRICS_HOST = '127.0.0.1';
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * `--metrics` values: "9464" (on 127.0.0.1), "127.0.0.1:9464", "[::1]:9464",
 * "localhost:9464", "0.0.0.0:9464". Port 0 asks for any free port (tests).
 */
export function parseListenAddress(text: string): { host: string; port: number } {
  const value = text.trim();
  // A declaration with `never`: TypeScript then narrows after `if (...) fail()`.
  function fail(why: string): never {
    throw new Error(`bad metrics address "${text}": ${why} (expected PORT, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464)`);
  }
  let host = DEFAULT_METRICS_HOST;
  let portText = value;
  if (value.startsWith('[')) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(value);
    if (!match) fail('an IPv6 address in brackets must be followed by :PORT');
    host = match[1]!;
    portText = match[2]!;
    if (!net.isIPv6(host)) fail(`"${host}" is not an IPv6 address`);
  } else if (value.includes(':')) {
    const colon = value.lastIndexOf(':');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) fail('put an IPv6 address in brackets, e.g. [::1]:9464');
    if (host === '') fail('the host is empty');
    // An IPv4 address or a host name (letters, digits, dots, hyphens).
    if (!net.isIPv4(host) && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) fail(`"${host}" is not a host name or an IP address`);
  }
  if (!/^\d{1,5}$/.test(portText)) fail(portText === '' ? 'the port is missing' : `"${portText}" is not a port number`);
  const port = Number(portText);
  if (port > 65535) fail(`port ${port} is above 65535`);
  return { host, port };
}

/** Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === 'localhost.' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^(?:::|0:0:0:0:0:)ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

export interface MetricsListenerOptions {
  host: string;
  port: number;
  /** The page (renderMetrics with the server's current context). */
  render: () => string;
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
      logger.warn({ host, port }, 'metrics listener is not on a loopback address: the metrics name tenants and library paths; put a firewall in front or use a loopback address');
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
      body = this.options.render();
    } catch (error) {
      this.options.logger.error({ err: error }, 'rendering the metrics failed');
      return reply(response, 500, 'text/plain; charset=utf-8', 'rendering the metrics failed (see the server log)\n');
    }
    // For HEAD, node:http sends the headers (Content-Length included) and no body.
    reply(response, 200, CONTENT_TYPE, body);
  }
}

function reply(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
