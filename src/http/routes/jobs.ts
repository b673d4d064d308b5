// Jobs over HTTP (docs/jobs.md): POST /jobs submits (202, the ticket and its
// Location), GET /jobs/<ticket> shows it (?wait=MS: once it has ended, or
// the wait is over), GET /jobs/<ticket>/output?replica=N streams a replica's
// output, POST /jobs/<ticket>/cancel, DELETE /jobs/<ticket> closes it (its
// storage is freed), GET /jobs lists the caller's own (?all=true: every
// one's, for root and admins). A ticket of someone else's is not found,
// exactly as one that never existed; a ticket that is not one is a 400.
// What may be submitted, by whom, is the job service's (jobs/job-service.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatSize } from '../../config/size.js';
import { FnjailError } from '../../errors.js';
import { DEFAULT_BUNDLE_LIMITS } from '../../functions/bundle.js';
import { TICKET_PATTERN } from '../../jobs/job-identity.js';
import type { JobService } from '../../jobs/job-service.js';
import { MAX_REPLICAS } from '../../jobs/job-service.js';
import { jobViewSchema } from '../../jobs/job-view.js';
import type { ApiContext } from '../app.js';
import { HEADERS } from '../problem.js';
import { readWhole, requestBody } from '../request-body.js';
import { maxInputOf } from './run.js';
import { problemResponses } from './schemas.js';

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });

const ticketParams = {
  type: 'object',
  required: ['ticket'],
  additionalProperties: false,
  properties: { ticket: { type: 'string', pattern: TICKET_PATTERN, description: 'The ticket POST /jobs gave: 32 hex digits.' } },
} as const;

/** Query strings are strings: numbers are checked as digits, then read. */
const NUMBER = '^[0-9]{1,9}$';

/** The longest ?wait= of one request: a client waiting longer asks again. */
const MAX_WAIT_MS = 50_000;

const submitQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'The registered function to run (or bundle=true).' },
    function: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 255, description: 'For a library: the function to call (default run).' },
    bundle: { type: 'string', enum: ['true', 'false'], description: 'true: the body is a bundle (.tar.gz) whose Makefile\'s run target builds and runs a program; make run is each replica.' },
    replicas: { type: 'string', pattern: NUMBER, description: `Separate sandboxed runs, on different nodes when there are several: 1 (the default) to ${MAX_REPLICAS}.` },
    timeoutMs: { type: 'string', pattern: NUMBER, description: "Each replica's wall-clock limit in ms, when tighter than the policy's." },
  },
} as const;

/** A body read whole (an input goes to the object store), up to its limit: the route's own (request-body.ts). */
async function readBody(request: FastifyRequest, reply: FastifyReply, maxBytes: number, what: 'bundle' | 'input'): Promise<Buffer | undefined> {
  const tooLarge = () => new FnjailError(what === 'bundle' ? 'FNJ_BUNDLE_TOO_LARGE' : 'FNJ_INPUT_TOO_LARGE', `the ${what} is over ${formatSize(maxBytes)}, the largest this server takes from you`);
  const body = requestBody(request, reply, maxBytes, tooLarge);
  return body && readWhole(body, maxBytes, tooLarge);
}

/** The jobs of this server, or why there are none. */
function service(options: ApiContext): JobService {
  if (options.jobs) return options.jobs;
  throw new FnjailError('FNJ_JOBS_UNAVAILABLE', 'the job queue is off on this server (--nats off)', 'jobs need the NATS system: start fnjail serve without --nats off');
}

export async function jobRoutes(app: FastifyInstance, options: ApiContext): Promise<void> {
  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Submit a job',
        description: "The body is the function's input (or, with bundle=true, the bundle). Refused at once (never accepted and lost) for a function that does not exist or that you may not call, or a full queue.",
        querystring: submitQuery,
        response: { 202: json(jobViewSchema, 'Accepted: the ticket, its state (WAITING) and its replicas; Location names it.'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const raw = request.query as { name?: string; function?: string; bundle?: string; replicas?: string; timeoutMs?: string };
      const query = { ...raw, bundle: raw.bundle === 'true', replicas: Number(raw.replicas ?? 1), timeoutMs: raw.timeoutMs === undefined ? undefined : Number(raw.timeoutMs) };
      if (query.bundle === (query.name !== undefined)) throw new FnjailError('FNJ_USAGE', 'a job names a registered function (name=NAME) or sends a bundle (bundle=true), one of them');
      const data = await readBody(request, reply, query.bundle ? DEFAULT_BUNDLE_LIMITS.maxCompressedBytes : maxInputOf(options, request.peer), query.bundle ? 'bundle' : 'input');
      if (query.bundle && !data?.length) throw new FnjailError('FNJ_BUNDLE_INVALID', 'the request has no body: send the bundle, a .tar.gz, as the body');
      const view = await service(options).submit(request.peer, {
        replicas: query.replicas,
        ...(query.bundle ? { bundle: data! } : { name: query.name!, ...(query.function !== undefined ? { function: query.function } : {}), ...(data?.length ? { input: data } : {}) }),
        ...(query.timeoutMs !== undefined ? { timeoutMs: query.timeoutMs } : {}),
      });
      return reply.code(202).header('location', `/jobs/${view.ticket}`).send(view);
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Your jobs, oldest first',
        querystring: { type: 'object', additionalProperties: false, properties: { all: { type: 'string', enum: ['true', 'false'], description: "true: every one's (root and the policy's admins)." } } },
        response: { 200: json({ type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: jobViewSchema } } }, 'The jobs.'), ...problemResponses },
      },
    },
    async (request) => ({ jobs: await service(options).list(request.peer, (request.query as { all?: string }).all === 'true') }),
  );

  app.get(
    '/jobs/:ticket',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job: its state, its replicas, every transition',
        params: ticketParams,
        querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'string', pattern: NUMBER, description: `Answer once the job has ended, or after this many ms (at most ${MAX_WAIT_MS}).` } } },
        response: { 200: json(jobViewSchema, 'The job.'), ...problemResponses },
      },
    },
    async (request) => {
      const wait = Math.min(MAX_WAIT_MS, Number((request.query as { wait?: string }).wait ?? 0));
      return service(options).status(request.peer, (request.params as { ticket: string }).ticket, wait);
    },
  );

  app.get(
    '/jobs/:ticket/output',
    {
      schema: {
        tags: ['jobs'],
        summary: "A replica's output (a bundle job's: make's, build log and program output)",
        description: "Once the replica has ended. Its state and outcome are in the headers; an INVALID replica's output ends with its error lines, and its Reason lines are in GET /jobs/<ticket>.",
        params: ticketParams,
        querystring: { type: 'object', additionalProperties: false, properties: { replica: { type: 'string', pattern: NUMBER, description: 'The replica, from 1 (the default).' } } },
        response: { 200: { description: 'The output.', content: { 'application/octet-stream': { schema: { type: 'string' } } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { ticket } = request.params as { ticket: string };
      const replica = Number((request.query as { replica?: string }).replica ?? 1);
      const found = await service(options).output(request.peer, ticket, replica);
      reply.header('x-fnjail-job-state', found.replica.state).header(HEADERS.outcome, found.replica.outcome ?? 'ok');
      return reply.code(200).type('application/octet-stream').send(found.output ?? Buffer.alloc(0));
    },
  );

  app.post(
    '/jobs/:ticket/cancel',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job: its waiting replicas leave the queue, its running ones are stopped',
        params: ticketParams,
        response: { 200: json({ type: 'object', required: ['cancelled', 'job'], properties: { cancelled: { type: 'boolean', description: 'False: it had ended already.' }, job: jobViewSchema } }, 'The job, cancelled.'), ...problemResponses },
      },
    },
    async (request) => {
      const { view, cancelled } = await service(options).cancel(request.peer, (request.params as { ticket: string }).ticket);
      return { cancelled, job: view };
    },
  );

  app.delete(
    '/jobs/:ticket',
    {
      schema: {
        tags: ['jobs'],
        summary: "Close a job: its record and outputs are removed (it is cancelled first if it has not ended)",
        params: ticketParams,
        response: { 200: json({ type: 'object', required: ['closed'], properties: { closed: jobViewSchema } }, 'The job as it was when closed.'), ...problemResponses },
      },
    },
    async (request) => ({ closed: await service(options).close(request.peer, (request.params as { ticket: string }).ticket) }),
  );
}
