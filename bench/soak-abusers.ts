// The abusive side of the soak (soak.ts), as a process of its own so that it
// runs as another local user than the load generator (each has its own
// budget of refused requests in the server):
//
//   node dist/bench/soak-abusers.js SOCKET TLS_PORT
//
// Keeps connections of each kind going until SIGTERM, then prints how many it
// opened (JSON) and exits:
//   held       idle UNIX connections, opened again when the server closes them
//   pipelined  connections that send garbage lines as fast as they are read
//   half-open  TCP connections to the TLS port that never start a handshake
//   garbage    connections that send random bytes (UNIX and TLS port) and go
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export const ABUSERS = { held: 64, pipelined: 4, halfOpen: 32, garbage: 8 };

/** Keeps `count` connections of one kind going until stop() (each one opened again once it ends). */
class Abuser {
  private running = true;
  private readonly open = new Set<net.Socket>();
  connections = 0;

  constructor(
    readonly name: string,
    private readonly count: number,
    private readonly connect: () => net.Socket,
    private readonly behave: (socket: net.Socket) => void,
  ) {}

  start(): void {
    for (let i = 0; i < this.count; i++) this.one();
  }

  private one(): void {
    if (!this.running) return;
    this.connections++;
    const socket = this.connect();
    this.open.add(socket);
    socket.on('error', () => undefined);
    socket.resume(); // read and drop what comes, so that closes are seen
    socket.once('connect', () => this.behave(socket));
    socket.once('close', () => {
      this.open.delete(socket);
      setTimeout(() => this.one(), 20); // not a tight loop when the server refuses at once
    });
  }

  stop(): void {
    this.running = false;
    for (const socket of this.open) socket.destroy();
  }
}

/** Writes garbage lines for as long as the connection takes them. */
function pipeline(socket: net.Socket): void {
  const chunk = Buffer.from('garbage line that is not a command at all\n'.repeat(1000));
  const more = () => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', more);
  more();
}


function main(): void {
  const [socketPath, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!socketPath || !(port > 0)) {
    process.stderr.write('usage: soak-abusers SOCKET TLS_PORT\n');
    process.exit(2);
  }
  const unix = () => net.connect(socketPath);
  const tcp = () => net.connect({ host: '127.0.0.1', port });
  const abusers = [
    new Abuser('held', ABUSERS.held, unix, () => undefined),
    new Abuser('pipelined', ABUSERS.pipelined, unix, pipeline),
    new Abuser('half-open TLS', ABUSERS.halfOpen, tcp, () => undefined),
    new Abuser('garbage (UNIX)', ABUSERS.garbage / 2, unix, (s) => s.end(randomBytes(4096))),
    new Abuser('garbage (TLS port)', ABUSERS.garbage / 2, tcp, (s) => s.end(randomBytes(4096))),
  ];
  for (const abuser of abusers) abuser.start();
  process.stdout.write('abusing\n');
  process.on('SIGTERM', () => {
    for (const abuser of abusers) abuser.stop();
    process.stdout.write(`${JSON.stringify(Object.fromEntries(abusers.map((a) => [a.name, a.connections])))}\n`);
    process.exit(0);
  });
}

if (process.argv[1]?.endsWith('soak-abusers.js')) main();
