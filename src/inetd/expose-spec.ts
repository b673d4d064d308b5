// What `fnjail serve --expose NAME=HOST:PORT[@TENANT]` (config key "expose")
// says: serve the per-connection program function NAME on a TCP address,
// plain TCP (inetd style: the connection is the program's stdin and stdout),
// its anonymous clients acting as TENANT, or, without one, as the tenant that
// owns the function (docs/functions.md, "Per-connection services").
import { parseListenAddress } from '../config/listen-address.js';
import { FUNCTION_NAME } from '../functions/function-name.js';

export interface ExposeSpec {
  /** The function, resolved through the registry at each connection. */
  name: string;
  host: string;
  /** 0: any free port (tests). */
  port: number;
  /** The policy's tenant its clients act as; undefined: the function's owner. */
  tenant: string | undefined;
  /** As written, for messages. */
  text: string;
}

/** A tenant name as the policy writes one (policy.schema.json #/definitions/name). */
const TENANT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;

/** Throws Error saying what is wrong. */
export function parseExposeSpec(text: string): ExposeSpec {
  const usage = 'expected NAME=HOST:PORT or NAME=HOST:PORT@TENANT, e.g. toupper=127.0.0.1:8888';
  const equals = text.indexOf('=');
  if (equals < 0) throw new Error(`'${text}': ${usage}`);
  const name = text.slice(0, equals);
  if (!FUNCTION_NAME.test(name)) throw new Error(`'${text}': '${name}' is not a function name (lowercase letters, digits and dashes); ${usage}`);
  let address = text.slice(equals + 1);
  let tenant: string | undefined;
  const at = address.lastIndexOf('@');
  if (at >= 0) {
    tenant = address.slice(at + 1);
    address = address.slice(0, at);
    if (!TENANT_NAME.test(tenant)) throw new Error(`'${text}': '${tenant}' is not a tenant name of the policy; ${usage}`);
  }
  if (!address.includes(':')) throw new Error(`'${text}': the address needs a host and a port; ${usage}`);
  const { host, port } = parseListenAddress(address, 'expose');
  return { name, host, port, tenant, text };
}

/** HOST:PORT, an IPv6 host in brackets. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
