// Who is on the other end of a UNIX socket: SO_PEERCRED, through koffi (Node
// has no binding for getsockopt).
//
// Asked on every connection, so the binding passes raw buffers (one for each
// option, and the length) allocated once and reused: koffi hands a Buffer or a
// typed array over as a pointer without converting it, where a struct or an
// array argument is marshalled field by field (measured: 14 us a connection
// with those, ~2 us this way). The server is one thread and the values are
// copied out before this returns, so nothing is shared between calls.
import koffi from 'koffi';
import type net from 'node:net';
import { socketDescriptor } from '../launcher/handoff.js';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59;
const MAX_GROUPS = 256;
/** struct ucred: pid, uid, gid (32 bits each). */
const UCRED_BYTES = 12;

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (SO_PEERGROUPS). */
  groups: number[];
}

type GetSockOpt = (fd: number, level: number, name: number, out: Buffer, len: Uint32Array) => number;
let getsockopt: GetSockOpt | undefined;

const ucred = Buffer.alloc(UCRED_BYTES);
const groupsBuffer = Buffer.alloc(MAX_GROUPS * 4);
const length = new Uint32Array(1);

function binding(): GetSockOpt {
  getsockopt ??= koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int name, uint8_t *val, uint32_t *len)') as GetSockOpt;
  return getsockopt;
}

/** The credentials of the process that connected, as the kernel recorded them at connect(). */
export function peerCredentials(socket: net.Socket): PeerCredentials {
  const fd = socketDescriptor(socket);
  if (fd === undefined) throw new Error('socket has no file descriptor');
  const call = binding();
  length[0] = UCRED_BYTES;
  if (call(fd, SOL_SOCKET, SO_PEERCRED, ucred, length) !== 0) throw new Error(`getsockopt(SO_PEERCRED) failed: errno ${koffi.errno()}`);
  if (length[0] !== UCRED_BYTES) throw new Error(`getsockopt(SO_PEERCRED) gave ${length[0]} bytes, not ${UCRED_BYTES}`);
  const pid = ucred.readInt32LE(0);
  const uid = ucred.readUInt32LE(4);
  const gid = ucred.readUInt32LE(8);
  length[0] = groupsBuffer.length;
  if (call(fd, SOL_SOCKET, SO_PEERGROUPS, groupsBuffer, length) !== 0) throw new Error(`getsockopt(SO_PEERGROUPS) failed: errno ${koffi.errno()}`);
  const groups: number[] = [];
  for (let i = 0; i + 4 <= length[0]!; i += 4) groups.push(groupsBuffer.readUInt32LE(i));
  return { pid, uid, gid, groups };
}
