// A real nats-server for a test: Debian's, on loopback, on a port of its own
// (picked by the server: port -1), with its config, JetStream store and ports
// file in a directory of the test's own; ready when its ports file appears.
// Tests stop it in after(); it also dies with the test process (setpriv's
// parent-death signal, as for the private server).
import fs from 'node:fs';
import path from 'node:path';
import { spawnNatsServer, type NatsServerProcess } from '../../src/cluster/nats-server-process.js';

export interface TestNatsServer {
  /** e.g. nats://127.0.0.1:41234 or tls://127.0.0.1:41234 */
  url: string;
  port: number;
  dir: string;
  process: NatsServerProcess;
  /** Starts it again with the same config and port (after kill()). */
  restart(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

let count = 0;

/** extra: config keys besides listen, ports_file_dir and jetstream (e.g. authorization, tls). */
export async function startTestNatsServer(parent: string, extra: Record<string, unknown> = {}): Promise<TestNatsServer> {
  const dir = path.join(parent, `nats-${process.pid}-${++count}`);
  const portsDir = path.join(dir, 'run');
  fs.mkdirSync(portsDir, { recursive: true, mode: 0o700 });
  const configFile = path.join(dir, 'nats.conf');
  const write = (port: number) =>
    fs.writeFileSync(
      configFile,
      JSON.stringify({ listen: `127.0.0.1:${port}`, ports_file_dir: portsDir, jetstream: { store_dir: path.join(dir, 'jetstream'), max_memory_store: 64 * 1024 * 1024 }, ...extra }),
      { mode: 0o600 },
    );
  write(-1);
  const launch = async () => {
    const child = spawnNatsServer({ configFile, portsDir });
    const [url] = await child.listening;
    return { child, url: url! };
  };
  const first = await launch();
  const server: TestNatsServer = {
    url: first.url,
    port: Number(new URL(first.url).port),
    dir,
    process: first.child,
    async restart() {
      write(server.port);
      server.process = (await launch()).child;
    },
    async kill() {
      server.process.kill('SIGKILL');
      await server.process.exited;
    },
    async stop() {
      await server.process.stop();
    },
  };
  return server;
}
