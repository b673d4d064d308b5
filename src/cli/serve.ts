// fnjail serve: run the server in the foreground, with the settings of the
// config file and the flags over them (config/serve-options.ts).
//
// Startup is in two steps, for the clients that connect right after the
// server was started (the classic checker connects 0.25 s later): this module
// reads the settings and binds the UNIX socket with as little loaded as
// possible; serve-server.ts, imported after, loads and starts the rest
// (policy, logs, launcher, TCP, metrics) and then takes over the connections
// that arrived meanwhile (server/early-listener.ts). bench/startup.ts measures both.
import { DURATION_EXAMPLES } from '../config/duration.js';
import { loadConfig } from '../config/config-file.js';
import { parseListenAddress } from '../config/listen-address.js';
import { BadValue, flagOf, optionsHelp, parseArgsOptions, readOption, SERVE_OPTIONS, type OptionName, type ServeValues } from '../config/serve-options.js';
import { serveSettings, SettingsConflict, type ServeSettings } from '../config/serve-settings.js';
import { SIZE_EXAMPLES } from '../config/size.js';
import { FnjailError } from '../errors.js';
import { EarlyListener } from '../server/early-listener.js';
import { parse, usageError } from './args.js';

export const SERVE_HELP = `usage: fnjail serve [--config FILE | --no-config] [options]

Runs the fnjail server in the foreground: tenants connect to its UNIX socket (or
over TCP with TLS) and send "<libname> [<funcname> [<filename>]]", or a JSON
request; each call runs in a fresh sandbox and the reply is the path of a file
holding what the function printed. Must run as root.

Logs JSON lines on stdout, one audit record per request among them
(docs/monitoring.md). Stops on SIGTERM or SIGINT, answering the calls it
accepted; SIGHUP reopens the log files (logrotate) and reloads the policy.
Under systemd (Type=notify) it reports ready once it serves (fnjail install).

Every option can be set in the config file too, under its name in camel case
(--max-concurrent: "maxConcurrent", --allow-dir: "allowDirs"); a flag wins over
the file. The file is --config FILE, else $FNJAIL_CONFIG, else
/etc/fnjail/config.json if it exists; --no-config reads none.
Durations: ${DURATION_EXAMPLES}: a bare number is seconds.
Sizes, with their unit (1024-based): ${SIZE_EXAMPLES}.

options:
${optionsHelp([{ left: '--no-config', right: 'read no config file (not even $FNJAIL_CONFIG)' }])}
`;

/** The flags given, read as the table says; a bad value is a usage error naming its flag. */
function readFlags(values: Record<string, unknown>): ServeValues {
  const flags: Record<string, unknown> = {};
  for (const name of Object.keys(SERVE_OPTIONS) as OptionName[]) {
    const value = values[flagOf(name).slice(2)];
    if (value === undefined) continue;
    try {
      flags[name] = readOption(name, value);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      throw usageError('serve', `${flagOf(name)} ${error.message}`);
    }
  }
  return flags as ServeValues;
}

export async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse('serve', args, { ...parseArgsOptions(), 'no-config': { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length) throw usageError('serve', `unexpected argument '${positionals[0]}'`);
  const flags = readFlags(values);
  if (flags.config !== undefined && values['no-config']) throw usageError('serve', '--config and --no-config exclude each other');
  const config = loadConfig({ config: flags.config, noConfig: values['no-config'] === true });
  let settings: ServeSettings;
  try {
    settings = serveSettings(config.values, flags);
  } catch (error) {
    if (error instanceof SettingsConflict) throw usageError('serve', error.message);
    throw error;
  }
  let metricsAddress: { host: string; port: number } | undefined;
  if (settings.metrics !== undefined) {
    try {
      metricsAddress = parseListenAddress(settings.metrics, 'metrics');
    } catch (error) {
      throw usageError('serve', `--metrics: ${(error as Error).message}`);
    }
  }
  if (process.getuid?.() !== 0) {
    throw new FnjailError('FNJ_NOT_ROOT', 'the server must run as root (it creates namespaces and switches uids)', 'run it as root: sudo fnjail serve, or systemctl start fnjail');
  }

  const early = await EarlyListener.listen({ path: settings.socket, mode: settings.socketMode, owner: settings.socketOwner, group: settings.socketGroup, maxHeld: settings.maxClients });
  // The API socket right after, held the same way until the HTTP API is loaded.
  let api: EarlyListener | undefined;
  try {
    api = settings.httpSocket === undefined ? undefined : await EarlyListener.listen({ path: settings.httpSocket, mode: settings.socketMode, owner: settings.socketOwner, group: settings.socketGroup, maxHeld: settings.maxClients });
  } catch (error) {
    early.abandon();
    throw error;
  }
  // Until the server has its own handlers: a stop request leaves no socket file behind.
  const stopEarly = () => {
    early.abandon();
    api?.abandon();
    process.exit(0);
  };
  process.once('SIGTERM', stopEarly);
  process.once('SIGINT', stopEarly);
  try {
    const { runServer } = await import('./serve-server.js');
    process.off('SIGTERM', stopEarly);
    process.off('SIGINT', stopEarly);
    await runServer({ settings, configFile: config.file, metricsAddress, early, api });
  } catch (error) {
    early.abandon();
    api?.abandon();
    throw error;
  }
  return -1; // runs until a signal
}
