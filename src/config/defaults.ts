// Defaults shared by the server, the CLI and the C client library
// (clients/c/ipc.h holds the same socket path).
import fs from 'node:fs';
import { shippedPolicy } from '../paths.js';

export const DEFAULT_SOCKET = '/run/fnjail/fnjail.sock';
export const DEFAULT_API_SOCKET = '/run/fnjail/api.sock';
/** The server's state (unpacked functions, spooled request bodies, the private nats-server). */
export const DEFAULT_STATE_DIR = '/var/lib/fnjail';
/** The largest function input (a request body) over HTTP. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_OUTPUT_DIR = '/var/lib/fnjail/output';
export const DEFAULT_OUTPUT_TEMPLATE = 'out-XXXXXX';
/** The admin's policy (a directory of files, or one file) if present, else the one shipped with fnjail. */
export const DEFAULT_POLICY_FILES = ['/etc/fnjail/policy.d', '/etc/fnjail/policy.json', shippedPolicy];

export const DEFAULT_UID_RANGE = { first: 1_000_000, last: 1_065_535 };
export const DEFAULT_MAX_CONCURRENT = 64;
export const DEFAULT_MAX_CLIENTS = 4096;
export const DEFAULT_QUEUE_LENGTH = 4096;
export const DEFAULT_PREPARED = 2;
/** A peer's budget of requests refused before they run (server/request-budget.ts):
 * room for the classic checker's burst (250 requests for a missing library)
 * four times over, refilled about as fast as this machine runs calls (~250 a
 * second), so that refused requests make files and records no faster than
 * calls that run would. */
export const DEFAULT_REFUSED_BURST = 1024;
export const DEFAULT_REFUSED_PER_SECOND = 256;
/** Connections at once to one exposed function (--expose), and from one client address. */
export const DEFAULT_EXPOSE_MAX_CONNECTIONS = 64;
export const DEFAULT_EXPOSE_MAX_PER_CLIENT = 8;
export const DEFAULT_EXPOSE_IDLE_MS = 60_000;
export const DEFAULT_SANDBOX_REUSE = 64;
/** Job replicas waiting or running: in the whole queue, and of one tenant (docs/jobs.md). */
export const DEFAULT_JOB_QUEUE_LENGTH = 10_000;
export const DEFAULT_JOB_QUEUE_PER_TENANT = 1000;
/** The quiet window ending a message without a newline (docs/protocol.md: its cost, measured). */
export const DEFAULT_CLASSIC_WAIT_MS = 10;

/** FNJAIL_SOCKET overrides the default socket for the server, the CLI and the C library alike. */
export function defaultSocket(): string {
  return process.env.FNJAIL_SOCKET || DEFAULT_SOCKET;
}

/** FNJAIL_API_SOCKET overrides the default API socket for the server and the CLI alike. */
export function defaultApiSocket(): string {
  return process.env.FNJAIL_API_SOCKET || DEFAULT_API_SOCKET;
}

export function defaultPolicyPath(): string {
  return DEFAULT_POLICY_FILES.find((f) => fs.existsSync(f)) ?? shippedPolicy;
}
