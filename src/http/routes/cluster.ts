// GET /cluster: the cluster's member table as this node sees it (the same
// rows `fnjail cluster status` prints): each node's state, heartbeat age, CPU,
// memory, calls and version, and which one coordinates. A node that is in no
// cluster (no --nats URL) says so, with an empty table. Only root and the
// policy's monitors may read it (the rule of fnjail stats): the table tells
// every node's load and calls.
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../app.js';
import { requireMonitor } from './monitors.js';
import { problemResponses } from './schemas.js';

const figures = (properties: Record<string, unknown>, required: string[]) => ({ type: ['object', 'null'], required, properties }) as const;

const memberSchema = {
  type: 'object',
  required: ['node', 'state', 'incarnation', 'since', 'version', 'coordinator', 'heartbeatAgeMs', 'cpu', 'memory', 'load', 'calls'],
  properties: {
    node: { type: 'string' },
    state: { type: 'string', enum: ['joining', 'up', 'suspect', 'down', 'left'] },
    incarnation: { type: 'string', description: 'New at each start of the node.' },
    since: { type: 'string', description: 'When it entered its state (ISO 8601).' },
    version: { type: 'string' },
    coordinator: { type: 'boolean', description: "It holds the coordinator's lease." },
    heartbeatAgeMs: { type: ['number', 'null'], description: 'Since its last heartbeat came; null: none from this incarnation.' },
    cpu: figures({ host: { type: 'number' }, node: { type: 'number' }, cores: { type: 'integer' } }, ['host', 'cores']),
    memory: figures({ totalBytes: { type: 'integer' }, availableBytes: { type: 'integer' }, usedBytes: { type: 'integer' } }, ['totalBytes', 'availableBytes', 'usedBytes']),
    load: { type: ['array', 'null'], items: { type: 'number' } },
    calls: figures({ running: { type: 'integer' }, freeSlots: { type: 'integer' }, queued: { type: 'integer' }, capacity: { type: 'integer' } }, ['running', 'freeSlots', 'queued', 'capacity']),
  },
} as const;

const clusterSchema = {
  type: 'object',
  required: ['node', 'joined', 'members'],
  properties: {
    node: { type: 'string', description: 'This node.' },
    joined: { type: 'boolean', description: 'Whether this node is in a cluster (--nats URL).' },
    incarnation: { type: 'string' },
    balance: { type: 'string', enum: ['least-loaded', 'round-robin'] },
    rejectedMessages: { type: 'integer', description: 'Messages refused since the start (a node speaking for another, unreadable ones).' },
    members: { type: 'array', items: memberSchema },
  },
} as const;

export async function clusterRoutes(app: FastifyInstance, options: ApiContext): Promise<void> {
  app.get(
    '/cluster',
    {
      schema: {
        summary: "The cluster's member table",
        description: "For root and the policy's monitors, as fnjail stats.",
        tags: ['server'],
        response: { 200: { description: 'The member table.', content: { 'application/json': { schema: clusterSchema } } }, ...problemResponses },
      },
    },
    async (request) => {
      requireMonitor(options, request, "the cluster's member table");
      const cluster = options.link.cluster;
      if (!cluster) return { node: options.nodeName, joined: false, members: [] };
      return { node: cluster.node, joined: true, incarnation: cluster.incarnation.id, balance: cluster.balance, rejectedMessages: cluster.rejectedMessages, members: cluster.memberTable() };
    },
  );
}
