// GET /openapi.json: the OpenAPI 3.1 document of this API, generated from the
// routes' schemas (../openapi.ts), once, when first asked for.
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../app.js';

export async function openapiRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  let document: object | undefined;
  app.get(
    '/openapi.json',
    {
      config: { public: true },
      schema: { summary: 'This document', tags: ['server'], response: { 200: { description: 'The OpenAPI 3.1 document of the API.', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } } } },
    },
    async () => (document ??= context.routes.document({ version: context.version })),
  );
}
