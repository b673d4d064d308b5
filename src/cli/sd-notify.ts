// sd_notify(3) without libsystemd: under a systemd unit with Type=notify,
// $NOTIFY_SOCKET names a UNIX datagram socket (a path, or "@name" in the
// abstract namespace) to which the service sends "READY=1" once it serves,
// "STOPPING=1" when it stops. Node has no UNIX datagram sockets: koffi calls
// libc's socket() and sendto(). Outside systemd (no NOTIFY_SOCKET) nothing.
import koffi from 'koffi';
import type { Logger } from 'pino';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_MAX = 108;

type Libc = {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  close: (fd: number) => number;
};
let libc: Libc | undefined;

function bindings(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    libc = {
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      sendto: lib.func('intptr_t sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t addrlen)'),
      close: lib.func('int close(int fd)'),
    };
  }
  return libc;
}

/** struct sockaddr_un for NOTIFY_SOCKET, and the length to pass with it. */
export function notifyAddress(name: string): { address: Buffer; length: number } {
  const abstract = name.startsWith('@');
  const path = Buffer.from(abstract ? `\0${name.slice(1)}` : name);
  if (path.length >= SUN_PATH_MAX || (!abstract && !name.startsWith('/'))) throw new Error(`NOTIFY_SOCKET=${name} is not a socket path`);
  const address = Buffer.alloc(2 + SUN_PATH_MAX);
  address.writeUInt16LE(AF_UNIX, 0);
  path.copy(address, 2);
  // A path ends with its NUL; an abstract name is exactly its bytes.
  return { address, length: 2 + path.length + (abstract ? 0 : 1) };
}

/** Sends one notification to systemd, if it asked for them; a failure is logged, never fatal. */
export function notifySystemd(state: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): boolean {
  const name = env.NOTIFY_SOCKET;
  if (!name) return false;
  try {
    const { address, length } = notifyAddress(name);
    const { socket, sendto, close } = bindings();
    const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket() failed: errno ${koffi.errno()}`);
    const message = Buffer.from(state);
    const sent = sendto(fd, message, message.length, 0, address, length);
    const errno = koffi.errno();
    close(fd);
    if (sent !== message.length) throw new Error(`sendto() failed: errno ${errno}`);
    return true;
  } catch (error) {
    logger.warn({ err: error, notifySocket: name }, `cannot notify systemd (${state.split('\n')[0]}): ${(error as Error).message}`);
    return false;
  }
}
