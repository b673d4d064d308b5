// The dashboard (web/, built into dist/dashboard/): the page at / and
// /dashboard, its scripts and style, and its one event stream
// (GET /dashboard/events, server-sent events: a frame a second, resumable
// with Last-Event-ID; src/dashboard/dashboard-feed.ts). All of it is for root
// and the policy's monitors only (as fnjail stats): anyone else gets 403 and
// not a byte of it. Nothing is loaded from elsewhere: the page's Content
// Security Policy allows this server only.
import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DashboardFeed } from '../../dashboard/dashboard-feed.js';
import { streamFrames } from '../../dashboard/event-response.js';
import { FnjailError } from '../../errors.js';
import { dashboardAssetsDir } from '../../paths.js';
import type { ApiContext } from '../app.js';
import { HEADERS } from '../problem.js';
import { requireMonitor } from './monitors.js';
import { problemResponses } from './schemas.js';

/** Pages watching at once at most (each holds a connection). */
const MAX_PAGES = 32;
const WHAT = 'the dashboard';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** The built page's files, read once: name -> content (an empty map when the page was not built). */
function readAssets(dir: string): Map<string, Buffer> {
  const assets = new Map<string, Buffer>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names) if (CONTENT_TYPES[path.extname(name)]) assets.set(name, fs.readFileSync(path.join(dir, name)));
  return assets;
}

const htmlResponse = { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, ...problemResponses } as const;

export async function dashboardRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const assets = readAssets(dashboardAssetsDir);
  const feed = new DashboardFeed({
    nodeName: context.nodeName,
    version: context.version,
    load: () => ({ running: context.executor.running, capacity: context.executor.capacity }),
    registryState: () => context.link.status().state,
    functions: () => context.functions.listAll(),
    // The member table, once this node has joined a cluster (--nats URL): read once a frame.
    cluster: () => context.link.cluster?.memberTable(),
    jobs: context.dashboard?.jobs,
  });
  const stopRecording = context.executor.onFinished((result) => feed.calls.record(result));
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    stopRecording();
    feed.close();
    for (const stream of streams) stream.end();
  });

  const sendAsset = (reply: FastifyReply, name: string) => {
    const content = assets.get(name);
    if (!content) {
      throw new FnjailError(name === 'index.html' ? 'FNJ_INTERNAL' : 'FNJ_NO_ROUTE', name === 'index.html' ? `the dashboard was not built (${dashboardAssetsDir} is missing): run npm run build` : `the dashboard has no file ${name}`);
    }
    return reply.headers(PAGE_HEADERS).type(CONTENT_TYPES[path.extname(name)]!).send(content);
  };

  for (const url of ['/', '/dashboard']) {
    app.get(url, { schema: { summary: 'The dashboard page', description: "Nodes, calls, functions and jobs, live: for root and the policy's monitors.", tags: ['dashboard'], response: htmlResponse } }, async (request, reply) => {
      requireMonitor(context, request, WHAT);
      return sendAsset(reply, 'index.html');
    });
  }

  app.get(
    '/dashboard/assets/:file',
    {
      schema: {
        summary: "The dashboard page's scripts and style",
        tags: ['dashboard'],
        params: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string', pattern: '^[a-z0-9-]+\\.(js|css|svg)$' } } },
        response: { 200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      requireMonitor(context, request, WHAT);
      return sendAsset(reply, (request.params as { file: string }).file);
    },
  );

  app.get(
    '/dashboard/events',
    {
      schema: {
        summary: "The dashboard's event stream",
        description: 'Server-sent events: a snapshot, then one frame a second (web/src/payload.ts); a reconnecting client sends Last-Event-ID and gets the frames it missed.',
        tags: ['dashboard'],
        response: { 200: { description: 'The stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      requireMonitor(context, request, WHAT);
      if (feed.watching >= MAX_PAGES) throw new FnjailError('FNJ_SERVER_BUSY', `${MAX_PAGES} dashboard pages are open already (the limit); close one`);
      const lastEventId = request.headers['last-event-id'];
      const response = reply.raw;
      reply.hijack();
      streams.add(response);
      response.on('close', () => streams.delete(response));
      streamFrames(feed, response, typeof lastEventId === 'string' ? lastEventId : undefined, { [HEADERS.request]: request.id });
    },
  );
}
