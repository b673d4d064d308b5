// The fnjail server: the UNIX socket listener, the sandbox launcher and the
// executor between them.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { FnjailError } from '../errors.js';
import { Executor, type CompatMode } from '../executor/executor.js';
import { LauncherProcess } from '../launcher/launcher-process.js';
import type { Tenant } from '../policy/decide.js';
import { InvalidSeccompProfile, loadPolicy, type Policy } from '../policy/policy.js';
import { InvalidJsonFile } from '../config/json-file.js';
import { peerCredentials } from './peer-credentials.js';
import { Session } from './session.js';
import { listenUnix } from './unix-listener.js';

export interface ServerOptions {
  socket: string;
  socketMode: number;
  outputDir: string;
  outputTemplate: string;
  policyFile: string;
  allowDirs: string[];
  compat: CompatMode;
  uidRange: { first: number; last: number };
  maxConcurrent: number;
  prepared: number;
  /** Network namespaces: see ExecutorOptions.netns. */
  netns: 'auto' | 'fresh' | 'shared';
  /** A seccomp profile replacing the policy's, or undefined. */
  seccomp: string | undefined;
  /** Calls a sandbox serves, reset in between (1: new namespaces for every call). */
  sandboxReuse: number;
  launcherBinary: string;
  logger: Logger;
}

/** The output directory: root-owned, 0711, so tenants can open their own files by name but list nothing. */
function prepareOutputDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, 0o711);
  } catch (error) {
    throw new FnjailError('FNJ_OUTPUT_DIR_FAILED', `cannot prepare the output directory ${dir}: ${(error as Error).message}`);
  }
}

function readPolicy(file: string, allowDirs: string[], seccomp: string | undefined): Policy {
  try {
    return loadPolicy(file, allowDirs, seccomp);
  } catch (error) {
    if (error instanceof InvalidSeccompProfile) {
      throw new FnjailError('FNJ_SECCOMP_INVALID', `seccomp profile '${error.profile}' cannot be used:\n${error.message}`, 'check it with: fnjail seccomp check <profile>');
    }
    if (error instanceof InvalidJsonFile) {
      throw new FnjailError('FNJ_POLICY_INVALID', `invalid policy:\n${error.message}`, 'fix the file, then start again');
    }
    throw new FnjailError('FNJ_POLICY_UNREADABLE', `cannot read the policy ${file}: ${(error as Error).message}`);
  }
}

export class FnjailServer {
  readonly launcher: LauncherProcess;
  readonly executor: Executor;
  private readonly listener: net.Server;
  private readonly policy: Policy;
  private readonly sockets = new Map<net.Socket, Session>();

  constructor(private readonly options: ServerOptions) {
    if (process.getuid?.() !== 0) {
      throw new FnjailError('FNJ_NOT_ROOT', 'the server must run as root (it creates namespaces and switches uids)', 'run it with sudo');
    }
    if (!fs.existsSync(options.launcherBinary)) {
      throw new FnjailError('FNJ_LAUNCHER_MISSING', `the sandbox launcher ${options.launcherBinary} is missing`, 'run npm install in the fnjail directory: it builds the launcher');
    }
    this.policy = readPolicy(options.policyFile, options.allowDirs, options.seccomp);
    for (const warning of this.policy.warnings) options.logger.warn({ policy: this.policy.source }, warning);
    const range = options.uidRange;
    this.launcher = new LauncherProcess({
      binary: options.launcherBinary,
      uidRange: range,
      maxSandboxes: Math.min(options.maxConcurrent, range.last - range.first + 1),
      prepared: options.prepared,
      tmpBytes: this.policy.limits.tmpBytes,
      freshNetns: options.netns === 'fresh',
      reuse: options.sandboxReuse,
      logger: options.logger,
    });
    this.executor = new Executor({
      launcher: this.launcher,
      policy: () => this.policy,
      outputDir: options.outputDir,
      outputTemplate: options.outputTemplate,
      compat: options.compat,
      maxConcurrent: options.maxConcurrent,
      logger: options.logger,
      netns: options.netns,
    });
    const { seccomp } = this.policy;
    const ownNamespace = options.netns === 'fresh' || (options.netns === 'auto' && seccomp.allowsSockets);
    const why = options.netns === 'auto' ? ` (--netns auto; the profile ${seccomp.allowsSockets ? 'lets socket() through' : 'refuses socket()'})` : ` (--netns ${options.netns})`;
    options.logger.info(
      { seccompProfile: seccomp.name, netns: options.netns },
      `seccomp profile '${seccomp.name}'; ${ownNamespace ? 'each sandbox gets its own network namespace' : 'sandboxes share one empty network namespace'}${why}`,
    );
    if (options.netns === 'shared' && seccomp.allowsSockets) {
      options.logger.warn(`seccomp profile '${seccomp.name}' lets socket() through and --netns shared puts every sandbox in one network namespace: concurrent calls can reach each other over abstract UNIX sockets`);
    }
    this.listener = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    prepareOutputDir(this.options.outputDir);
    // Listen first: clients may connect at once; their commands wait for the launcher.
    await listenUnix(this.listener, { path: this.options.socket, mode: this.options.socketMode, backlog: 4096 });
    await this.launcher.start();
  }

  private accept(socket: net.Socket): void {
    let tenant: Tenant;
    try {
      tenant = peerCredentials(socket);
    } catch (error) {
      this.options.logger.error({ err: error }, 'cannot identify a client; closing its connection');
      socket.destroy();
      return;
    }
    const session = new Session(socket, tenant, (raw, who) => this.executor.execute(raw, who), this.options.logger);
    this.sockets.set(socket, session);
    socket.on('close', () => this.sockets.delete(socket));
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Stops accepting, lets running calls finish for graceMs, then cancels the
   * rest; every accepted command is answered before its connection closes. */
  async stop(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const session of this.sockets.values()) session.drain();
    const timeout = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.executor.whenIdle(), timeout(graceMs)]);
    this.launcher.cancelAll();
    await Promise.race([this.executor.whenIdle(), timeout(2000)]);
    await this.launcher.stop();
    await Promise.race([closed, timeout(500)]);
    for (const socket of this.sockets.keys()) socket.destroy();
    try {
      fs.unlinkSync(this.options.socket);
    } catch {
      // already gone
    }
  }
}
