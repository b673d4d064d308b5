// Listen addresses as flags and config files write them (--listen,
// --metrics): PORT (on loopback), HOST:PORT, [IPV6]:PORT; and whether an
// address is reachable from this machine only.
import net from 'node:net';

/** Where a bare PORT listens: loopback, unless an admin says otherwise. */
export const DEFAULT_HOST = '127.0.0.1';

/**
 * "9464" (on 127.0.0.1), "127.0.0.1:9464", "[::1]:9464", "localhost:9464",
 * "0.0.0.0:9464". Port 0 asks for any free port (tests).
 */
export function parseListenAddress(text: string, what = 'listen'): { host: string; port: number } {
  const value = text.trim();
  // A declaration with `never`: TypeScript then narrows after `if (...) fail()`.
  function fail(why: string): never {
    throw new Error(`bad ${what} address "${text}": ${why} (expected PORT, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464)`);
  }
  let host = DEFAULT_HOST;
  let portText = value;
  if (value.startsWith('[')) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(value);
    if (!match) fail('an IPv6 address in brackets must be followed by :PORT');
    host = match[1]!;
    portText = match[2]!;
    if (!net.isIPv6(host)) fail(`"${host}" is not an IPv6 address`);
  } else if (value.includes(':')) {
    const colon = value.lastIndexOf(':');
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(':')) fail('put an IPv6 address in brackets, e.g. [::1]:9464');
    if (host === '') fail('the host is empty');
    // An IPv4 address or a host name (letters, digits, dots, hyphens).
    if (!net.isIPv4(host) && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) fail(`"${host}" is not a host name or an IP address`);
  }
  if (!/^\d{1,5}$/.test(portText)) fail(portText === '' ? 'the port is missing' : `"${portText}" is not a port number`);
  const port = Number(portText);
  if (port > 65535) fail(`port ${port} is above 65535`);
  return { host, port };
}

/** Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === 'localhost.' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^(?:::|0:0:0:0:0:)ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}
