// Who is on the other end of a UNIX socket: SO_PEERCRED, through koffi (Node
// has no binding for getsockopt).
import koffi from 'koffi';
import type net from 'node:net';
import { socketDescriptor } from '../launcher/handoff.js';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59;
const MAX_GROUPS = 256;

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (SO_PEERGROUPS). */
  groups: number[];
}

type GetSockOpt = (fd: number, level: number, name: number, out: object, len: number[]) => number;
let bindings: { credentials: GetSockOpt; groups: GetSockOpt } | undefined;

function binding() {
  if (!bindings) {
    const libc = koffi.load('libc.so.6');
    koffi.struct('fnjail_ucred', { pid: 'int32', uid: 'uint32', gid: 'uint32' });
    bindings = {
      credentials: libc.func('int getsockopt(int fd, int level, int name, _Out_ fnjail_ucred *val, _Inout_ uint32_t *len)'),
      groups: libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
    };
  }
  return bindings;
}

/** The credentials of the process that connected, as the kernel recorded them at connect(). */
export function peerCredentials(socket: net.Socket): PeerCredentials {
  const fd = socketDescriptor(socket);
  if (fd === undefined) throw new Error('socket has no file descriptor');
  const { credentials, groups } = binding();
  const out = { pid: 0, uid: 0, gid: 0 };
  if (credentials(fd, SOL_SOCKET, SO_PEERCRED, out, [12]) !== 0) {
    throw new Error(`getsockopt(SO_PEERCRED) failed: errno ${koffi.errno()}`);
  }
  const buffer = Buffer.alloc(MAX_GROUPS * 4);
  const len = [buffer.length];
  if (groups(fd, SOL_SOCKET, SO_PEERGROUPS, buffer, len) !== 0) {
    throw new Error(`getsockopt(SO_PEERGROUPS) failed: errno ${koffi.errno()}`);
  }
  const list: number[] = [];
  for (let i = 0; i + 4 <= len[0]!; i += 4) list.push(buffer.readUInt32LE(i));
  return { ...out, groups: list };
}
