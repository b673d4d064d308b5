// fnjail serve: run the server in the foreground.
import {
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_OUTPUT_DIR,
  DEFAULT_OUTPUT_TEMPLATE,
  DEFAULT_PREPARED,
  DEFAULT_SANDBOX_REUSE,
  DEFAULT_SOCKET,
  DEFAULT_UID_RANGE,
  defaultPolicyPath,
  defaultSocket,
} from '../config/defaults.js';
import { FnjailError } from '../errors.js';
import { AuditLog } from '../audit/audit-log.js';
import { createLog, type LogFormat } from '../log.js';
import { MetricsListener, parseListenAddress } from '../metrics/metrics-listener.js';
import { renderMetrics } from '../metrics/prometheus.js';
import { fnjailVersion, launcherBinary } from '../paths.js';
import { FnjailServer } from '../server/server.js';
import { parse, parseInteger, seccompOption, usageError } from './args.js';

export const SERVE_HELP = `usage: fnjail serve [options]

Runs the fnjail server in the foreground: tenants connect to its UNIX socket and
send "<libname> [<funcname> [<filename>]]"; each call runs in a fresh sandbox and
the reply is the path of a file holding what the function printed.
Must run as root. Logs JSON lines on stdout, one audit record per request
among them (docs/monitoring.md). Stops on SIGTERM or SIGINT, answering the
calls it accepted; SIGHUP reopens the log files (logrotate) and reloads the policy.

options:
  --socket PATH          UNIX socket to listen on (default: $FNJAIL_SOCKET, else
                         ${DEFAULT_SOCKET}); mode 0666: the policy decides
                         what each connecting user may run
  --output-dir DIR       where output files are created (default ${DEFAULT_OUTPUT_DIR});
                         made root-owned 0711: tenants open their own files, list nothing
  --policy PATH          the policy: a file, or a directory of *.json files
                         (docs/policy.md); default: the first that exists of
                         /etc/fnjail/policy.d, /etc/fnjail/policy.json, the shipped
                         policies/default-policy.json. Reloaded when it changes
  --allow-dir DIR        a directory whose libraries and input files every tenant may
                         use, on top of the policy (repeatable)
  --compat classic       byte-exact classic error files: "Error: <command> could not
                         be executed." alone when the function did not run, nothing
                         added when it did
  --uid-range FIRST-LAST uids/gids given to sandboxes (default ${DEFAULT_UID_RANGE.first}-${DEFAULT_UID_RANGE.last})
  --max-concurrent N     calls running at once; more wait in line (default ${DEFAULT_MAX_CONCURRENT})
  --prepared N           sandboxes kept prepared while idle (default ${DEFAULT_PREPARED})
  --seccomp PROFILE      the seccomp profile of every call, replacing the policy's:
                         default, minimal, learn (allows all, logs what a profile
                         would need), a profile file, or none (no filter)
  --netns MODE           auto (default): one empty network namespace shared by all
                         sandboxes when the seccomp profile refuses socket(), else
                         one per call; fresh: one per call always; shared: never
  --sandbox-reuse N      calls a sandbox serves one after the other, everything reset
                         in between (SECURITY.md), before it is replaced (default
                         ${DEFAULT_SANDBOX_REUSE}; 1: new namespaces for every call, slower)
  --audit-log PATH       the audit log (a record per request, and the server's life
                         events) in a file of its own, appended to, created 0600;
                         default: among the other log lines
  --audit-fsync          fsync the audit log after every record (survives a power
                         loss; costs a disk flush per call)
  --log-file PATH        the other log lines to a file instead of stdout
  --log-level LEVEL      trace, debug, info (default), warn, error or fatal; audit
                         records are written whatever the level
  --log-format FORMAT    json, or pretty for a person at a terminal (default: pretty
                         when stdout is a terminal, else json)
  --metrics [HOST:]PORT  serve Prometheus metrics at http://HOST:PORT/metrics
                         (HOST default 127.0.0.1; anything else is warned about)
  --help                 this text
`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export async function serve(args: string[]): Promise<void> {
  const { values, positionals } = parse('serve', args, {
    socket: { type: 'string' },
    'output-dir': { type: 'string' },
    policy: { type: 'string' },
    'allow-dir': { type: 'string', multiple: true },
    compat: { type: 'string' },
    'uid-range': { type: 'string' },
    'max-concurrent': { type: 'string' },
    prepared: { type: 'string' },
    netns: { type: 'string' },
    seccomp: { type: 'string' },
    'sandbox-reuse': { type: 'string' },
    'audit-log': { type: 'string' },
    'audit-fsync': { type: 'boolean' },
    'log-file': { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
    metrics: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (positionals.length) throw usageError('serve', `unexpected argument '${positionals[0]}'`);
  if (values.compat !== undefined && values.compat !== 'classic') {
    throw usageError('serve', `--compat accepts only 'classic', not '${values.compat}'`);
  }
  if (values.netns !== undefined && !['auto', 'fresh', 'shared'].includes(values.netns)) {
    throw usageError('serve', `--netns accepts auto, fresh or shared, not '${values.netns}'`);
  }
  let uidRange = DEFAULT_UID_RANGE;
  if (values['uid-range'] !== undefined) {
    const match = /^(\d+)-(\d+)$/.exec(values['uid-range']);
    const first = Number(match?.[1]);
    const last = Number(match?.[2]);
    if (!match || first < 1 || last < first || last >= 0xffffffff) {
      throw usageError('serve', `--uid-range must be FIRST-LAST with 0 < FIRST <= LAST, not '${values['uid-range']}'`);
    }
    uidRange = { first, last };
  }
  if (values['log-level'] !== undefined && !LOG_LEVELS.includes(values['log-level'])) {
    throw usageError('serve', `--log-level accepts ${LOG_LEVELS.join(', ')}, not '${values['log-level']}'`);
  }
  if (values['log-format'] !== undefined && values['log-format'] !== 'json' && values['log-format'] !== 'pretty') {
    throw usageError('serve', `--log-format accepts json or pretty, not '${values['log-format']}'`);
  }
  if (values['log-format'] === 'pretty' && values['log-file'] !== undefined) {
    throw usageError('serve', '--log-format pretty is for a terminal; a --log-file gets json');
  }
  if (values['audit-fsync'] && values['audit-log'] === undefined) throw usageError('serve', '--audit-fsync needs --audit-log');
  let metricsAddress: { host: string; port: number } | undefined;
  if (values.metrics !== undefined) {
    try {
      metricsAddress = parseListenAddress(values.metrics);
    } catch (error) {
      throw usageError('serve', `--metrics: ${(error as Error).message}`);
    }
  }
  const policyFile = values.policy ?? defaultPolicyPath();
  const log = createLog({ file: values['log-file'], level: values['log-level'], format: values['log-format'] as LogFormat | undefined });
  const { logger } = log;
  const audit = new AuditLog(log, { file: values['audit-log'], fsync: values['audit-fsync'] });
  const server = new FnjailServer({
    socket: values.socket ?? defaultSocket(),
    socketMode: 0o666,
    outputDir: values['output-dir'] ?? DEFAULT_OUTPUT_DIR,
    outputTemplate: DEFAULT_OUTPUT_TEMPLATE,
    policyFile,
    allowDirs: values['allow-dir'] ?? [],
    compat: values.compat as 'classic' | undefined,
    uidRange,
    maxConcurrent: values['max-concurrent'] ? parseInteger('serve', 'max-concurrent', values['max-concurrent'], 1, 4096) : DEFAULT_MAX_CONCURRENT,
    prepared: values.prepared ? parseInteger('serve', 'prepared', values.prepared, 0, 64) : DEFAULT_PREPARED,
    netns: (values.netns as 'auto' | 'fresh' | 'shared' | undefined) ?? 'auto',
    seccomp: seccompOption('serve', values.seccomp),
    sandboxReuse: values['sandbox-reuse'] ? parseInteger('serve', 'sandbox-reuse', values['sandbox-reuse'], 1, 100000) : DEFAULT_SANDBOX_REUSE,
    launcherBinary,
    logger,
    audit,
  });
  const version = fnjailVersion();
  const metrics =
    metricsAddress &&
    new MetricsListener({
      ...metricsAddress,
      logger,
      render: () => renderMetrics(server.stats, { ...server.metricsContext(), version }),
    });
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
  const socket = values.socket ?? defaultSocket();
  audit.lifecycle(
    'server-start',
    {
      version,
      socket,
      policy: policyFile,
      policyHash: server.policies.current.hash,
      outputDir: values['output-dir'] ?? DEFAULT_OUTPUT_DIR,
      compat: values.compat ?? 'none',
      uidRange,
      auditLog: values['audit-log'] ?? null,
      metrics: metricsBound ? `http://${metricsBound.host.includes(':') ? `[${metricsBound.host}]` : metricsBound.host}:${metricsBound.port}/metrics` : null,
    },
    `fnjail listening on ${socket}; try: npx fnjail run --cat /opt/fnlib/libbasic.so`,
  );
}
