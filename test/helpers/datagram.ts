// A UNIX datagram socket to receive what a server sends to systemd
// (NOTIFY_SOCKET): Node has none, so through koffi, as src/cli/sd-notify.ts sends.
import koffi from 'koffi';
import { setTimeout as sleep } from 'node:timers/promises';
import { notifyAddress } from '../../src/cli/sd-notify.js';
import { HANG_GUARD_MS } from './environment.js';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;

const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int domain, int type, int protocol)');
const bind = libc.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
const recv = libc.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)');
const close = libc.func('int close(int fd)');

export interface NotifyListener {
  /** The next datagram, waited for. */
  next(): Promise<string>;
  close(): void;
}

export function listenForNotifications(name: string): NotifyListener {
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  const { address, length } = notifyAddress(name);
  if (fd < 0 || bind(fd, address, length) !== 0) throw new Error(`cannot bind ${name}: errno ${koffi.errno()}`);
  return {
    async next() {
      const buffer = Buffer.alloc(4096);
      const deadline = Date.now() + HANG_GUARD_MS;
      for (;;) {
        const n = recv(fd, buffer, buffer.length, MSG_DONTWAIT) as number;
        if (n >= 0) return buffer.subarray(0, n).toString();
        if (Date.now() > deadline) throw new Error(`no datagram on ${name}`);
        await sleep(10);
      }
    },
    close: () => void close(fd),
  };
}
