// Who sends a request to the HTTP API. The connection says what it can when
// it is accepted (connections): on the API socket, the process that
// connected, as the kernel recorded it (SO_PEERCRED, read once, exactly as
// the classic socket does); over TLS, the client's certificate if it
// presented one (tcp-listener.ts refuses one the CA did not issue); over
// plain TCP (--insecure, loopback only), nothing. A request may add a bearer
// token (policy: a tenant's "tokens"), which then is its identity on any
// listener; it is checked against the policy in force at every request, so a
// token removed from the policy is refused from the next request on, and a
// call of it still waiting in line is denied when it leaves the line
// (policy/tenants.ts). A token that matches nothing is refused (401), never
// taken for an anonymous request. Without a token: the certificate, the uid,
// or, on a plain loopback listener only, an anonymous client (the policy's
// defaults, acting as nobody, as with --listen --insecure). Anonymous
// requests over TLS are refused (401) except on the routes marked public
// (status, metrics totals, the OpenAPI document).
import type net from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FnjailError } from '../errors.js';
import { tokenMatches } from '../metrics/metrics-token.js';
import type { Tenant } from '../policy/decide.js';
import type { Policy } from '../policy/policy.js';
import { remotePeer } from '../policy/tenants.js';
import { tokenOwner } from '../policy/tokens.js';
import type { Remote } from '../server/tcp-listener.js';

/** What a connection tells of its client, set when it is accepted. */
export type Connection = { transport: 'unix'; peer: Tenant } | { transport: 'tls' | 'tcp'; remote: Remote };

/** How the request's sender was identified. */
export type Credential = 'uid' | 'certificate' | 'token' | 'anonymous' | 'none';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent it; for a route marked public, possibly nobody the policy can match ('none'). */
    peer: Tenant;
    credential: Credential;
    /** It presented the metrics token (--metrics-token): GET /metrics shows the series by tenant. */
    metricsToken: boolean;
  }
  interface FastifyContextConfig {
    /** Served to clients that present no identity (load balancers, scrapers, documentation). */
    public?: boolean;
  }
}

const connections = new WeakMap<net.Socket, Connection>();

/** Records what the connection tells of its client; its requests are identified from it. */
export function registerConnection(socket: net.Socket, connection: Connection): void {
  connections.set(socket, connection);
}

export const BEARER_CHALLENGE = 'Bearer realm="fnjail"';

export interface IdentityOptions {
  policy: () => Policy;
  /** The metrics token (--metrics-token), if any. */
  metricsToken: string | undefined;
}

/** Nobody: a request on a public route without any identity. */
const NOBODY_REMOTE = (address: string): Tenant => ({ uid: 65534, gid: 65534, groups: [], pid: 0, remote: { address, commonName: undefined, fingerprint: undefined } });

function unauthenticated(message: string): FnjailError {
  return new FnjailError('FNJ_UNAUTHENTICATED', message, 'present a client certificate from the server\'s --tls-ca, or a token: Authorization: Bearer <token> (fnjail token new)');
}

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw unauthenticated('the Authorization header is not "Bearer <token>"');
  return match[1]!;
}

function addressOf(connection: Connection): string {
  return connection.transport === 'unix' ? `api socket, uid ${connection.peer.uid}` : connection.remote.address;
}

/** Identifies the request; throws FNJ_UNAUTHENTICATED when it cannot be served. */
export function identifyRequest(request: FastifyRequest, options: IdentityOptions): void {
  const connection = connections.get(request.raw.socket);
  if (!connection) throw new FnjailError('FNJ_INTERNAL', 'a connection of the HTTP API was not registered');
  const policy = options.policy();
  const bearer = bearerOf(request);
  request.metricsToken = false;
  if (bearer !== undefined) {
    const owner = tokenOwner(policy, bearer);
    if (owner) {
      request.peer = remotePeer(policy, { address: addressOf(connection), commonName: undefined, fingerprint: undefined, token: owner.id });
      request.credential = 'token';
      return;
    }
    // The metrics token identifies nobody: it only unlocks GET /metrics's detail.
    if (options.metricsToken !== undefined && tokenMatches(bearer, options.metricsToken) && request.routeOptions.config.public) {
      request.metricsToken = true;
    } else {
      throw unauthenticated('the bearer token is not one of the policy (unknown, or revoked)');
    }
  }
  if (connection.transport === 'unix') {
    request.peer = connection.peer;
    request.credential = 'uid';
  } else if (connection.remote.commonName !== undefined) {
    request.peer = remotePeer(policy, connection.remote);
    request.credential = 'certificate';
  } else if (connection.transport === 'tcp') {
    // Plain TCP is served on loopback only (--insecure): its clients are anonymous, as on --listen.
    request.peer = remotePeer(policy, connection.remote);
    request.credential = 'anonymous';
  } else if (request.routeOptions.config.public) {
    request.peer = NOBODY_REMOTE(connection.remote.address);
    request.credential = 'none';
  } else {
    throw unauthenticated('this request carries no identity: no client certificate, no bearer token');
  }
}

/** Every request is identified before anything else runs; one that cannot be is not served. */
export function identify(app: FastifyInstance, options: IdentityOptions): void {
  app.decorateRequest('peer', null as unknown as Tenant);
  app.decorateRequest('credential', 'none');
  app.decorateRequest('metricsToken', false);
  app.addHook('onRequest', async (request) => identifyRequest(request, options));
}
