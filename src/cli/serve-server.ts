// The second step of fnjail serve (serve.ts binds the socket first): loads the
// server's parts, starts them, hands the early connections over, announces
// the start (audit log, systemd), and stops on SIGTERM or SIGINT.
import { AuditLog } from '../audit/audit-log.js';
import type { ServeSettings } from '../config/serve-settings.js';
import { FnjailError } from '../errors.js';
import type { Logger } from 'pino';
import type { HttpFrontEnd } from '../http/front-end.js';
import { createLog } from '../log.js';
import { MetricsListener } from '../metrics/metrics-listener.js';
import { readMetricsToken } from '../metrics/metrics-token.js';
import { renderMetrics } from '../metrics/prometheus.js';
import { fnjailVersion, launcherBinary } from '../paths.js';
import type { EarlyListener } from '../server/early-listener.js';
import { raisePriority } from '../server/scheduling.js';
import { FnjailServer } from '../server/server.js';
import { Inetd } from '../inetd/inetd.js';
import { RefusalLog } from '../audit/refusal-log.js';
import { seccompOption } from './seccomp-option.js';
import { notifySystemd } from './sd-notify.js';

export interface RunOptions {
  settings: ServeSettings;
  configFile: string | undefined;
  metricsAddress: { host: string; port: number } | undefined;
  early: EarlyListener;
  /** The API socket, bound already; undefined: --http-socket off. */
  api: EarlyListener | undefined;
}

export async function runServer({ settings, configFile, metricsAddress, early, api }: RunOptions): Promise<void> {
  seccompOption('serve', settings.seccomp);
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
  // The server's event loop and the launcher ahead of the load they serve (server/scheduling.ts).
  const raise = (what: string, pid?: number) => {
    const priority = raisePriority(pid);
    if ('error' in priority) logger.warn(`the ${what} keeps the default priority: ${priority.error}`);
    else logger.info({ nice: priority.nice, pid: pid ?? process.pid }, `${what} priority raised (nice ${priority.nice}); what it starts runs at nice 0`);
  };
  raise('server');
  const server = new FnjailServer({ settings, launcherBinary, logger, log, audit, unixListener: early.server, onLauncherSpawn: (pid) => raise('sandbox launcher', pid) });
  const version = fnjailVersion();
  const token = settings.metricsToken === undefined ? undefined : readMetricsToken(settings.metricsToken);
  const metrics =
    metricsAddress && new MetricsListener({ ...metricsAddress, logger, token, render: (detailed) => renderMetrics(server.stats, { ...server.metricsContext(), version }, detailed) });

  let http: HttpFrontEnd | undefined;
  let inetd: Inetd | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    notifySystemd('STOPPING=1', logger);
    logger.info({ signal }, 'stopping: finishing running calls');
    // The API stops accepting with the classic socket; its last replies go out once the calls are over.
    http?.stopAccepting();
    inetd?.stopAccepting(); // its connections are calls: they finish within the grace, as every call
    Promise.all([server.stop().then(() => http?.close()), metrics?.stop()]).then(
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
  const metricsBound = await metrics?.start().catch((error: Error) => {
    throw new FnjailError('FNJ_METRICS_FAILED', error.message, 'choose another port with --metrics, or stop what listens there');
  });
  await server.start();
  early.handOver((socket) => server.acceptLocal(socket));
  // Classic calls are served from here on; the HTTP API loads meanwhile.
  if (api || settings.http.length) {
    const { startHttpFrontEnd } = await import('../http/front-end.js');
    http = await startHttpFrontEnd({ server, settings, logger, version, apiSocket: api, metricsToken: token });
  }
  const httpAddresses = http?.addresses ?? [];
  inetd = settings.expose.services.length ? await startInetd(server, settings, audit, logger) : undefined;
  const exposed = inetd?.services ?? [];
  const listening = [
    settings.socket,
    ...(settings.httpSocket && api ? [`${settings.httpSocket} (HTTP)`] : []),
    ...server.tcpAddresses,
    ...httpAddresses.map((a) => `${a} (HTTP)`),
    ...exposed.map((e) => `${e.listen} (function ${e.function})`),
  ];
  audit.lifecycle(
    'server-start',
    {
      version,
      config: configFile ?? null,
      socket: settings.socket,
      httpSocket: api ? settings.httpSocket! : null,
      nats: settings.nats === 'off' ? 'off' : settings.nats ? settings.nats.servers.join(',') : 'private',
      node: settings.nodeName,
      listen: server.tcpAddresses,
      http: httpAddresses,
      expose: exposed,
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
    `fnjail listening on ${listening.join(', ')}; try: fnjail run --cat /opt/fnlib/libbasic.so`,
  );
  notifySystemd(`READY=1\nSTATUS=serving on ${listening.join(', ')}\nMAINPID=${process.pid}`, logger);
}

/** The exposed functions (src/inetd): their connections are calls through the server's executor. */
function startInetd(server: FnjailServer, settings: ServeSettings, audit: AuditLog, logger: Logger): Promise<Inetd> {
  const { services, maxConnections, maxPerClient, idleMs } = settings.expose;
  return Inetd.start({
    services,
    maxConnections,
    maxPerClient,
    idleMs,
    executor: server.executor,
    lookup: (name) => server.functions.lookup(name),
    policy: () => server.policies.current,
    refusals: new RefusalLog(audit),
    stats: server.stats,
    logger,
  });
}
