// The HTTP API as a front end of the server: loaded once the classic socket
// serves (fastify is not needed before), then given the connections of the
// API socket (bound early by fnjail serve, its waiting connections handed
// over) and of every --http listener (TLS with an optional client
// certificate, or plain on loopback with --insecure: server.listenRemote,
// the same code as --listen). Every connection counts against --max-clients
// like those of the classic sessions; one refused for that is answered 503
// where it can be (the API socket, plain TCP) and closed.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { ServeSettings } from '../config/serve-settings.js';
import { jobsSection } from '../dashboard/jobs-section.js';
import { renderMetrics } from '../metrics/prometheus.js';
import type { Tenant } from '../policy/decide.js';
import type { EarlyListener } from '../server/early-listener.js';
import { peerCredentials } from '../server/peer-credentials.js';
import type { FnjailServer } from '../server/server.js';
import { buildApi, rawProblem } from './app.js';
import { registerConnection } from './identity.js';

export interface HttpFrontEnd {
  /** The TCP addresses bound (HOST:PORT). */
  addresses: string[];
  /** Stops accepting (with the classic socket, on SIGTERM). */
  stopAccepting(): void;
  /** Once the calls are over: closes what is left, removes the socket file. */
  close(): Promise<void>;
}

export interface HttpFrontEndOptions {
  server: FnjailServer;
  settings: ServeSettings;
  logger: Logger;
  version: string;
  /** The API socket, bound already; undefined: --http-socket off. */
  apiSocket: EarlyListener | undefined;
  metricsToken: string | undefined;
}

export async function startHttpFrontEnd({ server, settings, logger, version, apiSocket, metricsToken }: HttpFrontEndOptions): Promise<HttpFrontEnd> {
  const { app, server: httpServer } = await buildApi({
    executor: server.executor,
    functions: server.functions,
    jobs: server.jobs?.service,
    ...(server.jobs ? { dashboard: { jobs: () => jobsSection(server.stats.jobs) } } : {}),
    link: server.link,
    logger,
    policy: () => server.policies.current,
    spoolDir: server.spoolDir,
    maxInputBytes: settings.maxInputBytes,
    nodeName: settings.nodeName,
    version,
    launcherReady: () => server.launcher.info !== undefined,
    stats: () => server.snapshot(),
    metrics: (detailed) => renderMetrics(server.stats, { ...server.metricsContext(), version }, detailed),
    metricsToken,
    timeouts: settings.httpTimeouts,
  });
  const serve = (socket: net.Socket) => {
    // Replies go out as their parts are written (headers, then the streamed output): without
    // TCP_NODELAY, Nagle's algorithm holds the second part for the client's delayed ACK (~40 ms).
    if (socket instanceof net.Socket && socket.remoteAddress !== undefined) socket.setNoDelay(true);
    httpServer.emit('connection', socket);
  };

  apiSocket?.handOver((socket) => {
    let peer: Tenant;
    try {
      peer = peerCredentials(socket);
    } catch (error) {
      logger.error({ err: error }, 'cannot identify a client of the API socket; closing its connection');
      socket.destroy();
      return;
    }
    if (!server.admitLocal(socket, peer)) {
      refuseBusy(socket, settings.maxClients);
      return;
    }
    registerConnection(socket, { transport: 'unix', peer });
    serve(socket);
  });

  const addresses: string[] = [];
  const transport = settings.tls ? 'tls' : 'tcp';
  for (const address of settings.http) {
    const bound = await server.listenRemote(address, {
      clientCertificate: 'optional',
      alpn: ['http/1.1'],
      refuse: (socket) => refuseBusy(socket, settings.maxClients),
      onConnection: (socket, remote) => {
        registerConnection(socket, { transport, remote });
        serve(socket);
      },
    });
    addresses.push(bound);
  }

  return {
    addresses,
    stopAccepting() {
      apiSocket?.server.close();
      httpServer.closeIdleConnections();
    },
    async close() {
      await app.close().catch(() => undefined);
      // Give the replies of the last calls a moment to be written out, then close what is left.
      await new Promise((resolve) => setTimeout(resolve, 100));
      httpServer.closeAllConnections();
      if (apiSocket && settings.httpSocket) fs.rmSync(settings.httpSocket, { force: true });
    },
  };
}

/** Too many clients: one 429 reply (with Retry-After), then closed (its request is not read). */
function refuseBusy(socket: net.Socket, maxClients: number): void {
  socket.on('error', () => undefined);
  socket.end(rawProblem('FNJ_SERVER_BUSY', `the server is busy: ${maxClients} clients are connected (its limit); try again later`));
  setTimeout(() => socket.destroy(), 1000).unref();
}
