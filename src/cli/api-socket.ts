// How the platform commands (deploy, functions, call) reach the server: its
// API socket (--api-socket PATH, else $FNJAIL_API_SOCKET, else
// /run/fnjail/api.sock; fnjail serve --http-socket), or a server's HTTP API
// over TCP (--url, else $FNJAIL_URL; fnjail serve --http) with a bearer
// token (--token, else $FNJAIL_TOKEN) and/or the TLS client options.
import fs from 'node:fs';
import { defaultApiSocket } from '../config/defaults.js';
import { Client } from '../client/client.js';
import { FnjailError } from '../errors.js';

export const API_OPTIONS = {
  'api-socket': { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
} as const;

export const API_HELP = `  --api-socket PATH    the server's API socket (default: $FNJAIL_API_SOCKET, else /run/fnjail/api.sock)
  --url URL            a server's HTTP API instead (fnjail serve --http): https://HOST:PORT ($FNJAIL_URL)
  --token TOKEN        with --url: a bearer token of your tenant (fnjail token new) ($FNJAIL_TOKEN)
  --tls-cert FILE      with --url: a client certificate, from the server's --tls-ca ($FNJAIL_TLS_CERT)
  --tls-key FILE       its key ($FNJAIL_TLS_KEY)
  --tls-ca FILE        with --url: the CA of the server's certificate ($FNJAIL_TLS_CA)`;

export interface ApiValues {
  'api-socket'?: string | undefined;
  url?: string | undefined;
  token?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'tls-ca'?: string | undefined;
}

export function apiClient(values: ApiValues, env: NodeJS.ProcessEnv = process.env): Client {
  const url = values.url ?? (values['api-socket'] === undefined ? env.FNJAIL_URL : undefined);
  if (url === undefined) {
    if (values.token !== undefined || values['tls-ca'] !== undefined || values['tls-cert'] !== undefined) throw new FnjailError('FNJ_USAGE', '--token and the --tls-* options are for --url', 'give --url https://HOST:PORT');
    return new Client({ socketPath: values['api-socket'] ?? defaultApiSocket() });
  }
  if (values['api-socket'] !== undefined) throw new FnjailError('FNJ_USAGE', '--api-socket and --url exclude each other');
  const token = values.token ?? env.FNJAIL_TOKEN;
  const files = { cert: values['tls-cert'] ?? env.FNJAIL_TLS_CERT, key: values['tls-key'] ?? env.FNJAIL_TLS_KEY, ca: values['tls-ca'] ?? env.FNJAIL_TLS_CA };
  if ((files.cert === undefined) !== (files.key === undefined)) throw new FnjailError('FNJ_USAGE', '--tls-cert and --tls-key go together');
  const read = (file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new FnjailError('FNJ_TLS_FAILED', `cannot read the TLS files: ${(error as Error).message}`, 'check --tls-cert, --tls-key and --tls-ca');
    }
  };
  const tls = url.startsWith('https:') && Object.values(files).some((f) => f !== undefined) ? { ca: read(files.ca), cert: read(files.cert), key: read(files.key) } : undefined;
  return new Client({ url, ...(token !== undefined ? { token } : {}), ...(tls ? { tls } : {}) });
}
