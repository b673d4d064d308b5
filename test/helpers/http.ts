// A real HTTP client over a UNIX socket (the API socket), from the test
// process itself (root) or as another user: then a node process of its own,
// dropped to that user with setpriv, so that the server sees that user's
// credentials through SO_PEERCRED.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { HANG_GUARD_MS } from './environment.js';
import type { User } from './as-user.js';

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The body as JSON (problem details, registry records). */
  json: <T = Record<string, unknown>>() => T;
}

export interface HttpRequest {
  method: string;
  path: string;
  body?: Buffer | string;
  headers?: Record<string, string>;
  as?: User;
}

/** The client, as a script: the same code runs in this process and as another user. */
const CLIENT = `
const http = require('node:http');
const [socketPath, method, path, headers, hasBody] = JSON.parse(process.argv[1]);
const request = http.request({ socketPath, method, path, headers, agent: false }, (response) => {
  const chunks = [];
  response.on('data', (c) => chunks.push(c));
  response.on('end', () => process.stdout.write(JSON.stringify({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('base64') })));
});
request.on('error', (error) => { process.stderr.write(error.message); process.exit(3); });
if (hasBody) process.stdin.pipe(request);
else request.end();
`;

function reply(raw: { status: number; headers: Record<string, string>; body: string }): HttpReply {
  const body = Buffer.from(raw.body, 'base64');
  return { status: raw.status, headers: raw.headers, body, json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

export function httpRequest(socketPath: string, request: HttpRequest): Promise<HttpReply> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const headers = { ...(body !== undefined ? { 'content-length': String(body.length) } : {}), ...request.headers };
  // The body goes through stdin (an argument is limited to 128 KiB).
  const args = JSON.stringify([socketPath, request.method, request.path, headers, body !== undefined]);
  if (!request.as) {
    return exchange(http.request, { socketPath, headers }, request, body);
  }
  const user = request.as;
  const groups = user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups';
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, groups, process.execPath, '-e', CLIENT, args], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // a server that answers before the whole body is sent
    child.stdin.end(body);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`HTTP client as uid ${user.uid} failed (${code}): ${stderr}`));
      else resolve(reply(JSON.parse(stdout)));
    });
  });
}

/** An HTTP API address of a server (fnjail serve --http), with what a client brings to it. */
export interface HttpTarget {
  host: string;
  port: number;
  /** https, with the server's CA and optionally a client certificate. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

/** The --http addresses a test server bound, from its start line. */
export function httpAddresses(logs: Array<Record<string, unknown>>): Array<{ host: string; port: number }> {
  const start = logs.find((l) => l.event === 'server-start');
  if (!start || !Array.isArray(start.http)) throw new Error('no server-start line with http addresses in the server log');
  return (start.http as string[]).map((a) => {
    const match = /^\[?(.*?)\]?:(\d+)$/.exec(a)!;
    return { host: match[1]!, port: Number(match[2]) };
  });
}

/** A real HTTP client over TCP (https with target.tls), one connection per request. */
export function tcpRequest(target: HttpTarget, request: Omit<HttpRequest, 'as'>): Promise<HttpReply> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const headers = { ...(body !== undefined ? { 'content-length': String(body.length) } : {}), ...request.headers };
  return exchange(target.tls ? https.request : http.request, { host: target.host, port: target.port, headers, ...target.tls }, request, body);
}

/** One request from this process, on a connection of its own, and its whole reply. */
function exchange(send: typeof http.request, options: http.RequestOptions, request: Omit<HttpRequest, 'as'>, body: Buffer | undefined): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const r = send({ ...options, method: request.method, path: request.path, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve(reply({ status: response.statusCode!, headers: response.headers as Record<string, string>, body: Buffer.concat(chunks).toString('base64') })));
    });
    r.on('error', reject);
    r.setTimeout(HANG_GUARD_MS, () => r.destroy(new Error(`no reply to ${request.method} ${request.path}`)));
    r.end(body);
  });
}
