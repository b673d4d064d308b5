// One node of the heartbeat bench (heartbeat.ts), in a process of its own so
// that its CPU time can be read from /proc: connected to NATS and nothing else
// (idle: the baseline), or a full cluster member (heartbeats out, everyone's
// in, the member table followed, a turn at coordinating).
//
//   node dist/bench/heartbeat-node.js '{"url":...,"node":...,"mode":"idle"|"cluster","heartbeatMs":1000}'
import { ClusterNode } from '../src/cluster/cluster-node.js';
import { NatsSystem } from '../src/cluster/nats-connection.js';
import { inboxPrefix } from '../src/cluster/subjects.js';

interface Config {
  url: string;
  user: string;
  password: string;
  node: string;
  mode: 'idle' | 'cluster';
  heartbeatMs: number;
}

const config = JSON.parse(process.argv[2]!) as Config;
const nats = await NatsSystem.connect({ servers: [config.url], user: config.user, password: config.password, insecure: true, inboxPrefix: inboxPrefix(config.node) });
if (config.mode === 'cluster') {
  const cluster = ClusterNode.start({
    nats,
    node: config.node,
    version: 'bench',
    load: () => ({ running: 0, freeSlots: 4, queued: 0, capacity: 4, ready: true }),
    handler: async () => ({ outcome: 'ok', reasons: [], limitsHit: [], output: Buffer.alloc(0), durationMs: 0 }),
    timings: { heartbeatMs: config.heartbeatMs, suspectAfterMs: 3 * config.heartbeatMs, downAfterMs: 5 * config.heartbeatMs, leaseMs: 3 * config.heartbeatMs },
  });
  await cluster.ready;
  // Ready for the bench once it sees every node up (the same table on all of them).
  const nodes = Number(process.env.BENCH_NODES ?? 3);
  while (cluster.memberTable().filter((r) => r.state === 'up').length < nodes) await new Promise((resolve) => setTimeout(resolve, 50));
}
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
