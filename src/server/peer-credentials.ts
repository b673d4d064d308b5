// Who is on the other end of a UNIX socket: SO_PEERCRED, through koffi (Node
// has no binding for getsockopt).
import koffi from 'koffi';
import type net from 'node:net';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

let getsockopt: ((fd: number, level: number, name: number, out: object, len: number[]) => number) | undefined;

function binding() {
  if (!getsockopt) {
    const libc = koffi.load('libc.so.6');
    koffi.struct('fnjail_ucred', { pid: 'int32', uid: 'uint32', gid: 'uint32' });
    getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ fnjail_ucred *val, _Inout_ uint32_t *len)');
  }
  return getsockopt;
}

/** The credentials of the process that connected, as the kernel recorded them at connect(). */
export function peerCredentials(socket: net.Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error('socket has no file descriptor');
  const out = { pid: 0, uid: 0, gid: 0 };
  const len = [12];
  if (binding()(fd, SOL_SOCKET, SO_PEERCRED, out, len) !== 0) {
    throw new Error(`getsockopt(SO_PEERCRED) failed: errno ${koffi.errno()}`);
  }
  return out;
}
