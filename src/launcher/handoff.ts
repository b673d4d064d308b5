// Handing a connection over to the launcher: a per-connection program's
// standard input and output are the accepted TCP connection itself. The
// server and the launcher share a SOCK_SEQPACKET socket pair (the launcher's
// end is its fd 3, --handoff-socket 3); the server sends struct fnj_handoff
// (the execution's id) with the connection's descriptor attached (SCM_RIGHTS),
// then the execution's frame, then closes its own copy. Node has no binding
// for socketpair or SCM_RIGHTS: koffi calls libc.
import koffi from 'koffi';
import type net from 'node:net';
import { encodeHandoff } from './protocol.js';

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** struct cmsghdr with one int (x86_64): cmsg_len (8), level (4), type (4), the fd, padding. */
const CMSG_LEN_ONE_FD = 20;
const CMSG_SPACE_ONE_FD = 24;

interface Libc {
  socketpair: (domain: number, type: number, protocol: number, sv: Buffer) => number;
  sendmsg: (fd: number, msg: object, flags: number) => number;
  close: (fd: number) => number;
}
let libc: Libc | undefined;

function binding(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    koffi.struct('fnjail_iovec', { base: 'void *', len: 'size_t' });
    koffi.struct('fnjail_msghdr', {
      name: 'void *',
      namelen: 'uint32_t',
      iov: 'fnjail_iovec *',
      iovlen: 'size_t',
      control: 'void *',
      controllen: 'size_t',
      flags: 'int',
    });
    libc = {
      socketpair: lib.func('int socketpair(int domain, int type, int protocol, _Out_ uint8_t *sv)'),
      sendmsg: lib.func('intptr_t sendmsg(int fd, const fnjail_msghdr *msg, int flags)'),
      close: lib.func('int close(int fd)'),
    };
  }
  return libc;
}

/** The descriptor of a net.Socket (the kernel's, as Node holds it). */
export function socketDescriptor(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return fd !== undefined && fd >= 0 ? fd : undefined;
}

/** The server's end of a handoff socket pair; the launcher's end is given to it at spawn. */
export class HandoffChannel {
  private constructor(
    private ours: number,
    private theirs: number,
  ) {}

  static create(): HandoffChannel {
    const sv = Buffer.alloc(8);
    if (binding().socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) !== 0) {
      throw new Error(`socketpair: errno ${koffi.errno()}`);
    }
    return new HandoffChannel(sv.readInt32LE(0), sv.readInt32LE(4));
  }

  /** The launcher's end, for spawn's stdio; closed here once the launcher has it. */
  get launcherEnd(): number {
    return this.theirs;
  }

  launcherStarted(): void {
    if (this.theirs >= 0) binding().close(this.theirs);
    this.theirs = -1;
  }

  /** Sends the connection's descriptor for execution `id`; throws saying why it could not. */
  send(id: number, fd: number): void {
    if (this.ours < 0) throw new Error('the handoff socket is closed');
    const body = encodeHandoff(id);
    const control = Buffer.alloc(CMSG_SPACE_ONE_FD);
    control.writeBigUInt64LE(BigInt(CMSG_LEN_ONE_FD), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    control.writeInt32LE(fd, 16);
    const message = { name: null, namelen: 0, iov: { base: body, len: body.length }, iovlen: 1, control, controllen: control.length, flags: 0 };
    // Never blocks the event loop: a launcher that does not read is a full socket, and the call fails.
    if (binding().sendmsg(this.ours, message, MSG_DONTWAIT | MSG_NOSIGNAL) !== body.length) {
      throw new Error(`cannot hand the connection over to the sandbox launcher (sendmsg: errno ${koffi.errno()})`);
    }
  }

  close(): void {
    for (const fd of [this.ours, this.theirs]) if (fd >= 0) binding().close(fd);
    this.ours = this.theirs = -1;
  }
}
