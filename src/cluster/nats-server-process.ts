// One run of Debian's nats-server from a config file: started under setpriv
// with a parent-death signal (it never outlives the fnjail process that
// started it, even one killed with SIGKILL), its log lines passed to ours, and
// its listening address learnt from the ports file it writes once its client
// listener is up (ports_file_dir) — an event, watched with inotify, not a
// guess after a sleep. Used by the private server's supervisor and by tests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';

export const DEFAULT_NATS_BINARY = 'nats-server';

export interface NatsServerProcessOptions {
  configFile: string;
  /** Where nats-server writes "<program>_<pid>.ports": the config's ports_file_dir. */
  portsDir: string;
  binary?: string;
  logger?: Logger;
  /** Runs the command line through this (e.g. into a test host's namespaces). */
  wrap?: (argv: string[]) => string[];
}

export interface NatsExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NatsServerProcess {
  pid: number;
  /** The client URLs (e.g. tls://127.0.0.1:4222) once it listens; rejects if it exits or cannot start first. */
  listening: Promise<string[]>;
  exited: Promise<NatsExit>;
  /** Its last log lines, for a message when it fails. */
  recentLog(): string[];
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM (it shuts JetStream down cleanly), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<NatsExit>;
}

const LOG_LINES_KEPT = 30;
const LEVELS: Record<string, 'debug' | 'warn' | 'error'> = { INF: 'debug', DBG: 'debug', TRC: 'debug', WRN: 'warn', ERR: 'error', FTL: 'error' };

export function describeExit(exit: NatsExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
}

export function spawnNatsServer(options: NatsServerProcessOptions): NatsServerProcess {
  const recent: string[] = [];
  const argv = ['setpriv', '--pdeathsig', 'SIGTERM', '--', options.binary ?? DEFAULT_NATS_BINARY, '-c', options.configFile];
  const [file, ...args] = options.wrap ? options.wrap(argv) : argv;
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let spawnError: Error | undefined;
  const exited = new Promise<NatsExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Not started at all (setpriv or nats-server missing): no exit event follows.
    child.once('error', (error) => {
      spawnError = error;
      resolve({ code: null, signal: null });
    });
  });

  let partial = '';
  const onOutput = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      recent.push(line);
      if (recent.length > LOG_LINES_KEPT) recent.shift();
      const match = /^\[\d+\] [\d/]+ [\d:.]+ \[([A-Z]{3})\] (.*)$/.exec(line);
      options.logger?.[LEVELS[match?.[1] ?? ''] ?? 'info']({ nats: child.pid }, `nats-server: ${match?.[2] ?? line}`);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);

  const listening = new Promise<string[]>((resolve, reject) => {
    let done = false;
    const finish = (error: Error | undefined, urls?: string[]) => {
      if (done) return;
      done = true;
      watcher?.close();
      if (error) reject(error);
      else resolve(urls!);
    };
    const look = () => {
      const name = fs.readdirSync(options.portsDir).find((file) => file.endsWith(`_${child.pid}.ports`));
      if (!name) return;
      try {
        const ports = JSON.parse(fs.readFileSync(`${options.portsDir}/${name}`, 'utf8')) as { nats?: string[] };
        if (ports.nats?.length) finish(undefined, ports.nats);
      } catch {
        // Half written: the write's own event comes next.
      }
    };
    let watcher: fs.FSWatcher | undefined;
    try {
      watcher = fs.watch(options.portsDir, look);
    } catch (error) {
      finish(error as Error);
      return;
    }
    void exited.then((exit) =>
      finish(
        spawnError
          ? new Error(`nats-server cannot be started: ${spawnError.message}`)
          : new Error(`nats-server ${describeExit(exit)} before it listened: ${recent.slice(-5).join(' | ') || 'no output'}`),
      ),
    );
    look();
  });
  // Whoever does not wait for it must not see an unhandled rejection.
  listening.catch(() => undefined);

  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return {
    pid: child.pid ?? -1,
    listening,
    exited,
    recentLog: () => [...recent],
    kill,
    async stop(graceMs = 10_000) {
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      // A killed server leaves its ports file behind.
      fs.rmSync(`${options.portsDir}/nats-server_${child.pid}.ports`, { force: true });
      return exit;
    },
  };
}
