// GET /status: whether this node serves calls by name now (200) or not (503),
// for a person or a load balancer: ready once a sandbox launcher is ready and
// the registry is (or there is none: --nats off). A caller the policy knows
// also gets the node, its version, its load and the registry's state; an
// anonymous one (a load balancer's probe over TLS) gets the answer alone.
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../app.js';

const statusSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not ready'] },
    reasons: { type: 'array', items: { type: 'string' }, description: 'Why it is not ready.' },
    node: { type: 'string' },
    version: { type: 'string' },
    running: { type: 'integer', description: 'Calls running now.' },
    queued: { type: 'integer', description: 'Calls waiting for a sandbox.' },
    launcher: { type: 'string', enum: ['ready', 'not ready'], description: 'The sandbox launcher.' },
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

export async function statusRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.get(
    '/status',
    {
      config: { public: true },
      schema: {
        summary: 'Ready or not, and why',
        description: 'Served to anyone (load balancers); only a caller the policy knows gets more than the status and its reasons.',
        tags: ['server'],
        response: { 200: { description: 'Ready.', content: { 'application/json': { schema: statusSchema } } }, 503: { description: 'Not ready.', content: { 'application/json': { schema: statusSchema } } } },
      },
    },
    async (request, reply) => {
      const link = context.link.status();
      const launcherReady = context.launcherReady();
      const registryReady = link.state === 'ready' || link.state === 'off';
      const reasons = [
        ...(launcherReady ? [] : ['the sandbox launcher is not ready']),
        ...(registryReady ? [] : [`the function registry is ${link.state}${link.reason ? `: ${link.reason}` : ''}`]),
      ];
      const ready = reasons.length === 0;
      const answer = { status: ready ? 'ready' : 'not ready', ...(ready ? {} : { reasons }) };
      reply.code(ready ? 200 : 503);
      if (request.credential === 'none') return answer;
      return {
        ...answer,
        node: context.nodeName,
        version: context.version,
        running: context.executor.running,
        queued: context.executor.queued,
        launcher: launcherReady ? 'ready' : 'not ready',
        registry: {
          state: link.state,
          ...(link.reason ? { reason: link.reason } : {}),
          ...(link.nats ? { nats: link.nats.state } : {}),
          ...(link.privateServer?.pid !== undefined ? { privateServerPid: link.privateServer.pid } : {}),
          ...(link.privateServer ? { privateServerRestarts: link.privateServer.restarts } : {}),
        },
      };
    },
  );
}
