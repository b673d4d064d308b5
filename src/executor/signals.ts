// Signal numbers to names and what they mean to a person.
import { constants } from 'node:os';

const MEANINGS: Record<string, string> = {
  SIGSEGV: 'invalid memory reference',
  SIGBUS: 'bus error, bad memory access',
  SIGABRT: 'aborted',
  SIGFPE: 'arithmetic exception',
  SIGILL: 'illegal instruction',
  SIGTRAP: 'trace or breakpoint trap',
  SIGSYS: 'bad system call',
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGINT: 'interrupted',
  SIGQUIT: 'quit',
  SIGHUP: 'hangup',
  SIGPIPE: 'broken pipe',
  SIGALRM: 'alarm clock',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'file size limit exceeded',
  SIGUSR1: 'user-defined signal 1',
  SIGUSR2: 'user-defined signal 2',
};

const NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) {
  if (!NAMES.has(number)) NAMES.set(number, name);
}
// Node lists SIGIOT and SIGABRT (6), SIGPOLL and SIGIO: prefer the usual ones.
NAMES.set(constants.signals.SIGABRT, 'SIGABRT');
NAMES.set(constants.signals.SIGIO, 'SIGIO');

export function signalName(signal: number): string {
  return NAMES.get(signal) ?? `SIG${signal}`;
}

/** "SIGSEGV, invalid memory reference" */
export function describeSignal(signal: number): string {
  const name = signalName(signal);
  const meaning = MEANINGS[name];
  return meaning ? `${name}, ${meaning}` : name;
}
