// The registry over HTTP: GET /registry (the functions the caller may see),
// GET /registry/<name>, PUT /registry/<name> (a .tar.gz bundle as the body:
// deploy or redeploy), DELETE /registry/<name>. Who may do what is the
// policy's (functions/function-service.ts); every deploy and removal, done or
// refused, is an audit record.
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { formatSize } from '../../config/size.js';
import { FnjailError } from '../../errors.js';
import { DEFAULT_BUNDLE_LIMITS } from '../../functions/bundle.js';
import type { FunctionRecord } from '../../functions/registry.js';
import type { ApiOptions } from '../app.js';
import { functionNameParams, functionSchema, problemResponses } from './schemas.js';

/** A .tar.gz is read whole (its hash and its checks need all of it), up to the bundle limit. */
async function readArchive(body: Readable | undefined, maxBytes: number): Promise<Buffer> {
  if (!body) throw new FnjailError('FNJ_BUNDLE_INVALID', 'the request has no body: send the bundle, a .tar.gz, as the body');
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length;
    if (bytes > maxBytes) throw new FnjailError('FNJ_BUNDLE_TOO_LARGE', `the bundle is over ${formatSize(maxBytes)} compressed, the limit`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });

export async function registryRoutes(app: FastifyInstance, options: ApiOptions): Promise<void> {
  const { functions } = options;

  app.get(
    '/registry',
    { schema: { summary: 'The functions you may see', response: { 200: json({ type: 'object', required: ['functions'], properties: { functions: { type: 'array', items: functionSchema } } }, 'The functions.'), ...problemResponses } } },
    async (request) => ({ functions: await functions.list(request.peer) }),
  );

  app.get(
    '/registry/:name',
    { schema: { summary: 'One function', params: functionNameParams, response: { 200: json(functionSchema, 'The function.'), ...problemResponses } } },
    async (request) => functions.show(request.peer, (request.params as { name: string }).name),
  );

  app.put(
    '/registry/:name',
    {
      schema: {
        summary: 'Deploy a function (or a new version of it)',
        description: 'The body is the bundle, a .tar.gz with fnjail.json at its top (docs/functions.md).',
        params: functionNameParams,
        response: {
          200: json({ type: 'object', properties: { created: { type: 'boolean' }, unchanged: { type: 'boolean' }, function: functionSchema } }, 'Deployed again (or unchanged).'),
          201: json({ type: 'object', properties: { created: { type: 'boolean' }, unchanged: { type: 'boolean' }, function: functionSchema } }, 'Deployed, under a new name.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const archive = await readArchive(request.body as Readable | undefined, DEFAULT_BUNDLE_LIMITS.maxCompressedBytes);
      const result = await functions.deploy(request.peer, archive, (request.params as { name: string }).name);
      return reply.code(result.created ? 201 : 200).send({ created: result.created, unchanged: result.unchanged, function: result.record });
    },
  );

  app.delete(
    '/registry/:name',
    { schema: { summary: 'Remove a function', params: functionNameParams, response: { 200: json({ type: 'object', properties: { removed: functionSchema } }, 'Removed.'), ...problemResponses } } },
    async (request): Promise<{ removed: FunctionRecord }> => ({ removed: await functions.remove(request.peer, (request.params as { name: string }).name) }),
  );
}
