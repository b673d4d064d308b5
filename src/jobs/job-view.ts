// A job as the API shows it to its owner: its record without what only the
// nodes need (the peer's credentials, the queue's sequences, incarnations),
// and the JSON Schema of that view (the routes' response schema, hence the
// OpenAPI document).
import type { JobRecord, JobState } from './job-record.js';

export interface ReplicaView {
  replica: number;
  state: JobState;
  node?: string;
  attempts: number;
  outcome?: string;
  reasons: string[];
  version?: string;
  request?: string;
  outputBytes?: number;
  history: JobRecord['history'];
}

export interface JobView {
  ticket: string;
  state: JobState;
  kind: 'function' | 'bundle';
  function?: string;
  entry?: string;
  bundle?: { hash: string; bytes: number };
  inputBytes: number;
  replicas: ReplicaView[];
  timeoutMs?: number;
  tenant: string;
  submittedBy: string;
  node: string;
  submittedAt: string;
  endedAt?: string;
  history: JobRecord['history'];
}

export function jobView(record: JobRecord): JobView {
  const { target } = record;
  return {
    ticket: record.ticket,
    state: record.state,
    kind: target.kind,
    ...(target.kind === 'function' ? { function: target.name, ...(target.function !== undefined ? { entry: target.function } : {}) } : { bundle: { hash: target.hash, bytes: target.bytes } }),
    inputBytes: record.input?.bytes ?? 0,
    replicas: record.replicas.map((r) => ({
      replica: r.replica,
      state: r.state,
      ...(r.node !== undefined ? { node: r.node } : {}),
      attempts: r.attempts,
      ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
      reasons: r.reasons,
      ...(r.version !== undefined ? { version: r.version } : {}),
      ...(r.request !== undefined ? { request: r.request } : {}),
      ...(r.output ? { outputBytes: r.output.bytes } : {}),
      history: r.history,
    })),
    ...(record.timeoutMs !== undefined ? { timeoutMs: record.timeoutMs } : {}),
    tenant: record.tenant,
    submittedBy: record.submittedBy,
    node: record.node,
    submittedAt: record.submittedAt,
    ...(record.endedAt !== undefined ? { endedAt: record.endedAt } : {}),
    history: record.history,
  };
}

const stateSchema = { type: 'string', enum: ['WAITING', 'RUNNING', 'COMPLETED', 'INVALID'] } as const;

const historySchema = {
  type: 'array',
  description: 'Every transition, oldest first.',
  items: {
    type: 'object',
    required: ['state', 'at'],
    properties: { state: stateSchema, at: { type: 'string' }, node: { type: 'string' }, attempt: { type: 'integer' }, note: { type: 'string' } },
  },
} as const;

export const jobViewSchema = {
  type: 'object',
  required: ['ticket', 'state', 'kind', 'replicas', 'submittedAt', 'history'],
  properties: {
    ticket: { type: 'string' },
    state: stateSchema,
    kind: { type: 'string', enum: ['function', 'bundle'] },
    function: { type: 'string', description: 'A function job: the registered function.' },
    entry: { type: 'string', description: "A library's function called (default run)." },
    bundle: { type: 'object', properties: { hash: { type: 'string' }, bytes: { type: 'integer' } } },
    inputBytes: { type: 'integer' },
    replicas: {
      type: 'array',
      items: {
        type: 'object',
        required: ['replica', 'state', 'attempts', 'reasons', 'history'],
        properties: {
          replica: { type: 'integer' },
          state: stateSchema,
          node: { type: 'string', description: 'Where it runs, or ran last.' },
          attempts: { type: 'integer', description: 'Runs started (a redelivery after a lost node is one more).' },
          outcome: { type: 'string', description: 'An INVALID replica: the outcome of a call (docs/errors.md), or build-failed, node-lost, cancelled, stopped.' },
          reasons: { type: 'array', items: { type: 'string' }, description: 'The Reason lines.' },
          version: { type: 'string' },
          request: { type: 'string', description: "The request id of its call's audit record." },
          outputBytes: { type: 'integer' },
          history: historySchema,
        },
      },
    },
    timeoutMs: { type: 'integer' },
    tenant: { type: 'string' },
    submittedBy: { type: 'string' },
    node: { type: 'string', description: 'The node that accepted it.' },
    submittedAt: { type: 'string' },
    endedAt: { type: 'string' },
    history: historySchema,
  },
} as const;
