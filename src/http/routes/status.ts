// GET /status: whether this node serves calls by name now (200) or not (503),
// for a person or a load balancer: the node, its version, the registry's
// state and, when it is not ready, why.
import type { FastifyInstance } from 'fastify';
import type { ApiOptions } from '../app.js';

const statusSchema = {
  type: 'object',
  required: ['status', 'node', 'version', 'registry'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not ready'] },
    node: { type: 'string' },
    version: { type: 'string' },
    running: { type: 'integer', description: 'Calls running now.' },
    queued: { type: 'integer', description: 'Calls waiting for a sandbox.' },
    registry: {
      type: 'object',
      required: ['state'],
      properties: {
        state: { type: 'string', enum: ['off', 'starting', 'ready', 'down', 'failed'] },
        reason: { type: 'string' },
        nats: { type: 'string', description: 'The NATS connection: connected, disconnected, reconnecting, closed.' },
        privateServerPid: { type: 'integer', description: "The private nats-server's process id, while it runs." },
        privateServerRestarts: { type: 'integer', description: 'Times the private nats-server was restarted after dying.' },
      },
    },
  },
} as const;

export async function statusRoutes(app: FastifyInstance, options: ApiOptions): Promise<void> {
  app.get(
    '/status',
    { schema: { summary: 'Ready or not, and why', response: { 200: { description: 'Ready.', content: { 'application/json': { schema: statusSchema } } }, 503: { description: 'Not ready.', content: { 'application/json': { schema: statusSchema } } } } } },
    async (_request, reply) => {
      const link = options.link.status();
      const ready = link.state === 'ready' || link.state === 'off';
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not ready',
        node: options.nodeName,
        version: options.version,
        running: options.executor.running,
        queued: options.executor.queued,
        registry: {
          state: link.state,
          ...(link.reason ? { reason: link.reason } : {}),
          ...(link.nats ? { nats: link.nats.state } : {}),
          ...(link.privateServer?.pid !== undefined ? { privateServerPid: link.privateServer.pid } : {}),
          ...(link.privateServer ? { privateServerRestarts: link.privateServer.restarts } : {}),
        },
      });
    },
  );
}
