// The HTTP API (fastify 5), in front of the same executor, policy, registry
// and audit as every other front end. It listens on nothing itself: the
// front end (front-end.ts) gives it the connections of the API socket and of
// the --http listeners, each registered with what it tells of its client
// (identity.ts). Route schemas are declared on every route, validated by the
// server's own ajv instance, and the OpenAPI document is generated from them
// (openapi.ts). Errors are problem+json (problem.ts), whatever failed.
// The routes are listed in routes/index.ts: a new concern adds its plugin there.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { DashboardSources } from '../dashboard/dashboard-feed.js';
import type { NatsLink } from '../cluster/nats-link.js';
import { sharedAjv } from '../config/ajv.js';
import { FnjailError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { FunctionService } from '../functions/function-service.js';
import type { JobService } from '../jobs/job-service.js';
import type { StatsSnapshot } from '../metrics/stats.js';
import type { Policy } from '../policy/policy.js';
import { BEARER_CHALLENGE, identify } from './identity.js';
import { RouteBook } from './openapi.js';
import { errorStatus, HEADERS, problem, PROBLEM_TYPE, RETRY_AFTER_SECONDS, statusTitle } from './problem.js';
import { closeAfterReply } from './request-body.js';
import { API_ROUTES } from './routes/index.js';

export interface ApiOptions {
  executor: Executor;
  functions: FunctionService;
  /** Jobs; undefined with --nats off (the routes say so). */
  jobs: JobService | undefined;
  link: NatsLink;
  logger: Logger;
  /** The policy in force. */
  policy: () => Policy;
  /** Where request bodies are spooled for the call (server/spool.ts). */
  spoolDir: string;
  /** The largest request body (--max-input); a tenant's maxInput may lower it. */
  maxInputBytes: number;
  nodeName: string;
  version: string;
  /** Whether a sandbox launcher is ready to run calls. */
  launcherReady: () => boolean;
  /** The live statistics (GET /stats, as fnjail stats shows them). */
  stats: () => StatsSnapshot;
  /** The Prometheus page; detailed: with the series by tenant and library. */
  metrics: (detailed: boolean) => string;
  /** The token that unlocks the detailed metrics (--metrics-token). */
  metricsToken: string | undefined;
  timeouts: { headersMs: number; requestMs: number; keepAliveMs: number };
  /** The dashboard's sections other parts provide (the job queue); absent: the page says "no jobs". The cluster's nodes come from link. */
  dashboard?: Pick<DashboardSources, 'jobs'>;
}

/** What every route plugin is given: the options, and the book of routes (for the OpenAPI document). */
export interface ApiContext extends ApiOptions {
  routes: RouteBook;
}

export interface Api {
  app: FastifyInstance;
  /** Give it connections (it listens on nothing itself). */
  server: http.Server;
}

declare module 'fastify' {
  interface FastifyRequest {
    startedAt: number;
  }
}

export async function buildApi(options: ApiOptions): Promise<Api> {
  let server: http.Server | undefined;
  const serverId = randomBytes(4).toString('hex');
  let requests = 0;
  const { headersMs, requestMs, keepAliveMs } = options.timeouts;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    // Every call has its audit record; a log line per HTTP request would say it twice.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: () => `${serverId}-h${++requests}`,
    serverFactory: (handler) => {
      server = http.createServer(
        {
          // Slow clients (slowloris) are cut off: Node checks these every connectionsCheckingInterval.
          headersTimeout: headersMs,
          requestTimeout: requestMs,
          keepAliveTimeout: keepAliveMs,
          connectionsCheckingInterval: Math.max(100, Math.min(1000, headersMs / 4)),
        },
        handler,
      );
      // 100 Continue is sent by the routes that read the body (request-body.ts), not before the request is checked.
      server.on('checkContinue', (request, response) => server!.emit('request', request, response));
      server.on('clientError', (error, socket) => answerClientError(error, socket as net.Socket));
      // The server listens on nothing itself (it is given connections), but Node
      // starts the timer that enforces headersTimeout and requestTimeout on its
      // 'listening' event: without it, a slow client would never be cut off.
      server.emit('listening');
      return server;
    },
  });
  app.setValidatorCompiler(({ schema }) => sharedAjv().compile(schema));
  // Bodies are read by the routes, as streams, each with its own limit
  // (a call's input is spooled to a file, never held whole in memory).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(multipart);
  const routes = new RouteBook();
  app.addHook('onRoute', (route) => routes.add(route));
  app.decorateRequest('startedAt', 0);
  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now();
    reply.header(HEADERS.request, request.id);
  });
  identify(app, { policy: options.policy, metricsToken: options.metricsToken });
  app.addHook('onSend', async (request, reply) => {
    if (!reply.hasHeader(HEADERS.duration)) reply.header(HEADERS.duration, (performance.now() - request.startedAt).toFixed(3));
    if (!reply.hasHeader(HEADERS.outcome)) reply.header(HEADERS.outcome, reply.statusCode < 400 ? 'ok' : 'error');
  });
  app.setErrorHandler((error: FastifyError | FnjailError, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routes.methodsOf(path);
    if (allowed.length) {
      reply.header('allow', allowed.join(', '));
      return sendError(request, reply, new FnjailError('FNJ_METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, not ${request.method}`));
    }
    return sendError(request, reply, new FnjailError('FNJ_NO_ROUTE', `no route ${request.method} ${path}`, 'GET /openapi.json lists the routes'));
  });

  const context: ApiContext = { ...options, routes };
  for (const plugin of API_ROUTES) await app.register(plugin, context);
  await app.ready();
  return { app, server: server! };
}

/** Any error of a request that is not a call's outcome, as problem+json. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: Error & { statusCode?: number; validation?: unknown; code?: string }): FastifyReply {
  const fnjail = error instanceof FnjailError ? error : undefined;
  const status = fnjail ? errorStatus(fnjail.code) : error.validation ? 400 : error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  if (status >= 500 && !fnjail) request.log.error({ err: error }, 'HTTP request failed');
  const detail = error.validation ? `invalid request: ${error.message}` : error.message;
  const code = fnjail?.code ?? (status === 400 ? 'FNJ_USAGE' : status >= 500 ? 'FNJ_INTERNAL' : undefined);
  const body = problem(status, {
    detail,
    outcome: 'error',
    reasons: detail.split('\n'),
    request: request.id,
    ...(code ? { code } : {}),
    ...(fnjail?.hint ? { hint: fnjail.hint } : {}),
  });
  if (status === 401) reply.header('www-authenticate', BEARER_CHALLENGE);
  // A body refused as too large is not read further: its client may still be sending it.
  if (status === 413) closeAfterReply(request, reply);
  if (status === 429 || status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.code(status).type(PROBLEM_TYPE).header(HEADERS.outcome, 'error').send(body);
}

/** A problem+json reply written straight to a connection, before or outside any request fastify handles. */
export function rawProblem(code: 'FNJ_REQUEST_TIMEOUT' | 'FNJ_USAGE' | 'FNJ_SERVER_BUSY', detail: string): string {
  const status = errorStatus(code);
  const body = JSON.stringify(problem(status, { detail, outcome: 'error', reasons: [detail], request: '', code }));
  const extra = status === 429 || status === 503 ? `Retry-After: ${RETRY_AFTER_SECONDS}\r\n` : '';
  return `HTTP/1.1 ${status} ${statusTitle(status)}\r\nContent-Type: ${PROBLEM_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}${HEADERS.outcome}: error\r\nConnection: close\r\n\r\n${body}`;
}

/** What Node reports about a connection before fastify sees a request: too slow (408), unparsable or headers too large (400). */
function answerClientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const answer =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? rawProblem('FNJ_REQUEST_TIMEOUT', 'the request did not arrive in time (--http-header-timeout, --http-request-timeout): the connection is closed')
    : error.code === 'HPE_HEADER_OVERFLOW' ? rawProblem('FNJ_USAGE', 'the request headers are too large (16 KiB at most)')
    : rawProblem('FNJ_USAGE', `the request is not valid HTTP/1.1 (${error.code ?? error.message})`);
  socket.end(answer);
  socket.destroySoon();
}
