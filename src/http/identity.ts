// Who sends a request to the API socket: the process that connected, as the
// kernel recorded it at connect() (SO_PEERCRED, SO_PEERGROUPS), read once per
// connection exactly as the classic socket does (server/peer-credentials.ts);
// the policy matches it to a tenant the same way. A request carries no
// identity of its own: no header can claim another uid. (Client
// certificates and tokens over TCP come with the HTTP API's next step.)
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Tenant } from '../policy/decide.js';
import { peerCredentials } from '../server/peer-credentials.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent it. */
    peer: Tenant;
  }
}

const peers = new WeakMap<net.Socket, Tenant>();

export function peerOf(socket: net.Socket): Tenant {
  let peer = peers.get(socket);
  if (!peer) {
    peer = peerCredentials(socket);
    peers.set(socket, peer);
  }
  return peer;
}

/** Every request knows its peer before anything else runs; one that cannot be identified is not served. */
export function identify(app: FastifyInstance): void {
  app.decorateRequest('peer', null as unknown as Tenant);
  app.addHook('onRequest', async (request) => {
    request.peer = peerOf(request.raw.socket);
  });
}
