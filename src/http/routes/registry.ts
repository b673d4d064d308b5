// The registry over HTTP: GET /registry (the functions the caller may see),
// GET /registry/<name>, PUT /registry/<name> (deploy or redeploy: the bundle,
// a .tar.gz, as the body or as the one file of a multipart/form-data
// upload), DELETE /registry/<name>. Who may do what is the policy's
// (functions/function-service.ts); every deploy and removal, done or
// refused, is an audit record.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatSize } from '../../config/size.js';
import { FnjailError } from '../../errors.js';
import { DEFAULT_BUNDLE_LIMITS } from '../../functions/bundle.js';
import type { FunctionRecord } from '../../functions/registry.js';
import type { ApiContext } from '../app.js';
import { readWhole, requestBody } from '../request-body.js';
import { functionNameParams, functionSchema, problemResponses } from './schemas.js';

const MAX_BUNDLE_BYTES = DEFAULT_BUNDLE_LIMITS.maxCompressedBytes;
const tooLarge = () => new FnjailError('FNJ_BUNDLE_TOO_LARGE', `the bundle is over ${formatSize(MAX_BUNDLE_BYTES)} compressed, the limit`);

/** The bundle of a multipart/form-data upload: its one file part (any field name); fields are ignored. */
async function uploadedArchive(request: FastifyRequest, reply: FastifyReply): Promise<Buffer> {
  if (request.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
  const malformed = (error: unknown) =>
    error instanceof FnjailError ? error
    : (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE' ? tooLarge()
    : new FnjailError('FNJ_BUNDLE_INVALID', `the multipart upload cannot be read: ${(error as Error).message}`, 'send the .tar.gz as the one file of a multipart/form-data body, or as the body itself (Content-Type: application/gzip)');
  try {
    const part = await request.file({ limits: { files: 1, fileSize: MAX_BUNDLE_BYTES, fields: 16, fieldSize: 4096, parts: 32, headerPairs: 64 } });
    if (!part) throw new FnjailError('FNJ_BUNDLE_INVALID', 'the multipart upload holds no file: send the bundle, a .tar.gz, as its file');
    return await part.toBuffer();
  } catch (error) {
    throw malformed(error);
  }
}

async function archiveOf(request: FastifyRequest, reply: FastifyReply): Promise<Buffer> {
  if (request.isMultipart()) {
    const length = request.headers['content-length'];
    if (length !== undefined && Number(length) > MAX_BUNDLE_BYTES + 64 * 1024) throw tooLarge();
    return uploadedArchive(request, reply);
  }
  const body = requestBody(request, reply, MAX_BUNDLE_BYTES, tooLarge);
  if (!body) throw new FnjailError('FNJ_BUNDLE_INVALID', 'the request has no body: send the bundle, a .tar.gz, as the body');
  // A .tar.gz is read whole: its hash and its checks need all of it.
  return readWhole(body, MAX_BUNDLE_BYTES, tooLarge);
}

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });

export async function registryRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { functions } = context;

  app.get(
    '/registry',
    { schema: { summary: 'The functions you may see', tags: ['registry'], response: { 200: json({ type: 'object', required: ['functions'], properties: { functions: { type: 'array', items: functionSchema } } }, 'The functions.'), ...problemResponses } } },
    async (request) => ({ functions: await functions.list(request.peer) }),
  );

  app.get(
    '/registry/:name',
    { schema: { summary: 'One function', tags: ['registry'], params: functionNameParams, response: { 200: json(functionSchema, 'The function.'), ...problemResponses } } },
    async (request) => functions.show(request.peer, (request.params as { name: string }).name),
  );

  app.put(
    '/registry/:name',
    {
      schema: {
        summary: 'Deploy a function (or a new version of it)',
        description: 'The body is the bundle, a .tar.gz with fnjail.json at its top (docs/functions.md), or a multipart/form-data upload whose one file is the bundle.',
        tags: ['registry'],
        params: functionNameParams,
        requestBody: {
          required: true,
          content: {
            'application/gzip': { schema: { type: 'string', contentMediaType: 'application/gzip' } },
            'multipart/form-data': { schema: { type: 'object', properties: { bundle: { type: 'string', contentMediaType: 'application/gzip' } } } },
          },
        },
        response: {
          200: json({ type: 'object', properties: { created: { type: 'boolean' }, unchanged: { type: 'boolean' }, function: functionSchema } }, 'Deployed again (or unchanged).'),
          201: json({ type: 'object', properties: { created: { type: 'boolean' }, unchanged: { type: 'boolean' }, function: functionSchema } }, 'Deployed, under a new name.'),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const archive = await archiveOf(request, reply);
      const result = await functions.deploy(request.peer, archive, (request.params as { name: string }).name);
      return reply.code(result.created ? 201 : 200).send({ created: result.created, unchanged: result.unchanged, function: result.record });
    },
  );

  app.delete(
    '/registry/:name',
    { schema: { summary: 'Remove a function', tags: ['registry'], params: functionNameParams, response: { 200: json({ type: 'object', properties: { removed: functionSchema } }, 'Removed.'), ...problemResponses } } },
    async (request): Promise<{ removed: FunctionRecord }> => ({ removed: await functions.remove(request.peer, (request.params as { name: string }).name) }),
  );
}
