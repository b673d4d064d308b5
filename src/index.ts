// The package's library: `import { Client } from 'fnjail'`, a client of the
// HTTP API (src/client/client.ts), with the error class and codes it throws.
export { Client, type ClientOptions, type DeployReply, type RunResult, type StatusReply } from './client/client.js';
export { FnjailError, errorCodes, type ErrorCode } from './errors.js';
export type { Problem } from './http/problem.js';
export type { FunctionRecord } from './functions/registry.js';
