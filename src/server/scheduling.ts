// The server's share of the CPU. Every request of every client goes through
// the server's one event loop; when a host is saturated (the classic
// checker's burst: a thousand client processes started at once), the kernel
// gives that loop the share of any one of them, and requests wait to be read
// while clients time out. So the server's main thread runs at a higher
// priority (nice SERVER_NICE), with SCHED_RESET_ON_FORK: whatever it starts
// (the sandbox launcher, hence every sandbox; getent) starts at nice 0, so
// tenants' code never inherits it. bench/checker-burst.ts measures the effect.
import koffi from 'koffi';
import os from 'node:os';

export const SERVER_NICE = -10;
const SCHED_OTHER = 0;
const SCHED_RESET_ON_FORK = 0x40000000;

/** Raises the calling (main) thread's priority; returns what was done, for the log. */
export function raiseServerPriority(): { nice: number } | { error: string } {
  try {
    const libc = koffi.load('libc.so.6');
    const setScheduler = libc.func('int sched_setscheduler(int pid, int policy, const int *param)');
    // First, so that no child can ever inherit the raised priority.
    if (setScheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, [0]) !== 0) throw new Error(`sched_setscheduler: errno ${koffi.errno()}`);
    os.setPriority(0, SERVER_NICE); // pid 0: the calling thread, on Linux
    return { nice: os.getPriority(0) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
