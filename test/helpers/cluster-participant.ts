// A cluster member for the tests, run inside a test host (one Node process per
// node): the real cluster modules (src/cluster/cluster-node.ts) on a real NATS
// connection with the node's certificate, and a handler standing in for the
// executor until fnjail serve runs them (its functions are named below). It
// reads JSON commands on stdin and writes JSON events on stdout, one a line.
//
// functions:  echo  → "<node>:<input>"
//             big   → <input> bytes of a repeated pattern (output in many chunks)
//             die   → kills this process with SIGKILL once the call has started
import readline from 'node:readline';
import { pino } from 'pino';
import { Worker } from 'node:worker_threads';
import { ClusterNode, type ClusterNodeOptions } from '../../src/cluster/cluster-node.js';
import { NatsSystem, type NatsTlsOptions } from '../../src/cluster/nats-connection.js';
import type { CallResult, IncomingCall } from '../../src/cluster/remote-calls.js';
import type { Balance } from '../../src/cluster/router.js';
import { inboxPrefix } from '../../src/cluster/subjects.js';
import { fnjailVersion } from '../../src/paths.js';

export interface ParticipantConfig {
  node: string;
  servers: string[];
  tls: NatsTlsOptions;
  balance: Balance;
  capacity: number;
  replicas: number;
  timings?: ClusterNodeOptions['timings'];
  callTimings?: ClusterNodeOptions['callTimings'];
}

export type ParticipantCommand =
  | { cmd: 'table' }
  | { cmd: 'set'; freeSlots: number }
  | { cmd: 'burn'; on: boolean }
  | { cmd: 'call'; function: string; input: string; candidates?: string[] }
  | { cmd: 'stop' };

const config = JSON.parse(process.argv[2]!) as ParticipantConfig;
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

let freeSlots = config.capacity;
let running = 0;
let burner: Worker | undefined;

async function handle(call: IncomingCall): Promise<CallResult> {
  emit({ event: 'handled', id: call.id, function: call.function, caller: call.caller, input: call.input.toString() });
  const started = performance.now();
  const done = (output: Buffer): CallResult => ({ outcome: 'ok', reasons: [], limitsHit: [], output, durationMs: performance.now() - started });
  running++;
  try {
    switch (call.function) {
      case 'echo':
        return done(Buffer.from(`${config.node}:${call.input.toString()}`));
      case 'big':
        return done(Buffer.alloc(Number(call.input.toString()), 'fnjail-cluster-'));
      case 'die':
        // The caller has its "started" already (it is answered before the handler runs).
        await nats.connection.flush();
        process.kill(process.pid, 'SIGKILL');
        return new Promise(() => undefined);
      default:
        return { outcome: 'missing-function', reasons: [`no function ${call.function}`], limitsHit: [], output: Buffer.alloc(0), durationMs: 0 };
    }
  } finally {
    running--;
  }
}

// Warnings and errors of the cluster modules, to stderr (the test shows them).
const logger = pino({ level: 'warn', base: { node: config.node } }, pino.destination(2));
const nats = await NatsSystem.connect({ logger, servers: config.servers, tls: config.tls, name: config.node, inboxPrefix: inboxPrefix(config.node), reconnectWaitMs: 250 });
nats.on('status', (status) => emit({ event: 'nats', state: status.state, server: status.server }));
const cluster = ClusterNode.start({
  nats,
  node: config.node,
  version: fnjailVersion(),
  load: () => ({ running, freeSlots, queued: 0, capacity: config.capacity, ready: true }),
  handler: handle,
  logger,
  balance: config.balance,
  replicas: config.replicas,
  ...(config.timings ? { timings: config.timings } : {}),
  ...(config.callTimings ? { callTimings: config.callTimings } : {}),
  onMemberChange: (change) => emit({ event: 'change', change }),
  onCallEvent: (event) => emit({ event: 'call-event', ...event }),
});
emit({ event: 'started', pid: process.pid, incarnation: cluster.incarnation.id });
void cluster.ready.then(() => emit({ event: 'ready' }));

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as ParticipantCommand & { seq: number };
  const reply = (event: Record<string, unknown>) => emit({ ...event, seq: command.seq });
  switch (command.cmd) {
    case 'table':
      reply({ event: 'table', rows: cluster.memberTable(), rejected: cluster.rejectedMessages, nats: nats.status() });
      break;
    case 'set':
      freeSlots = command.freeSlots;
      cluster.beat();
      reply({ event: 'set' });
      break;
    case 'burn':
      if (command.on && !burner) burner = new Worker('for (;;) {}', { eval: true });
      if (!command.on) await burner?.terminate();
      if (!command.on) burner = undefined;
      reply({ event: 'burn' });
      break;
    case 'call': {
      const candidates = command.candidates;
      void cluster
        .call(
          { function: command.function, tenant: 'test', principal: `test via ${config.node}`, input: Buffer.from(command.input) },
          candidates ? { eligible: (row) => candidates.includes(row.node) } : {},
        )
        .then((result) => reply({ event: 'result', node: result.node, outcome: result.outcome, reasons: result.reasons, attempts: result.attempts, output: result.output.toString('base64') }));
      break;
    }
    case 'stop':
      await cluster.stop();
      await nats.close();
      reply({ event: 'stopped' });
      process.exit(0);
  }
}
