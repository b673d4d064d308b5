// Per-connection services (inetd): fnjail serve --expose NAME=HOST:PORT[@TENANT]
// serves a per-connection program function on a TCP port. Each accepted
// connection is one call of the function through the executor, the same seam
// as every other call (policy decision, limits, admission, audit record,
// statistics): the connection, accepted with pauseOnConnect so that Node
// reads none of it, is handed to the launcher as the program's stdin and
// stdout, and lives as long as the program, its call's time limit or the idle
// limit. The function is resolved through the registry at each connection, so
// a redeploy takes effect on the next one. Its clients are anonymous: each
// acts as the tenant the admin named (@TENANT), else as the function's owner,
// and the policy decides as for any call of that tenant (docs/functions.md).
//
// Connections beyond the limits per function and per client address are
// closed at once, each kind of refusal recorded (aggregated). A connection
// that cannot be served (refused by the policy, the server busy) is closed
// without a word (the client speaks the program's protocol, in which fnjail
// has nothing to say); its audit record says why.
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { RefusalLog } from '../audit/refusal-log.js';
import { FnjailError } from '../errors.js';
import { namedCallText, type CallInput } from '../executor/command.js';
import type { Executor } from '../executor/executor.js';
import type { FunctionRecord } from '../functions/registry.js';
import type { Stats } from '../metrics/stats.js';
import type { Policy } from '../policy/policy.js';
import { servicePeer } from '../policy/tenants.js';
import { ConnectionLimits } from './connection-limits.js';
import { formatAddress, type ExposeSpec } from './expose-spec.js';

export interface InetdOptions {
  services: ExposeSpec[];
  maxConnections: number;
  maxPerClient: number;
  /** No data either way this long ends a connection; 0: never. */
  idleMs: number;
  executor: Pick<Executor, 'call'>;
  /** The registry's record of a function (undefined: none of that name); throws when the registry is unavailable. */
  lookup: (name: string) => Promise<FunctionRecord | undefined>;
  policy: () => Policy;
  refusals: RefusalLog;
  stats: Pick<Stats, 'connectionsRefused'>;
  logger: Logger;
}

/** An exposed function, as the server-start record and the status show it. */
export interface ExposedService {
  function: string;
  /** The address bound (its port, when 0 was asked). */
  listen: string;
  /** The tenant its clients act as; undefined: the function's owner. */
  tenant: string | undefined;
}

interface Listener {
  spec: ExposeSpec;
  server: net.Server;
  listen: string;
}

export class Inetd {
  private readonly listeners: Listener[] = [];
  private readonly limits: ConnectionLimits;
  private stopping = false;

  private constructor(private readonly options: InetdOptions) {
    this.limits = new ConnectionLimits({ maxPerFunction: options.maxConnections, maxPerClient: options.maxPerClient });
  }

  /** Checks each function that can be checked now, then listens; throws FNJ_EXPOSE_FAILED (nothing left listening). */
  static async start(options: InetdOptions): Promise<Inetd> {
    const inetd = new Inetd(options);
    try {
      for (const spec of options.services) await inetd.check(spec);
      for (const spec of options.services) await inetd.listen(spec);
    } catch (error) {
      inetd.stopAccepting();
      throw error;
    }
    return inetd;
  }

  get services(): ExposedService[] {
    return this.listeners.map(({ spec, listen }) => ({ function: spec.name, listen, tenant: spec.tenant }));
  }

  /** Connections being served now (or waiting for a sandbox). */
  get open(): number {
    return this.limits.open;
  }

  /** Closes the ports; connections being served go on (the server's shutdown grace bounds them). */
  stopAccepting(): void {
    this.stopping = true;
    for (const { server } of this.listeners) server.close();
  }

  /** A function that is not a per-connection program is refused at start; one
   * not deployed yet (or a registry not reachable yet) is served once it is. */
  private async check(spec: ExposeSpec): Promise<void> {
    const { logger, policy } = this.options;
    const fail = (why: string, hint?: string) => new FnjailError('FNJ_EXPOSE_FAILED', `--expose ${spec.text}: ${why}`, hint);
    if (spec.tenant !== undefined) {
      const current = policy();
      if (spec.tenant !== current.defaults?.name && !current.tenants.some((t) => t.name === spec.tenant)) {
        throw fail(`its clients would act as tenant '${spec.tenant}', which is not in the policy ${current.path}`, 'name a tenant of the policy after @, or none (they then act as the function\'s owner)');
      }
    }
    let record: FunctionRecord | undefined;
    try {
      record = await this.options.lookup(spec.name);
    } catch (error) {
      logger.warn({ function: spec.name, err: error }, `--expose ${spec.text}: the function cannot be checked now (${(error as Error).message}); its connections are served once the registry is available`);
      return;
    }
    if (!record) {
      logger.warn({ function: spec.name }, `--expose ${spec.text}: no function '${spec.name}' is deployed yet; its connections are refused until it is`);
      return;
    }
    if (record.kind !== 'program' || record.manifest.mode !== 'per-connection') {
      const what = record.kind === 'library' ? 'a library' : 'a per-request program';
      throw fail(`function '${spec.name}' is ${what}: only a per-connection program can serve connections`, 'deploy a program whose fnjail.json says "kind": "program", "mode": "per-connection"');
    }
  }

  private async listen(spec: ExposeSpec): Promise<void> {
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(listener, socket));
    const listener: Listener = { spec, server, listen: formatAddress(spec.host, spec.port) };
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new FnjailError('FNJ_EXPOSE_FAILED', `--expose ${spec.text}: cannot listen on ${listener.listen}: ${error.message}`, 'choose another port, or stop what listens there')));
      server.listen({ host: spec.host, port: spec.port, backlog: 511 }, () => resolve());
    });
    const bound = server.address() as net.AddressInfo;
    listener.listen = formatAddress(bound.address, bound.port);
    server.on('error', (error) => this.options.logger.error({ err: error, function: spec.name }, `exposed function '${spec.name}' on ${listener.listen}: ${error.message}`));
    this.listeners.push(listener);
    this.options.logger.info({ function: spec.name, listen: listener.listen, tenant: spec.tenant ?? null }, `function '${spec.name}' exposed on ${listener.listen}`);
  }

  private accept(listener: Listener, socket: net.Socket): void {
    socket.on('error', () => undefined); // a reset: the program sees it; its call is recorded
    const address = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const { spec } = listener;
    const service = `function '${spec.name}'`; // counted over all its ports
    const client = socket.remoteAddress ?? '?';
    const refusal = this.limits.admit(service, client);
    if (refusal) {
      this.options.stats.connectionsRefused++;
      this.options.refusals.refuse(
        'connection-refused',
        `expose ${listener.listen} ${client} ${refusal}`,
        { transport: 'tcp', peer: { remote: { address } }, function: spec.name, listen: listener.listen, reason: refusal },
        `connection of ${address} to ${service} on ${listener.listen} refused: ${refusal}`,
      );
      socket.destroy();
      return;
    }
    void this.serve(listener, socket, address).finally(() => {
      this.limits.release(service, client);
      socket.destroy(); // handed over (closed already), or never served
    });
  }

  private async serve(listener: Listener, socket: net.Socket, address: string): Promise<void> {
    const { spec } = listener;
    const tenant = spec.tenant ?? (await this.owner(spec.name));
    const peer = servicePeer(this.options.policy(), address, { function: spec.name, listen: listener.listen, tenant });
    const input: CallInput = { kind: 'connection', socket, idleMs: this.options.idleMs };
    const result = await this.options.executor.call({ text: namedCallText(spec.name, undefined, input), name: spec.name, function: undefined, input }, peer);
    // The output file is the connection's log (the program's stderr, error lines): kept when it holds something.
    if (result.kind === 'ok' && result.printedBytes === 0 && result.outputPath) fs.rmSync(result.outputPath, { force: true });
  }

  /** Whom the function's clients act as when the admin named no tenant: its owner, now. */
  private async owner(name: string): Promise<string | undefined> {
    try {
      return (await this.options.lookup(name))?.owner;
    } catch {
      return undefined; // the call's checkout says why the registry is not available
    }
  }
}
