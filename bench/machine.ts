// The machine line: results are only comparable on the same machine.
import fs from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  memoryGiB: number;
  /** e.g. "AMD EPYC, 2 cores, Linux 6.1.0, Node.js v20.20.2" */
  line: string;
}

export function machineInfo(): Machine {
  let cpu = os.cpus()[0]?.model?.trim() ?? '';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // keep what os.cpus() said
  }
  cpu ||= 'unknown CPU';
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const kernel = `${os.type()} ${os.release()}`;
  const memoryGiB = Math.round((os.totalmem() / 2 ** 30) * 10) / 10;
  return {
    cpu,
    cores,
    kernel,
    node: process.version,
    memoryGiB,
    line: `${cpu}, ${cores} cores, ${memoryGiB} GiB, ${kernel}, Node.js ${process.version}`,
  };
}
