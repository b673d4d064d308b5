// fnjail dashboard: opens the dashboard to a browser on this host (or at the
// end of an SSH tunnel) through a loopback listener that passes its requests
// to the API socket as the user running it (src/dashboard/local-proxy.ts).
import net from 'node:net';
import { defaultApiSocket } from '../config/defaults.js';
import { startLocalProxy } from '../dashboard/local-proxy.js';
import { parse, parseInteger, usageError } from './args.js';

export const DASHBOARD_HELP = `usage: fnjail dashboard [--port N] [--host ADDRESS] [--api-socket PATH]

Serves the dashboard (docs/dashboard.md) on a loopback address for a browser
on this host, through the server's API socket: the server sees you (your
uid), so you must be root or one of the policy's monitors. Prints the address
to open; it carries a key, so other users of this host cannot use the
listener. Runs until Ctrl-C. From another machine: ssh -L 8080:127.0.0.1:8080
HOST fnjail dashboard --port 8080, then open the printed address there.

options:
  --port N             the port (default: any free one)
  --host ADDRESS       a loopback address (default 127.0.0.1)
  --api-socket PATH    the server's API socket (default: $FNJAIL_API_SOCKET, else /run/fnjail/api.sock)
  --help               this text
`;

export async function dashboardCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('dashboard', args, {
    port: { type: 'string' },
    host: { type: 'string' },
    'api-socket': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(DASHBOARD_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError('dashboard', `unexpected argument '${positionals[0]}'`);
  const host = values.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw usageError('dashboard', `--host ${host} is not a loopback address: the listener passes on your right to see the dashboard, so it stays on this host (use an SSH tunnel from elsewhere)`);
  const port = values.port === undefined ? 0 : parseInteger('dashboard', 'port', values.port, 0, 65535);
  const proxy = await startLocalProxy({ host, port, apiSocket: values['api-socket'] ?? defaultApiSocket() });
  process.stdout.write(`fnjail dashboard: open ${proxy.url}\n`);
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}
