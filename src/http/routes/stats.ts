// GET /stats (the live statistics, the same JSON as `fnjail stats --json`:
// root and the policy's monitors only, as on the classic socket) and GET
// /metrics (Prometheus: totals for anyone, the series by tenant and library
// for monitors and for a scraper presenting the metrics token, as on the
// --metrics listener).
import type { FastifyInstance } from 'fastify';
import { isMonitor } from '../../policy/tenants.js';
import type { ApiContext } from '../app.js';
import { requireMonitor } from './monitors.js';
import { problemResponses } from './schemas.js';

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export async function statsRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.get(
    '/stats',
    {
      schema: {
        summary: "The server's live statistics",
        description: 'The same numbers as fnjail stats --json: for root and the policy\'s monitors.',
        tags: ['server'],
        response: { 200: { description: 'The statistics.', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } }, ...problemResponses },
      },
    },
    async (request) => {
      requireMonitor(context, request, "the server's statistics");
      return context.stats();
    },
  );

  app.get(
    '/metrics',
    {
      config: { public: true },
      schema: {
        summary: 'Prometheus metrics',
        description: "Totals for anyone; the series by tenant and library for the policy's monitors and for a scraper presenting the metrics token (--metrics-token) as its bearer token.",
        tags: ['server'],
        response: { 200: { description: 'The Prometheus text format, version 0.0.4.', content: { [PROMETHEUS_TYPE]: { schema: { type: 'string' } } } } },
      },
    },
    async (request, reply) => {
      const detailed = request.metricsToken || (request.credential !== 'none' && isMonitor(context.policy(), request.peer));
      return reply.type(PROMETHEUS_TYPE).send(context.metrics(detailed));
    },
  );
}
