// Every error fnjail reports to a person (on the command line or in the log)
// has a code from this registry, documented in docs/errors.md (a test checks
// that the two agree). Errors of an execution go to its output file instead:
// see executor/classify.ts.

export const errorCodes = {
  FNJ_USAGE: 'invalid command line',
  FNJ_NOT_ROOT: 'the command must run as root',
  FNJ_LAUNCHER_MISSING: 'the sandbox launcher is not built',
  FNJ_LAUNCHER_FAILED: 'the sandbox launcher cannot start',
  FNJ_UID_RANGE_IN_USE: 'the sandbox uid range is used by an account, a process, a file or another server',
  FNJ_POLICY_INVALID: 'the policy file is invalid',
  FNJ_POLICY_UNREADABLE: 'the policy file cannot be read',
  FNJ_SOCKET_IN_USE: 'another server is listening on the socket',
  FNJ_SOCKET_FAILED: 'the socket cannot be created',
  FNJ_OUTPUT_DIR_FAILED: 'the output directory cannot be prepared',
  FNJ_LOG_FAILED: 'a log or audit file cannot be opened',
  FNJ_METRICS_FAILED: 'the metrics listener cannot start',
  FNJ_TLS_FAILED: 'the TLS certificate, key or CA cannot be used',
  FNJ_CONFIG_INVALID: 'the config file is invalid',
  FNJ_CONFIG_UNREADABLE: 'the config file cannot be read',
  FNJ_CONNECT_FAILED: 'the client cannot reach the server',
  FNJ_NO_REPLY: 'the server closed the connection without a reply',
  FNJ_REPLY_REFUSED: 'the reply names a file the CLI will not print',
  FNJ_SERVER_UNTRUSTED: 'a root client refuses a server that is not root',
  FNJ_MANIFEST_INVALID: 'the function manifest fnjail.json is invalid',
  FNJ_BUNDLE_INVALID: 'the bundle is not a readable .tar.gz or directory',
  FNJ_BUNDLE_UNSAFE: 'the bundle holds an entry that could write or point outside it',
  FNJ_BUNDLE_TOO_LARGE: 'the bundle is over a size or entry-count limit',
  FNJ_BUNDLE_CORRUPT: 'a stored bundle does not match its content hash',
  FNJ_FUNCTION_NOT_FOUND: 'no function of that name is registered',
  FNJ_FUNCTION_CONFLICT: 'the function changed or belongs to another owner',
  FNJ_QUOTA_EXCEEDED: "the owner's function count or size quota is exceeded",
  FNJ_DENIED: 'the policy does not allow this',
  FNJ_REGISTRY_UNAVAILABLE: 'the function registry is not available',
  FNJ_BUILD_FAILED: "the bundle's build failed",
  FNJ_SERVER_BUSY: 'the server is busy: no sandbox free for this now, or as many clients connected as it takes',
  FNJ_EXPOSE_FAILED: 'a function cannot be served on its TCP port (--expose)',
  FNJ_INPUT_TOO_LARGE: 'the request body is larger than the server accepts',
  FNJ_STATE_DIR_UNSAFE: 'a state directory is not owned by root or is writable by others',
  FNJ_NATS_FAILED: 'the private nats-server cannot start',
  FNJ_NATS_INSECURE: 'plain NATS (without TLS) is refused for this address',
  FNJ_NATS_UNREACHABLE: 'the NATS system cannot be reached',
  FNJ_JOB_NOT_FOUND: 'no job of yours has that ticket',
  FNJ_JOB_NOT_DONE: 'the job or its replica has not ended yet',
  FNJ_JOBS_FULL: "the job queue is full, for the tenant or for every one",
  FNJ_JOBS_UNAVAILABLE: 'the job queue is not available',
  FNJ_BAD_REPLY: "the server's reply cannot be read",
  FNJ_OUTPUT_UNREADABLE: 'the output of the call cannot be read',
  FNJ_OUTPUT_TRUNCATED: 'the output is larger than a reply carries',
  FNJ_TLS_EXISTS: 'a certificate or key to make exists already',
  FNJ_INSTALL_FAILED: 'fnjail install cannot write a file',
  FNJ_UNAUTHENTICATED: 'the HTTP request carries no identity the server accepts',
  FNJ_NO_ROUTE: 'the HTTP API has no such route',
  FNJ_METHOD_NOT_ALLOWED: 'the HTTP API route does not take that method',
  FNJ_REQUEST_TIMEOUT: 'the HTTP request did not arrive in time',
  FNJ_INTERNAL: 'an unexpected error in fnjail itself',
  FNJ_CLUSTER_FILES_EXIST: 'a directory that fnjail cluster config would write exists already',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class FnjailError extends Error {
  readonly code: ErrorCode;
  /** What the person can do about it, when there is something. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'FnjailError';
    this.code = code;
    this.hint = hint;
  }

  /** For a terminal: "fnjail: <message> [CODE]", the message's further lines
   * (a list of problems) indented below it, then the hint. */
  format(): string {
    const [first, ...details] = this.message.split('\n');
    return [`fnjail: ${first} [${this.code}]`, ...details.map((line) => `  ${line}`), ...(this.hint ? [`  hint: ${this.hint}`] : [])].join('\n');
  }
}
