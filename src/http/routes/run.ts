// POST /run/<name> (and OpenLambda's /runLambda/<name>): calls a registered
// function. The request body is its input: spooled to a file that is given
// to a library function as its input (an empty body: no input); the
// response body is its output, streamed from the output file (then removed:
// over HTTP the response is the output). A call that did not succeed is a
// problem+json with its outcome, Reason lines and partial output.
import fs, { constants as fsc } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatSize } from '../../config/size.js';
import { FnjailError } from '../../errors.js';
import { namedCallText } from '../../executor/command.js';
import type { ExecutionResult } from '../../executor/executor.js';
import type { Tenant } from '../../policy/decide.js';
import { matchTenant } from '../../policy/tenants.js';
import { MAX_RETURNED_CONTENT_BYTES } from '../../server/replies.js';
import { spoolBody } from '../../server/spool.js';
import type { ApiContext } from '../app.js';
import { HEADERS, outcomeStatus, problem, PROBLEM_TYPE, RETRY_AFTER_SECONDS } from '../problem.js';
import { requestBody } from '../request-body.js';
import { functionNameParams, problemResponses } from './schemas.js';

const runSchema = {
  summary: 'Call a registered function',
  description: "The body is the function's input (a library function's input file; empty: none); the response body is its output.",
  tags: ['calls'],
  params: functionNameParams,
  requestBody: {
    description: "The function's input: a program's standard input, a library function's input file (an empty body: called without one). At most --max-input, or the tenant's maxInput.",
    required: false,
    content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } }, '*/*': { schema: {} } },
  },
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { function: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 255, description: 'For a library: the function to call, one its manifest lists (default run).' } },
  },
  response: {
    200: { description: 'The output of the call.', content: { 'application/octet-stream': { schema: { type: 'string' } } } },
    ...problemResponses,
  },
} as const;

/** The largest body this peer may send: the server's --max-input, or its tenant's maxInput if lower. */
export function maxInputOf(context: ApiContext, peer: Tenant): number {
  const tenant = matchTenant(context.policy(), peer).tenant;
  return Math.min(context.maxInputBytes, tenant?.grant.maxInputBytes ?? Infinity);
}

export async function runRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const { name } = request.params as { name: string };
    const fn = (request.query as { function?: string }).function;
    const peer = request.peer;
    const maxBytes = maxInputOf(context, peer);
    const tooLarge = () => new FnjailError('FNJ_INPUT_TOO_LARGE', `the request body is over ${formatSize(maxBytes)}, the largest input this server takes from you (--max-input, or your tenant's maxInput)`);
    const body = requestBody(request, reply, maxBytes, tooLarge);
    const spooled = body ? await spoolBody(context.spoolDir, body, maxBytes, peer, tooLarge) : undefined;
    let result: ExecutionResult;
    try {
      const input = spooled === undefined ? undefined : ({ kind: 'spool', path: spooled } as const);
      result = await context.executor.call({ text: namedCallText(name, fn, input), name, function: fn, input }, peer, { removesOutput: true });
    } finally {
      removeQuietly(spooled);
    }
    reply.header(HEADERS.request, result.request).header(HEADERS.outcome, result.kind).header(HEADERS.duration, result.totalMs.toFixed(3));
    if (result.kind === 'ok' && result.outputPath) return reply.code(200).type('application/octet-stream').send(outputBody(result.outputPath));
    const status = outcomeStatus(result.kind);
    if (status === 429) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    const answer = problem(status, {
      detail: `${result.command} could not be executed: ${result.reasons.join('; ')}`,
      outcome: result.kind,
      reasons: result.reasons,
      request: result.request,
      ...partialOutput(result),
    });
    removeQuietly(result.outputPath);
    return reply.code(status).type(PROBLEM_TYPE).send(answer);
  };
  app.post('/run/:name', { schema: runSchema }, handler);
  app.post('/runLambda/:name', { schema: { ...runSchema, summary: 'Call a registered function (OpenLambda\'s path)' } }, handler);
}

/** Outputs up to this size are read at once and sent with a Content-Length
 * (one write, no stream on the thread pool): most calls print little. */
const WHOLE_OUTPUT_BYTES = 64 * 1024;

/** The output file, read without following a link, removed once read (or
 * abandoned): whole when small, else streamed. */
function outputBody(file: string): Buffer | Readable {
  const fd = fs.openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (size > WHOLE_OUTPUT_BYTES) {
    const stream = fs.createReadStream(file, { fd });
    stream.once('close', () => removeQuietly(file));
    return stream;
  }
  try {
    const bytes = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const n = fs.readSync(fd, bytes, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return read === size ? bytes : bytes.subarray(0, read);
  } finally {
    fs.closeSync(fd);
    removeQuietly(file);
  }
}

/** Removes an output file or a spooled input (a plain unlink: fs.rm would walk it as a tree first). */
function removeQuietly(file: string | undefined): void {
  if (file) fs.unlink(file, () => undefined);
}

/** What the function printed before it failed (the output file before its error lines), at most 1 MiB. */
function partialOutput(result: ExecutionResult): { output?: string; outputBase64?: string; outputTruncated?: boolean } {
  const printed = result.printedBytes ?? 0;
  if (!result.outputPath || printed === 0) return {};
  const length = Math.min(printed, MAX_RETURNED_CONTENT_BYTES);
  const bytes = Buffer.alloc(length);
  let read = 0;
  try {
    const fd = fs.openSync(result.outputPath, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      read = fs.readSync(fd, bytes, 0, length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return {};
  }
  const data = bytes.subarray(0, read);
  const truncated = printed > length ? { outputTruncated: true } : {};
  try {
    return { output: new TextDecoder('utf-8', { fatal: true }).decode(data), ...truncated };
  } catch {
    return { outputBase64: data.toString('base64'), ...truncated };
  }
}
