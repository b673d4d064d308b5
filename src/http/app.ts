// The HTTP API (fastify 5), in front of the same executor, policy, registry
// and audit as every other front end. Served on the API socket (HTTP over a
// UNIX socket, callers identified by SO_PEERCRED: identity.ts); fnjail serve
// binds that socket early and hands its connections to the HTTP server built
// here (serverFactory: fastify never binds anything itself). Route schemas
// are declared on every route, validated by the server's own ajv instance,
// so that the OpenAPI document can be generated from them. Errors are
// problem+json (problem.ts), whatever failed.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { NatsLink } from '../cluster/nats-link.js';
import { sharedAjv } from '../config/ajv.js';
import { FnjailError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { FunctionService } from '../functions/function-service.js';
import type { JobService } from '../jobs/job-service.js';
import { identify } from './identity.js';
import { errorStatus, problem, PROBLEM_TYPE } from './problem.js';
import { jobRoutes } from './routes/jobs.js';
import { registryRoutes } from './routes/registry.js';
import { runRoutes } from './routes/run.js';
import { statusRoutes } from './routes/status.js';

export interface ApiOptions {
  executor: Executor;
  functions: FunctionService;
  /** Jobs; undefined with --nats off (the routes say so). */
  jobs: JobService | undefined;
  link: NatsLink;
  logger: Logger;
  /** Where request bodies are spooled for the call (server/spool.ts). */
  spoolDir: string;
  maxInputBytes: number;
  nodeName: string;
  version: string;
}

export interface Api {
  app: FastifyInstance;
  /** Give it connections (it listens on nothing itself). */
  server: http.Server;
}

/** Headers of every reply. */
export const HEADERS = { request: 'x-fnjail-request', outcome: 'x-fnjail-outcome', duration: 'x-fnjail-duration-ms' } as const;

/** How long a request may take to arrive whole (headers and body): a slow client is cut off. */
const REQUEST_TIMEOUT_MS = 60_000;

export async function buildApi(options: ApiOptions): Promise<Api> {
  let server: http.Server | undefined;
  const serverId = randomBytes(4).toString('hex');
  let requests = 0;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    // Every call has its audit record; a log line per HTTP request would say it twice.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: () => `${serverId}-h${++requests}`,
    requestTimeout: REQUEST_TIMEOUT_MS,
    serverFactory: (handler) => {
      server = http.createServer(handler);
      return server;
    },
  });
  app.setValidatorCompiler(({ schema }) => sharedAjv().compile(schema));
  // Bodies are read by the routes, as streams, each with its own limit
  // (a call's input is spooled to a file, never held whole in memory).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  identify(app);
  app.addHook('onRequest', async (request, reply) => {
    (request as FastifyRequest & { startedAt: number }).startedAt = performance.now();
    reply.header(HEADERS.request, request.id);
  });
  app.addHook('onSend', async (request, reply) => {
    if (!reply.hasHeader(HEADERS.duration)) {
      const ms = performance.now() - (request as FastifyRequest & { startedAt: number }).startedAt;
      reply.header(HEADERS.duration, ms.toFixed(3));
    }
    if (!reply.hasHeader(HEADERS.outcome)) reply.header(HEADERS.outcome, reply.statusCode < 400 ? 'ok' : 'error');
  });
  app.setErrorHandler((error: FastifyError | FnjailError, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) => sendError(request, reply, Object.assign(new Error(`no route ${request.method} ${request.url.split('?')[0]}`), { statusCode: 404 })));

  await app.register(runRoutes, options);
  await app.register(registryRoutes, options);
  await app.register(statusRoutes, options);
  await app.register(jobRoutes, options);
  await app.ready();
  return { app, server: server! };
}

/** Any error of a request that is not a call's outcome, as problem+json. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: Error & { statusCode?: number; validation?: unknown; code?: string }): FastifyReply {
  const fnjail = error instanceof FnjailError ? error : undefined;
  const status = fnjail ? errorStatus(fnjail.code) : error.validation ? 400 : error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status >= 500 && !fnjail) request.log.error({ err: error }, 'HTTP request failed');
  const detail = error.validation ? `invalid request: ${error.message}` : error.message;
  const body = problem(status, {
    detail,
    outcome: 'error',
    reasons: detail.split('\n'),
    request: request.id,
    ...(fnjail ? { code: fnjail.code } : status === 400 ? { code: 'FNJ_USAGE' as const } : {}),
    ...(fnjail?.hint ? { hint: fnjail.hint } : {}),
  });
  return reply.code(status).type(PROBLEM_TYPE).header(HEADERS.outcome, 'error').send(body);
}
