// A client of fnjail's HTTP API, in TypeScript: what the CLI's platform
// commands (deploy, functions, call) are built on, so that they cannot say
// something the API does not, and the package's library (`import { Client }
// from 'fnjail'`). It reaches the API socket (HTTP over a UNIX socket, where
// the server knows the caller by its uid) or a server's --http address:
// https with a client certificate or a bearer token, or plain http on
// loopback (a server run with --insecure). Errors are FnjailErrors with the code the server's problem+json
// carries (docs/errors.md); a call that ran and failed is not an error but a
// result with its outcome, Reason lines and partial output.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { FnjailError, errorCodes, type ErrorCode } from '../errors.js';
import type { OutcomeKind } from '../executor/classify.js';
import type { FunctionRecord } from '../functions/registry.js';
import type { Problem } from '../http/problem.js';
import type { JobView } from '../jobs/job-view.js';
import { peerCredentials } from '../server/peer-credentials.js';
import type { MemberRow } from '../cluster/member-table.js';

/** Where the server is: its API socket, or its URL (fnjail serve --http). */
export type ClientOptions =
  | {
      /** The API socket (fnjail serve --http-socket): the server knows the caller by its uid. */
      socketPath: string;
    }
  | {
      /** https://HOST:PORT (or http:// for a server on loopback run with --insecure). */
      url: string;
      /** A bearer token of a tenant (fnjail token new). */
      token?: string;
      /** TLS: the CA of the server's certificate, and a client certificate and its key (PEM). */
      tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
    };

export type RunResult =
  /** output: the response body, streamed: read it (or it holds the connection). */
  | { ok: true; outcome: 'ok'; request: string; durationMs: number; output: Readable }
  | { ok: false; outcome: OutcomeKind; request: string; durationMs: number; problem: Problem };

export interface DeployReply {
  created: boolean;
  unchanged: boolean;
  function: FunctionRecord;
}

export interface StatusReply {
  status: 'ready' | 'not ready';
  node: string;
  version: string;
  running?: number;
  queued?: number;
  registry: { state: string; reason?: string; nats?: string; privateServerPid?: number; privateServerRestarts?: number };
}

export interface JobSubmit {
  /** A registered function (and a library's function), or a bundle (.tar.gz bytes) run with make run. */
  name?: string;
  function?: string;
  bundle?: Buffer;
  input?: Buffer;
  replicas?: number;
  timeoutMs?: number;
}

export interface JobOutput {
  state: string;
  outcome: string;
  /** The output, streamed: read it (or it holds the connection). */
  output: Readable;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

const runsAsRoot = () => process.geteuid?.() === 0;

export interface ClusterReply {
  node: string;
  /** Whether the server is in a cluster (fnjail serve --nats URL). */
  joined: boolean;
  incarnation?: string;
  balance?: string;
  rejectedMessages?: number;
  members: MemberRow[];
}

/** How requests reach the server: its transport, and the headers every request carries. */
interface Endpoint {
  /** For messages: the socket path or the URL. */
  name: string;
  send: typeof http.request;
  base: http.RequestOptions;
  headers: http.OutgoingHttpHeaders;
  /** Over the API socket: the server's uid is checked (see request). */
  local: boolean;
}

function endpointOf(options: ClientOptions): Endpoint {
  // Connections are kept open between requests (keep-alive), over the socket as over TCP: each new one costs
  // both sides a connect and an identity check. An idle one does not keep the process alive.
  if ('socketPath' in options) return { name: options.socketPath, send: http.request, base: { socketPath: options.socketPath, agent: new http.Agent({ keepAlive: true }) }, headers: {}, local: true };
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new FnjailError('FNJ_USAGE', `'${options.url}' is not a URL`, 'give https://HOST:PORT (or http://127.0.0.1:PORT for a server run with --insecure)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new FnjailError('FNJ_USAGE', `'${options.url}' is not an http or https URL`);
  const secure = url.protocol === 'https:';
  if (options.tls && !secure) throw new FnjailError('FNJ_USAGE', `TLS options are for an https URL, not '${options.url}'`);
  const agent = secure ? new https.Agent({ keepAlive: true, ...options.tls }) : new http.Agent({ keepAlive: true });
  const base: http.RequestOptions = { protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port || (secure ? 443 : 80), agent };
  return {
    name: url.origin,
    send: (secure ? https.request : http.request) as typeof http.request,
    base,
    headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
    local: false,
  };
}

export class Client {
  private readonly endpoint: Endpoint;

  constructor(options: ClientOptions) {
    this.endpoint = endpointOf(options);
  }

  /** Closes the connections kept open; the client may still be used. */
  close(): void {
    const { agent } = this.endpoint.base;
    if (agent instanceof http.Agent) agent.destroy();
  }

  /** Calls a registered function; input is its input (a library function's input file), none if undefined. */
  async run(name: string, call: { function?: string; input?: Buffer | Readable } = {}): Promise<RunResult> {
    const query = call.function === undefined ? '' : `?function=${encodeURIComponent(call.function)}`;
    const response = await this.request('POST', `/run/${encodeURIComponent(name)}${query}`, call.input, 'application/octet-stream');
    const request = String(response.headers['x-fnjail-request'] ?? '');
    const durationMs = Number(response.headers['x-fnjail-duration-ms'] ?? 0);
    if (response.status === 200) return { ok: true, outcome: 'ok', request, durationMs, output: response.body };
    const problem = await readProblem(response);
    if (problem.outcome === 'error') throw problemError(problem);
    return { ok: false, outcome: problem.outcome, request, durationMs, problem };
  }

  /** Deploys a bundle (.tar.gz bytes) as `name`. */
  deploy(name: string, archive: Buffer): Promise<DeployReply> {
    return this.json<DeployReply>('PUT', `/registry/${encodeURIComponent(name)}`, archive, 'application/gzip');
  }

  async functions(): Promise<FunctionRecord[]> {
    return (await this.json<{ functions: FunctionRecord[] }>('GET', '/registry')).functions;
  }

  show(name: string): Promise<FunctionRecord> {
    return this.json<FunctionRecord>('GET', `/registry/${encodeURIComponent(name)}`);
  }

  async remove(name: string): Promise<FunctionRecord> {
    return (await this.json<{ removed: FunctionRecord }>('DELETE', `/registry/${encodeURIComponent(name)}`)).removed;
  }

  /** The live statistics, as fnjail stats --json shows them (root and the policy's monitors). */
  stats(): Promise<Record<string, unknown>> {
    return this.json<Record<string, unknown>>('GET', '/stats');
  }

  /** The server's status; a server that is not ready answers too (status 'not ready'). */
  async status(): Promise<StatusReply> {
    const response = await this.request('GET', '/status');
    if (response.status !== 200 && response.status !== 503) throw problemError(await readProblem(response));
    return JSON.parse(await text(response.body)) as StatusReply;
  }

  /** The cluster's member table as the server sees it (GET /cluster). */
  cluster(): Promise<ClusterReply> {
    return this.json<ClusterReply>('GET', '/cluster');
  }

  /** Submits a job: its ticket and state (WAITING), at once. */
  submitJob(job: JobSubmit): Promise<JobView> {
    const query = new URLSearchParams();
    if (job.bundle) query.set('bundle', 'true');
    if (job.name !== undefined) query.set('name', job.name);
    if (job.function !== undefined) query.set('function', job.function);
    if (job.replicas !== undefined) query.set('replicas', String(job.replicas));
    if (job.timeoutMs !== undefined) query.set('timeoutMs', String(job.timeoutMs));
    return this.json<JobView>('POST', `/jobs?${query}`, job.bundle ?? job.input, job.bundle ? 'application/gzip' : 'application/octet-stream');
  }

  /** A job; with waitMs, once it has ended or after waitMs (at most 50 s a request). */
  job(ticket: string, waitMs = 0): Promise<JobView> {
    return this.json<JobView>('GET', `/jobs/${encodeURIComponent(ticket)}${waitMs > 0 ? `?wait=${Math.floor(waitMs)}` : ''}`);
  }

  async jobs(all = false): Promise<JobView[]> {
    return (await this.json<{ jobs: JobView[] }>('GET', `/jobs${all ? '?all=true' : ''}`)).jobs;
  }

  async jobOutput(ticket: string, replica: number): Promise<JobOutput> {
    const response = await this.request('GET', `/jobs/${encodeURIComponent(ticket)}/output?replica=${replica}`);
    if (response.status >= 400) throw problemError(await readProblem(response));
    return { state: String(response.headers['x-fnjail-job-state'] ?? ''), outcome: String(response.headers['x-fnjail-outcome'] ?? ''), output: response.body };
  }

  cancelJob(ticket: string): Promise<{ cancelled: boolean; job: JobView }> {
    return this.json('POST', `/jobs/${encodeURIComponent(ticket)}/cancel`);
  }

  async closeJob(ticket: string): Promise<JobView> {
    return (await this.json<{ closed: JobView }>('DELETE', `/jobs/${encodeURIComponent(ticket)}`)).closed;
  }

  private async json<T>(method: string, path: string, body?: Buffer, type?: string): Promise<T> {
    const response = await this.request(method, path, body, type);
    if (response.status >= 400) throw problemError(await readProblem(response));
    return JSON.parse(await text(response.body)) as T;
  }

  private request(method: string, path: string, body?: Buffer | Readable, type?: string): Promise<Response> {
    const { name, send, base, local } = this.endpoint;
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { ...this.endpoint.headers, ...(body === undefined ? {} : { 'content-type': type ?? 'application/octet-stream' }) };
      if (Buffer.isBuffer(body)) headers['content-length'] = body.length;
      const request = send({ ...base, method, path, headers }, (response) => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response }));
      request.on('error', (error: NodeJS.ErrnoException) => reject(error instanceof FnjailError ? error : unreachable(name, local, error)));
      // A client running as root talks only to a server running as root: whoever listens on the socket could answer anything.
      if (local) {
        request.on('socket', (socket) => {
          if (!socket.connecting) return; // a kept-open connection, checked as it opened
          socket.once('connect', () => {
            if (!runsAsRoot()) return;
            const { uid } = peerCredentials(socket);
            if (uid !== 0) request.destroy(new FnjailError('FNJ_SERVER_UNTRUSTED', `the server on ${name} runs as uid ${uid}, not root: refused, as this client runs as root`, 'check --api-socket or FNJAIL_API_SOCKET'));
          });
        });
      }
      if (body === undefined) request.end();
      else if (Buffer.isBuffer(body)) request.end(body);
      else body.pipe(request);
    });
  }
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readProblem(response: Response): Promise<Problem> {
  const body = await text(response.body);
  try {
    const problem = JSON.parse(body) as Problem;
    if (typeof problem.outcome === 'string' && Array.isArray(problem.reasons)) return problem;
  } catch {
    // not problem+json: said below
  }
  throw new FnjailError('FNJ_BAD_REPLY', `the server answered ${response.status} without problem details: ${body.slice(0, 200)}`, 'is it an fnjail server, and as recent as this client? compare fnjail version');
}

function problemError(problem: Problem): FnjailError {
  const code: ErrorCode = problem.code && Object.hasOwn(errorCodes, problem.code) ? problem.code : 'FNJ_INTERNAL';
  return new FnjailError(code, problem.detail, problem.hint);
}

function unreachable(name: string, local: boolean, error: NodeJS.ErrnoException): FnjailError {
  const tlsProblem = /certificate|CERT|SSL|TLS|alert/i.test(`${error.code ?? ''} ${error.message}`);
  const hint =
    (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') && local ? 'is the server running, with its API socket (fnjail serve --http-socket)? --api-socket or FNJAIL_API_SOCKET names another'
    : error.code === 'ECONNREFUSED' ? 'is the server running with --http on that address? --url or FNJAIL_URL names another'
    : error.code === 'EACCES' ? 'the socket exists but you may not connect to it: ask the admin about its mode'
    : tlsProblem ? "the TLS handshake failed: --tls-ca must be the CA of the server's certificate, issued for the host in the URL; a client certificate must come from the server's --tls-ca"
    : undefined;
  return new FnjailError('FNJ_CONNECT_FAILED', `cannot reach the fnjail API at ${name}: ${error.message}`, hint);
}
