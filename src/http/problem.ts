// How the HTTP API answers what went wrong: application/problem+json (RFC
// 9457) with the call's outcome and its Reason lines, as every front end
// reports them. The two tables here are the only place an outcome or an
// error code becomes an HTTP status: docs/http.md documents them row by row,
// and a test checks every row against a real server.
import type { OutcomeKind } from '../executor/classify.js';
import type { ErrorCode } from '../errors.js';

/** A call's outcome -> the status of its reply. */
export const OUTCOME_STATUS = {
  ok: 200,
  // The function ran and failed: the gateway (fnjail) is fine, what it called is not.
  exit: 502,
  signal: 502,
  limit: 502,
  seccomp: 502,
  'load-error': 502,
  timeout: 504,
  'missing-function': 404,
  denied: 403,
  'bad-request': 400,
  busy: 429,
  'server-error': 500,
} as const satisfies Record<OutcomeKind, number>;

/** An error of a request that is not a call (registry, identity, bad body,
 * routing) -> its status. Codes not listed are 500 (a bug: FNJ_INTERNAL). */
export const ERROR_STATUS = {
  FNJ_USAGE: 400,
  FNJ_BUNDLE_INVALID: 400,
  FNJ_UNAUTHENTICATED: 401,
  FNJ_DENIED: 403,
  FNJ_QUOTA_EXCEEDED: 403,
  FNJ_FUNCTION_NOT_FOUND: 404,
  FNJ_NO_ROUTE: 404,
  FNJ_METHOD_NOT_ALLOWED: 405,
  FNJ_REQUEST_TIMEOUT: 408,
  FNJ_FUNCTION_CONFLICT: 409,
  FNJ_BUNDLE_TOO_LARGE: 413,
  FNJ_INPUT_TOO_LARGE: 413,
  FNJ_MANIFEST_INVALID: 422,
  FNJ_BUNDLE_UNSAFE: 422,
  FNJ_BUILD_FAILED: 422,
  FNJ_SERVER_BUSY: 429,
  FNJ_REGISTRY_UNAVAILABLE: 503,
  FNJ_JOB_NOT_FOUND: 404,
  FNJ_JOB_NOT_DONE: 409,
  FNJ_JOBS_FULL: 429,
  FNJ_JOBS_UNAVAILABLE: 503,
} as const satisfies Partial<Record<ErrorCode, number>>;

/** Headers of every reply. */
export const HEADERS = { request: 'x-fnjail-request', outcome: 'x-fnjail-outcome', duration: 'x-fnjail-duration-ms' } as const;

/** A busy server's reply says when to try again (seconds). */
export const RETRY_AFTER_SECONDS = 1;

export const PROBLEM_TYPE = 'application/problem+json';

export interface Problem {
  /** A URI naming the kind of problem: its outcome, or its error code. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The call's outcome (calls), or "error" for the other requests. */
  outcome: OutcomeKind | 'error';
  /** The Reason lines (without "Reason: "). */
  reasons: string[];
  /** The request id (also in the x-fnjail-request header). */
  request: string;
  /** An error code of docs/errors.md, for requests that are not calls. */
  code?: ErrorCode;
  /** What the person can do about it, when there is something. */
  hint?: string;
  /** What the function printed before it failed (UTF-8), or in base64 when it is not text; at most 1 MiB. */
  output?: string;
  outputBase64?: string;
  outputTruncated?: boolean;
}

export function outcomeStatus(outcome: OutcomeKind): number {
  return OUTCOME_STATUS[outcome];
}

export function errorStatus(code: ErrorCode | undefined): number {
  return (code !== undefined && Object.hasOwn(ERROR_STATUS, code) ? ERROR_STATUS[code as keyof typeof ERROR_STATUS] : undefined) ?? 500;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusTitle(status: number): string {
  return TITLES[status] ?? 'Error';
}

export function problem(status: number, fields: Omit<Problem, 'type' | 'title' | 'status'> & { type?: string }): Problem {
  const type = fields.type ?? (fields.code ? `urn:fnjail:error:${fields.code}` : `urn:fnjail:outcome:${fields.outcome}`);
  return { ...fields, type, title: statusTitle(status), status };
}
