// The share of the CPU of the server and its sandbox launcher. Every request
// of every client goes through the server's one event loop, and every call
// through the launcher; when a host is saturated (the classic checker's
// burst: a thousand client processes started at once), the kernel gives each
// of them the share of any one of those processes, so requests wait to be
// read and calls to start while clients time out. So both run at a higher
// priority (nice RAISED_NICE: the server's main thread, the launcher's one
// thread), with SCHED_RESET_ON_FORK: whatever they start (every sandbox,
// getent) starts at nice 0, so tenants' code never inherits it.
import koffi from 'koffi';
import os from 'node:os';

export const RAISED_NICE = -10;
const SCHED_OTHER = 0;
const SCHED_RESET_ON_FORK = 0x40000000;

let setScheduler: ((pid: number, policy: number, param: number[]) => number) | undefined;

/** Raises the priority of a thread (pid 0: the calling one); returns the nice value, or why not. */
export function raisePriority(pid = 0): { nice: number } | { error: string } {
  try {
    setScheduler ??= koffi.load('libc.so.6').func('int sched_setscheduler(int pid, int policy, const int *param)');
    // First, so that no child can ever inherit the raised priority.
    if (setScheduler!(pid, SCHED_OTHER | SCHED_RESET_ON_FORK, [0]) !== 0) throw new Error(`sched_setscheduler: errno ${koffi.errno()}`);
    os.setPriority(pid, RAISED_NICE);
    return { nice: os.getPriority(pid) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
