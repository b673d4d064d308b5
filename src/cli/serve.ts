// fnjail serve: run the server in the foreground, with the settings of the
// config file and the flags over them (config/serve-options.ts).
import fs from 'node:fs';
import { AuditLog } from '../audit/audit-log.js';
import { DEFAULT_CONFIG_FILE, readConfigFile } from '../config/config-file.js';
import { InvalidJsonFile } from '../config/json-file.js';
import { parseListenAddress } from '../config/listen-address.js';
import { BadValue, flagOf, optionsHelp, parseArgsOptions, readOption, SERVE_OPTIONS, type OptionName, type ServeValues } from '../config/serve-options.js';
import { serveSettings, SettingsConflict, type ServeSettings } from '../config/serve-settings.js';
import { FnjailError } from '../errors.js';
import { createLog } from '../log.js';
import { MetricsListener } from '../metrics/metrics-listener.js';
import { readMetricsToken } from '../metrics/metrics-token.js';
import { renderMetrics } from '../metrics/prometheus.js';
import { fnjailVersion, launcherBinary } from '../paths.js';
import { FnjailServer } from '../server/server.js';
import { parse, seccompOption, usageError } from './args.js';

export const SERVE_HELP = `usage: fnjail serve [--config FILE] [options]

Runs the fnjail server in the foreground: tenants connect to its UNIX socket (or
over TCP with TLS) and send "<libname> [<funcname> [<filename>]]", or a JSON
request; each call runs in a fresh sandbox and the reply is the path of a file
holding what the function printed. Must run as root.

Logs JSON lines on stdout, one audit record per request among them
(docs/monitoring.md). Stops on SIGTERM or SIGINT, answering the calls it
accepted; SIGHUP reopens the log files (logrotate) and reloads the policy.

Every option can be set in the config file too, under its name in camel case
(--max-concurrent: "maxConcurrent", --allow-dir: "allowDirs"); a flag wins over
the file. Durations: 500ms, 90s, 15m, 12h, 7d. Sizes: 4096, "512 KiB", "10 GiB".

options:
${optionsHelp()}
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

/** The config file's settings: --config's, else the default file if there is one. */
function readConfig(explicit: string | undefined): { file: string | undefined; values: ServeValues } {
  const file = explicit ?? (fs.existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) return { file, values: {} };
  try {
    return { file, values: readConfigFile(file) };
  } catch (error) {
    if (error instanceof InvalidJsonFile) {
      throw new FnjailError('FNJ_CONFIG_INVALID', `invalid config file:\n${error.message}`, 'fix it (policies/config.schema.json says what each key takes), then start again');
    }
    throw new FnjailError('FNJ_CONFIG_UNREADABLE', `cannot read the config file ${file}: ${(error as Error).message}`);
  }
}

export async function serve(args: string[]): Promise<void> {
  const { values, positionals } = parse('serve', args, { ...parseArgsOptions(), help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (positionals.length) throw usageError('serve', `unexpected argument '${positionals[0]}'`);
  const flags = readFlags(values);
  const config = readConfig(flags.config);
  let settings: ServeSettings;
  try {
    settings = serveSettings(config.values, flags);
  } catch (error) {
    if (error instanceof SettingsConflict) throw usageError('serve', error.message);
    throw error;
  }
  seccompOption('serve', settings.seccomp);
  let metricsAddress: { host: string; port: number } | undefined;
  if (settings.metrics !== undefined) {
    try {
      metricsAddress = parseListenAddress(settings.metrics, 'metrics');
    } catch (error) {
      throw usageError('serve', `--metrics: ${(error as Error).message}`);
    }
  }

  const opening = <T>(what: string, open: () => T): T => {
    try {
      return open();
    } catch (error) {
      throw new FnjailError('FNJ_LOG_FAILED', `cannot open the ${what}: ${(error as Error).message}`);
    }
  };
  const log = opening('log', () => createLog({ file: settings.logFile, level: settings.logLevel, format: settings.logFormat, redact: settings.redact }));
  const { logger } = log;
  const audit = opening('audit log', () => new AuditLog(log, { file: settings.auditLog, fsync: settings.auditFsync, redact: settings.redact }));
  const server = new FnjailServer({ settings, launcherBinary, logger, log, audit });
  const version = fnjailVersion();
  const token = settings.metricsToken === undefined ? undefined : readMetricsToken(settings.metricsToken);
  const metrics =
    metricsAddress && new MetricsListener({ ...metricsAddress, logger, token, render: (detailed) => renderMetrics(server.stats, { ...server.metricsContext(), version }, detailed) });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing running calls');
    Promise.all([server.stop(), metrics?.stop()]).then(
      () => {
        const { uptimeSeconds, executions } = server.snapshot();
        audit.lifecycle('server-stop', { signal, uptimeSeconds, executions: executions.total }, 'stopped');
        process.exit(0);
      },
      (error) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.reopen();
    audit.reopen();
    server.policies.reload();
    logger.info('SIGHUP: log files reopened, policy reloaded');
  });
  // Before the socket: a metrics port that is taken stops the start before tenants can connect.
  const metricsBound = await metrics?.start().catch((error: Error) => {
    throw new FnjailError('FNJ_METRICS_FAILED', error.message, 'choose another port with --metrics, or stop what listens there');
  });
  await server.start();
  audit.lifecycle(
    'server-start',
    {
      version,
      config: config.file ?? null,
      socket: settings.socket,
      listen: server.tcpAddresses,
      tls: settings.tls !== undefined,
      policy: settings.policy,
      policyHash: server.policies.current.hash,
      outputDir: settings.outputDir,
      compat: settings.compat ?? 'none',
      uidRange: settings.uidRange,
      maxClients: settings.maxClients,
      maxConcurrent: settings.maxConcurrent,
      queueLength: settings.queueLength,
      retention: settings.retention ?? null,
      auditLog: settings.auditLog ?? null,
      metrics: metricsBound ? `http://${metricsBound.host.includes(':') ? `[${metricsBound.host}]` : metricsBound.host}:${metricsBound.port}/metrics` : null,
    },
    `fnjail listening on ${[settings.socket, ...server.tcpAddresses].join(', ')}; try: npx fnjail run --cat /opt/fnlib/libbasic.so`,
  );
}
