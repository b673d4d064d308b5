// The OpenAPI 3.1 document of the API, generated from the routes as fastify
// registers them (every route passes through RouteBook.add, from an onRoute
// hook): paths, methods, parameters and responses come from the same route
// schemas that validate requests and serialize replies, so the document
// cannot drift from what the server does. A route says what its body is
// with `requestBody` in its schema (bodies are streams the routes read
// themselves, so fastify validates none). The book also answers which
// methods a path takes, for 405 replies.
import type { RouteOptions } from 'fastify';

interface JsonSchema {
  [key: string]: unknown;
  properties?: Record<string, JsonSchema & { description?: string }>;
  required?: readonly string[];
}

/** The parts of a route schema the document reads (fastify's, and the OpenAPI ones it ignores). */
export interface RouteSchema {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: readonly string[];
  params?: JsonSchema;
  querystring?: JsonSchema;
  requestBody?: { description?: string; required?: boolean; content: Record<string, { schema: object }> };
  response?: Record<string, { description?: string; content?: Record<string, { schema: object }> } & JsonSchema>;
}

interface Entry {
  method: string;
  /** fastify's path: /registry/:name */
  url: string;
  pattern: RegExp;
  schema: RouteSchema | undefined;
  public: boolean;
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : escapeRegExp(segment)))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

export class RouteBook {
  private readonly entries: Entry[] = [];

  add(route: RouteOptions): void {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      this.entries.push({ method: String(method).toUpperCase(), url: route.url, pattern: patternOf(route.url), schema: route.schema as RouteSchema | undefined, public: route.config?.public === true });
    }
  }

  /** The methods some route takes at this concrete path. */
  methodsOf(path: string): string[] {
    return [...new Set(this.entries.filter((e) => e.pattern.test(path)).map((e) => e.method))];
  }

  /** The OpenAPI 3.1 document of every route (HEAD, which fastify adds for each GET, left out). */
  document(info: { version: string }): object {
    const paths: Record<string, Record<string, object>> = {};
    for (const entry of this.entries) {
      if (entry.method === 'HEAD') continue;
      const path = entry.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      (paths[path] ??= {})[entry.method.toLowerCase()] = operation(entry);
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'fnjail HTTP API',
        version: info.version,
        description: 'Calls of registered functions, each in a fresh sandbox, and the registry, status and statistics of an fnjail server (docs/http.md). Errors are application/problem+json (RFC 9457).',
      },
      components: {
        securitySchemes: {
          bearerToken: { type: 'http', scheme: 'bearer', description: 'A token of a tenant of the policy (fnjail token new).' },
          clientCertificate: { type: 'mutualTLS', description: "A client certificate issued by the server's --tls-ca; its common name names the tenant." },
        },
      },
      // On the API socket (a UNIX socket) the caller is known by its uid and presents nothing.
      security: [{ bearerToken: [] }, { clientCertificate: [] }],
      paths,
    };
  }
}

function operation(entry: Entry): object {
  const schema = entry.schema ?? {};
  const parameters = [...parametersOf(schema.params, 'path'), ...parametersOf(schema.querystring, 'query')];
  const responses: Record<string, object> = {};
  for (const [status, response] of Object.entries(schema.response ?? {})) {
    const { description, content, ...rest } = response;
    responses[status.toUpperCase()] = { description: description ?? '', content: content ?? { 'application/json': { schema: rest } } };
  }
  return {
    operationId: schema.operationId ?? `${entry.method.toLowerCase()}${entry.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    ...(schema.summary ? { summary: schema.summary } : {}),
    ...(schema.description ? { description: schema.description } : {}),
    ...(schema.tags ? { tags: schema.tags } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(schema.requestBody ? { requestBody: schema.requestBody } : {}),
    responses,
    // A public route is served to anyone; a token or a certificate may still come with the request.
    ...(entry.public ? { security: [{}, { bearerToken: [] }, { clientCertificate: [] }] } : {}),
  };
}

function parametersOf(schema: JsonSchema | undefined, where: 'path' | 'query'): object[] {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, required: where === 'path' || (schema?.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}
