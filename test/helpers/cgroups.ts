// What this host gives the launcher to enforce limits with, probed from the
// outside (mounts, this process's cgroup), so that tests assert what the host
// must do rather than what one machine happened to have.
import fs from 'node:fs';

export interface Enforcement {
  memory: string;
  processes: string;
  cpu: string;
}

/** What the launcher (forked from a server forked from this process, so in its cgroup) must report. */
export function expectedEnforcement(): { host: string; limits: Enforcement } {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' '));
  const unified = mounts.find((m) => m[2] === 'cgroup2' && m[1] === '/sys/fs/cgroup');
  if (unified) {
    // cgroup v2: the launcher enables memory and pids below its own cgroup,
    // which only works there when that cgroup holds no process: the root.
    const own = /^0::(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '';
    const controllers = fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8');
    if (own === '/' && /\bmemory\b/.test(controllers) && /\bpids\b/.test(controllers)) {
      const cpu = /\bcpu\b/.test(controllers) ? 'cgroup v2 and RLIMIT_CPU' : 'RLIMIT_CPU';
      return { host: 'cgroup v2, in the root cgroup', limits: { memory: 'cgroup v2', processes: 'cgroup v2', cpu } };
    }
    return { host: `cgroup v2, in ${own} (controllers cannot be enabled below a cgroup holding processes)`, limits: rlimitsOnly() };
  }
  const v1 = (controller: string) => mounts.some((m) => m[2] === 'cgroup' && (m[3] ?? '').split(',').includes(controller));
  if (!v1('memory') && !v1('pids') && !v1('cpuacct')) return { host: 'no cgroups', limits: rlimitsOnly() };
  return {
    host: `cgroup v1 (${['memory', 'pids', 'cpuacct'].filter(v1).join(', ')})`,
    limits: {
      memory: v1('memory') ? 'cgroup v1' : 'RLIMIT_AS',
      processes: v1('pids') ? 'cgroup v1' : 'RLIMIT_NPROC',
      cpu: v1('cpuacct') ? 'cgroup v1 and RLIMIT_CPU' : 'RLIMIT_CPU',
    },
  };
}

function rlimitsOnly(): Enforcement {
  return { memory: 'RLIMIT_AS', processes: 'RLIMIT_NPROC', cpu: 'RLIMIT_CPU' };
}
