// A cluster for the tests, made as an operator makes one: hosts of network
// namespaces (netns-hosts.ts), a CA, `fnjail cluster config` for the nodes'
// certificates and nats-server configs, one nats-server per host (routes,
// JetStream, TLS), and one participant per host (cluster-participant.ts: the
// cluster modules in a Node process of their own, driven over stdin/stdout).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawnNatsServer, type NatsServerProcess } from '../../src/cluster/nats-server-process.js';
import { BROKER_FILES } from '../../src/cluster/broker-config.js';
import type { MemberRow } from '../../src/cluster/member-table.js';
import { packageRoot } from '../../src/paths.js';
import type { ParticipantCommand, ParticipantConfig } from './cluster-participant.js';
import { cliMain } from './environment.js';
import { createHosts, type NetnsHost, type NetnsNetwork } from './netns-hosts.js';
import { makeTestPki, type TestPki } from './tls.js';

const PARTICIPANT = path.join(packageRoot, 'dist', 'test', 'helpers', 'cluster-participant.js');

export type ParticipantEvent = Record<string, unknown> & { event: string };

export class Participant {
  readonly events: ParticipantEvent[] = [];
  readonly exited: Promise<unknown>;
  private readonly waiters = new Set<{ test: (e: ParticipantEvent) => boolean; resolve: (e: ParticipantEvent) => void }>();
  private seq = 0;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit');
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: ParticipantEvent;
      try {
        event = JSON.parse(line) as ParticipantEvent;
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      this.events.push(event);
      if (process.env.FNJAIL_TEST_DEBUG) {
        const rows = event.event === 'table' ? (event.rows as MemberRow[]).map((r) => `${r.node}:${r.state}:${r.incarnation.slice(0, 4)}:${r.heartbeatAgeMs}${r.coordinator ? '*' : ''}`).join(' ') : '';
        process.stderr.write(`[${name}] ${rows ? `table ${rows}` : line.slice(0, 400)}\n`);
      }
      for (const waiter of this.waiters) {
        if (waiter.test(event)) {
          this.waiters.delete(waiter);
          waiter.resolve(event);
        }
      }
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[${name}] ${line}\n`));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first event, past or future, that passes the test. */
  waitFor(test: (e: ParticipantEvent) => boolean, after = 0): Promise<ParticipantEvent> {
    const past = this.events.slice(after).find(test);
    if (past) return Promise.resolve(past);
    return new Promise((resolve) => this.waiters.add({ test, resolve }));
  }

  /** Sends a command; resolves with its reply. */
  send(command: ParticipantCommand): Promise<ParticipantEvent> {
    const seq = ++this.seq;
    const reply = this.waitFor((e) => e.seq === seq, this.events.length);
    this.child.stdin!.write(`${JSON.stringify({ ...command, seq })}\n`);
    return reply;
  }

  async table(): Promise<MemberRow[]> {
    return (await this.send({ cmd: 'table' })).rows as MemberRow[];
  }

  /** Asks for the table until it passes the test (one ask per heartbeat interval). */
  async tableUntil(test: (rows: MemberRow[]) => boolean, intervalMs = 250): Promise<MemberRow[]> {
    for (;;) {
      const rows = await this.table();
      if (test(rows)) return rows;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

export interface ClusterLab {
  network: NetnsNetwork;
  pki: TestPki;
  /** What fnjail cluster config wrote: one directory per node. */
  configDir: string;
  servers: Map<string, NatsServerProcess>;
  participants: Map<string, Participant>;
  /** Client URLs of every server. */
  urls: string[];
  startServer(name: string): Promise<void>;
  startParticipant(name: string): Promise<Participant>;
  participant(name: string): Participant;
  destroy(): Promise<void>;
}

export async function createClusterLab(root: string, names: string[], participantConfig: (name: string) => Omit<ParticipantConfig, 'node' | 'servers' | 'tls'>): Promise<ClusterLab> {
  const network = createHosts(names);
  const servers = new Map<string, NatsServerProcess>();
  const participants = new Map<string, Participant>();
  try {
    const pki = makeTestPki(path.join(root, 'pki'));
    const configDir = path.join(root, 'cluster');
    execFileSync(process.execPath, [
      cliMain, 'cluster', 'config',
      '--nodes', network.hosts.map((h) => `${h.name}=${h.address}`).join(','),
      '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', configDir,
      '--conf-dir', `${configDir}/{node}`, '--store-dir', `${configDir}/{node}/jetstream`, '--run-dir', `${configDir}/{node}/run`,
      '--days', '1',
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const urls = network.hosts.map((h) => `tls://${h.address}:4222`);
    const host = (name: string): NetnsHost => network.host(name);
    const lab: ClusterLab = {
      network,
      pki,
      configDir,
      servers,
      participants,
      urls,
      async startServer(name) {
        const dir = path.join(configDir, name);
        fs.mkdirSync(path.join(dir, 'run'), { recursive: true, mode: 0o700 });
        const server = spawnNatsServer({ configFile: path.join(dir, BROKER_FILES.config), portsDir: path.join(dir, 'run'), wrap: host(name).command });
        servers.set(name, server);
        await server.listening;
      },
      async startParticipant(name) {
        const dir = path.join(configDir, name);
        const own = `tls://${host(name).address}:4222`;
        const config: ParticipantConfig = {
          node: name,
          servers: [own, ...urls.filter((u) => u !== own)],
          tls: { caFile: path.join(dir, BROKER_FILES.ca), certFile: path.join(dir, BROKER_FILES.nodeCert), keyFile: path.join(dir, BROKER_FILES.nodeKey) },
          ...participantConfig(name),
        };
        const child = host(name).spawn([process.execPath, PARTICIPANT, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
        const participant = new Participant(name, child);
        participants.set(name, participant);
        await participant.waitFor((e) => e.event === 'started');
        return participant;
      },
      participant(name) {
        const found = participants.get(name);
        if (!found) throw new Error(`no participant ${name}`);
        return found;
      },
      async destroy() {
        for (const participant of participants.values()) participant.kill();
        for (const server of servers.values()) server.kill();
        network.destroy();
      },
    };
    await Promise.all(names.map((name) => lab.startServer(name)));
    return lab;
  } catch (error) {
    for (const server of servers.values()) server.kill();
    network.destroy();
    throw error;
  }
}
