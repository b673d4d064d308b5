// How the platform commands (deploy, functions, call) reach the server: its
// API socket, --api-socket PATH, else $FNJAIL_API_SOCKET, else
// /run/fnjail/api.sock (fnjail serve --http-socket). A remote server (--url,
// tokens, TLS) comes with the HTTP API's next step.
import { defaultApiSocket } from '../config/defaults.js';
import { Client } from '../client/client.js';

export const API_OPTIONS = { 'api-socket': { type: 'string' } } as const;

export const API_HELP = `  --api-socket PATH    the server's API socket (default: $FNJAIL_API_SOCKET, else /run/fnjail/api.sock)`;

export function apiClient(values: { 'api-socket'?: string | undefined }): Client {
  return new Client({ socketPath: values['api-socket'] ?? defaultApiSocket() });
}
