// The cluster's calls as the server sees them, both ways:
//   out   the executor asks where a call by name runs (CallRouting): here
//         while this node has a free slot (least-loaded), else on the node
//         the router picks among those with one; with --balance round-robin,
//         every node in turn, this one included. A call no other node could
//         start runs (or waits) here after all.
//   in    a call another node sent (cluster-node.ts's handler) goes through
//         this node's own executor: its policy decides again for the peer the
//         calling node identified, its sandbox runs it, its audit log records
//         it; it is never sent on (here). A call is refused before it is
//         accepted when this node has no free slot: the caller tries another.
// A per-connection program's call goes like any other, and its connection
// stays here: its bytes are relayed to the node that runs it, which gives the
// program its end of a loopback TCP connection instead (connection-relay.ts).
import { randomBytes } from 'node:crypto';
import fs, { constants as fsc } from 'node:fs';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { FnjailError } from '../errors.js';
import type { Executor, RoutableCall, RoutedOutcome } from '../executor/executor.js';
import { LIMIT_NAMES, OUTCOMES, type LimitName, type OutcomeKind } from '../executor/classify.js';
import { namedCallText } from '../executor/command.js';
import type { Tenant } from '../policy/decide.js';
import { describePeer } from '../policy/tenants.js';
import { spoolBody, unlinkQuietly } from '../server/spool.js';
import type { ClusterNode, PreparedCall } from './cluster-node.js';
import { ConnectionRelay, loopbackPair } from './connection-relay.js';
import type { NodeLoad } from './heartbeat.js';
import type { CallResult, IncomingCall } from './remote-calls.js';
import type { CallPeer } from './wire.js';

/** Outcomes of a call the function itself was called in (classic mode keeps its output as is). */
const RAN: ReadonlySet<string> = new Set(['ok', 'exit', 'signal', 'timeout', 'limit', 'seccomp']);

/** How long a relayed connection's last bytes may wait for the client when the call gave neither an idle nor a time limit. */
const DRAIN_FALLBACK_MS = 60_000;

/** What `here` answers when the router picks this node: the executor goes on with the call. */
const HERE: CallResult = { outcome: 'here', reasons: [], limitsHit: [], output: Buffer.alloc(0), durationMs: 0 };

export interface ClusterCallsOptions {
  /** The cluster, once the node has joined (undefined before). */
  cluster: () => ClusterNode | undefined;
  executor: () => Executor;
  maxConcurrent: number;
  /** Where a call's input is written for its sandbox (server/spool.ts). */
  spoolDir: string;
  maxInputBytes: number;
  /** Whether this node takes calls now (its launcher is up). */
  ready: () => boolean;
  logger?: Logger;
}

export class ClusterCalls {
  constructor(private readonly options: ClusterCallsOptions) {}

  /** For the heartbeat: the node's calls and free slots. */
  load(): NodeLoad {
    const executor = this.options.executor();
    const { maxConcurrent } = this.options;
    return {
      running: executor.running,
      // A call accepted for another node holds its slot until it starts (then the executor counts it).
      freeSlots: Math.max(0, maxConcurrent - executor.running - (this.options.cluster()?.reservedForOthers ?? 0)),
      queued: executor.queued,
      capacity: maxConcurrent,
      ready: this.options.ready(),
    };
  }

  // ---- out: the executor's CallRouting ----

  /** As a call arrives: its node picked and a slot reserved there while the executor checks out and decides (none while this node has a free slot, least-loaded). */
  prepare(call: { slotFree: boolean }): PreparedCall | undefined {
    const cluster = this.options.cluster();
    if (!cluster) return undefined;
    const roundRobin = cluster.balance === 'round-robin';
    if (!roundRobin && call.slotFree) return undefined;
    return cluster.prepare({ includeSelf: roundRobin, freeSlotOnly: !roundRobin });
  }

  /** The executor's PreparedRoute is what prepare() gave. */
  async route(call: RoutableCall, prepared?: PreparedCall): Promise<RoutedOutcome | undefined> {
    const cluster = this.options.cluster();
    if (!cluster) return undefined;
    // Placed as it arrived (prepare()), or now.
    const placed = prepared ?? this.prepare(call);
    if (!placed) return undefined;
    const { connection } = call;
    // Nothing is read from the client until the node that runs it is ready for its bytes.
    const relay = connection && new ConnectionRelay({ connection: cluster.connection, node: cluster.node, id: randomBytes(12).toString('hex'), socket: connection.socket });
    let routed;
    try {
      routed = await placed.run(
      {
        function: call.name,
        ...(call.function !== undefined ? { export: call.function } : {}),
        pinned: { owner: call.pinned.owner, kind: call.pinned.kind, version: call.pinned.version, manifest: call.pinned.manifest },
        tenant: call.tenant,
        principal: describePeer(call.peer),
        timeoutMs: call.timeoutMs,
        peer: callPeer(call.peer),
        ...(relay ? { connection: { relay: relay.id, idleMs: connection.idleMs } } : {}),
        input: call.input() ?? Buffer.alloc(0),
      },
      { here: async () => HERE, ...(relay ? { onStarted: (node: string) => relay.open(node, false) } : {}) },
      );
    } catch (error) {
      relay?.close(true);
      throw error;
    }
    if (routed.node === undefined || routed.node === cluster.node) {
      relay?.close(true); // runs here, the connection untouched
      return undefined;
    }
    if (relay) {
      // A lost node's client is never left hanging: its connection ends now.
      if (routed.outcome === 'node-lost') relay.abort(routed.reasons.join('; '));
      // A client that takes no more bytes is given up after the idle limit (none: the call's time limit).
      await relay.finish(connection.idleMs || call.timeoutMs);
    }
    const known = (OUTCOMES as readonly string[]).includes(routed.outcome);
    return {
      node: routed.node,
      // node-lost is no outcome of a call run here: a server error, whose reason says what happened.
      kind: known ? (routed.outcome as OutcomeKind) : 'server-error',
      reasons: routed.reasons,
      limitsHit: routed.limitsHit.filter((l): l is LimitName => (LIMIT_NAMES as readonly string[]).includes(l)),
      output: routed.output,
      functionRan: RAN.has(routed.outcome),
    };
  }

  // ---- in: calls other nodes send ----

  /** Refuses a call when this node has no free slot (or does not take calls yet). */
  admit(): string | undefined {
    if (!this.options.ready()) return 'the node is not ready (its sandbox launcher is starting)';
    if (this.load().freeSlots <= 0) return 'no free slot';
    return undefined;
  }

  async handle(call: IncomingCall): Promise<CallResult> {
    const started = performance.now();
    if (!call.peer) {
      return { outcome: 'bad-request', reasons: [`node ${call.caller} sent a call without the peer who asked for it`], limitsHit: [], output: Buffer.alloc(0), durationMs: 0 };
    }
    const peer = tenantOf(call.peer);
    if (call.connection) return this.handleConnection(call, call.connection, peer, started);
    const spooled = call.input.length ? await spoolBody(this.options.spoolDir, Readable.from([call.input]), this.options.maxInputBytes, peer, () => new FnjailError('FNJ_INPUT_TOO_LARGE', `the input from node ${call.caller} is over this node's --max-input`)) : undefined;
    try {
      const input = spooled === undefined ? undefined : ({ kind: 'spool', path: spooled } as const);
      // The version the calling node resolved (fetched by its hash here the first time), not whatever is current now.
      const pinned = call.pinned && { name: call.function, ...call.pinned };
      const result = await this.options.executor().call({ text: namedCallText(call.function, call.export, input), name: call.function, function: call.export, input }, peer, { here: true, ...(pinned ? { pinned } : {}) });
      return {
        outcome: result.kind,
        reasons: result.reasons,
        limitsHit: result.limitsHit,
        output: printed(result.outputPath, result.printedBytes),
        durationMs: performance.now() - started,
        request: result.request,
      };
    } finally {
      if (spooled) unlinkQuietly(spooled);
    }
  }

  /** A relayed connection's call: the program gets one end of a loopback connection, the other end is relayed to the caller's client. */
  private async handleConnection(call: IncomingCall, connection: { relay: string; idleMs: number }, peer: Tenant, started: number): Promise<CallResult> {
    const cluster = this.options.cluster();
    if (!cluster) return { outcome: 'server-error', reasons: ['this node has left the cluster'], limitsHit: [], output: Buffer.alloc(0), durationMs: 0 };
    const [ours, program] = await loopbackPair();
    const relay = new ConnectionRelay({ connection: cluster.connection, node: cluster.node, id: connection.relay, socket: ours, peer: call.caller });
    relay.open(call.caller, true);
    // The client is on the caller's node: when that node dies its connection is gone, and the program is told at once (not at its idle limit).
    const unwatch = cluster.watchPeer(call.caller, (why) => {
      this.options.logger?.warn({ relay: connection.relay, caller: call.caller, reason: why }, 'relayed connection ended: its client was on a node that is gone');
      relay.abort(`${why}, with the client's connection`, false);
    });
    const input = { kind: 'connection', socket: program, idleMs: connection.idleMs } as const;
    try {
      const pinned = call.pinned && { name: call.function, ...call.pinned };
      const result = await this.options.executor().call({ text: namedCallText(call.function, call.export, input), name: call.function, function: call.export, input }, peer, { here: true, ...(pinned ? { pinned } : {}) });
      return { outcome: result.kind, reasons: result.reasons, limitsHit: result.limitsHit, output: printed(result.outputPath, result.printedBytes), durationMs: performance.now() - started, request: result.request };
    } finally {
      // Handed over (the launcher has its own copy), or never: this end closes, the program's last bytes reach the client.
      program.destroy();
      unwatch();
      await relay.drain(connection.idleMs || (call.timeoutMs ?? DRAIN_FALLBACK_MS));
    }
  }
}

function callPeer(peer: Tenant): CallPeer {
  const remote = peer.remote && {
    address: peer.remote.address,
    ...(peer.remote.commonName !== undefined ? { commonName: peer.remote.commonName } : {}),
    ...(peer.remote.fingerprint !== undefined ? { fingerprint: peer.remote.fingerprint } : {}),
    // A client of an exposed function: the node that runs its program decides for the tenant it acts as.
    ...(peer.remote.service ? { service: { function: peer.remote.service.function, listen: peer.remote.service.listen, ...(peer.remote.service.tenant !== undefined ? { tenant: peer.remote.service.tenant } : {}) } } : {}),
  };
  return { uid: peer.uid, gid: peer.gid, groups: peer.groups, ...(remote ? { remote } : {}) };
}

function tenantOf(peer: CallPeer): Tenant {
  const service = peer.remote?.service && { function: peer.remote.service.function, listen: peer.remote.service.listen, tenant: peer.remote.service.tenant };
  const remote = peer.remote && { address: peer.remote.address, commonName: peer.remote.commonName, fingerprint: peer.remote.fingerprint, ...(service ? { service } : {}) };
  return { uid: peer.uid, gid: peer.gid, pid: 0, groups: peer.groups, ...(remote ? { remote } : {}) };
}

/** What the function printed (the output file before its error lines), then the file removed: the caller writes its own. */
function printed(file: string | undefined, bytes: number | undefined): Buffer {
  if (!file) return Buffer.alloc(0);
  try {
    const fd = fs.openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      const data = Buffer.alloc(bytes ?? fs.fstatSync(fd).size);
      const read = fs.readSync(fd, data, 0, data.length, 0);
      return data.subarray(0, read);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return Buffer.alloc(0);
  } finally {
    unlinkQuietly(file);
  }
}
