// Several "hosts" on this one machine, for tests of what crosses a network (a
// cluster): each host is a network namespace with its own address on a
// private subnet, joined to the others by a veth pair into a bridge, plus a
// cpuacct cgroup (so a host's CPU use can be told from the others') and, for
// each process run in it, a UTS namespace with the host's name as host name.
//
// Everything is named with a per-run prefix and recorded, before it is made,
// in /run/fnjail-tests/netns/<prefix>.json: destroy() (from after() hooks)
// removes it, an exit handler does too if a test process ends without, and
// every new run first removes what runs whose process is gone left behind.
// The subnet, 10.231.X.0/24, is claimed with an atomic mkdir and checked
// against the addresses in use, so concurrent test runs never share one.
//
// Processes enter a host with nsenter --net (ip netns exec would also remount
// /sys, hiding the cgroup files a heartbeat reads) and die with the test
// process (setpriv --pdeathsig).
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from '../../src/cluster/private-nats.js';
import { requireRoot } from './environment.js';

const STATE_DIR = '/run/fnjail-tests';
const RECORDS = path.join(STATE_DIR, 'netns');
const SUBNET_CLAIMS = path.join(STATE_DIR, 'subnets');
const CGROUP_PARENT = 'fnjail-tests';

export interface NetnsHost {
  /** Also its host name inside. */
  name: string;
  netns: string;
  address: string;
  /** Its cpuacct cgroup directory, if this kernel has one to make. */
  cgroupDir: string | undefined;
  /** argv, wrapped to run inside the host. */
  command(argv: string[]): string[];
  /** Starts a process inside the host (killed by destroy()). */
  spawn(argv: string[], options?: SpawnOptions): ChildProcess;
  /** Runs a command inside the host to its end; throws if it fails. */
  run(argv: string[]): string;
}

export interface NetnsNetwork {
  prefix: string;
  /** "10.231.X" */
  subnet: string;
  /** The bridge's address: how the test process itself reaches the hosts. */
  bridgeAddress: string;
  hosts: NetnsHost[];
  host(name: string): NetnsHost;
  /** Kills every process in the hosts and removes everything made. */
  destroy(): void;
}

interface Record {
  pid: number;
  netns: string[];
  bridge?: string;
  cgroups: string[];
  subnetClaim?: string;
}

function sh(command: string, args: string[], options: { ignoreFailure?: boolean } = {}): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (error) {
    if (options.ignoreFailure) return '';
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}


/** The cpuacct hierarchy: cgroup v1's, or the v2 tree; undefined if neither can be used. */
function cpuCgroupRoot(): { root: string; v2: boolean } | undefined {
  for (const v1 of ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct']) {
    if (fs.existsSync(path.join(v1, 'cpuacct.usage'))) return { root: v1, v2: false };
  }
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return { root: '/sys/fs/cgroup', v2: true };
  return undefined;
}

function procsOf(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A cgroup's subtree, deepest first (rmdir needs its children gone). */
function cgroupTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const children = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  return [...children.flatMap((c) => cgroupTree(path.join(dir, c.name))), dir];
}

/** Removes what a record lists; each step tolerates what is gone already. */
function removeRecorded(record: Record, file: string): void {
  for (const ns of record.netns) killAll(sh('ip', ['netns', 'pids', ns], { ignoreFailure: true }).split('\n').filter(Boolean).map(Number));
  for (const cgroup of record.cgroups) for (const dir of cgroupTree(cgroup)) killAll(procsOf(dir));
  for (const ns of record.netns) sh('ip', ['netns', 'del', ns], { ignoreFailure: true });
  if (record.bridge) sh('ip', ['link', 'del', record.bridge], { ignoreFailure: true });
  for (const cgroup of record.cgroups) {
    for (const dir of cgroupTree(cgroup)) {
      // A killed process leaves its cgroup when it is reaped: a bounded wait for that event.
      for (let attempt = 0; attempt < 200 && fs.existsSync(dir); attempt++) {
        try {
          fs.rmdirSync(dir);
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
        }
      }
    }
  }
  if (record.subnetClaim) fs.rmSync(record.subnetClaim, { recursive: true, force: true });
  fs.rmSync(file, { force: true });
}

/** Removes what test runs whose process is gone left behind. */
function sweepStale(): void {
  for (const name of fs.existsSync(RECORDS) ? fs.readdirSync(RECORDS) : []) {
    const file = path.join(RECORDS, name);
    try {
      const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Record;
      if (!isAlive(record.pid)) removeRecorded(record, file);
    } catch {
      // being written by its run, or removed meanwhile
    }
  }
  for (const claim of fs.existsSync(SUBNET_CLAIMS) ? fs.readdirSync(SUBNET_CLAIMS) : []) {
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(SUBNET_CLAIMS, claim, 'pid'), 'utf8').trim());
    } catch {
      continue; // just claimed: its pid comes next
    }
    if (owner && !isAlive(owner)) fs.rmSync(path.join(SUBNET_CLAIMS, claim), { recursive: true, force: true });
  }
}

/** A free 10.231.X subnet, claimed for this process. */
function claimSubnet(record: Record, save: () => void): string {
  fs.mkdirSync(SUBNET_CLAIMS, { recursive: true, mode: 0o700 });
  const inUse = sh('ip', ['-4', '-o', 'addr', 'show']);
  const start = randomInt(256);
  for (let i = 0; i < 256; i++) {
    const subnet = `10.231.${(start + i) % 256}`;
    if (inUse.includes(` ${subnet}.`)) continue;
    const claim = path.join(SUBNET_CLAIMS, subnet);
    try {
      fs.mkdirSync(claim);
    } catch {
      continue; // another run's
    }
    fs.writeFileSync(path.join(claim, 'pid'), `${process.pid}\n`);
    record.subnetClaim = claim;
    save();
    return subnet;
  }
  throw new Error('no free 10.231.X.0/24 subnet for test hosts');
}

let runs = 0;

/** Makes hosts with these names (each also its host name), in a fresh subnet. */
export function createHosts(names: string[]): NetnsNetwork {
  requireRoot();
  for (const tool of ['ip', 'nsenter', 'unshare', 'setpriv']) {
    if (!sh('sh', ['-c', `command -v ${tool} || true`]).trim()) throw new Error(`test hosts need ${tool} (Debian: iproute2, util-linux)`);
  }
  fs.mkdirSync(RECORDS, { recursive: true, mode: 0o700 });
  sweepStale();
  // Interface names have at most 15 characters: the prefix is short.
  const prefix = `fj${process.pid.toString(36)}${(runs++).toString(36)}`;
  const file = path.join(RECORDS, `${prefix}.json`);
  const record: Record = { pid: process.pid, netns: [], cgroups: [] };
  const save = () => fs.writeFileSync(file, JSON.stringify(record));
  save();
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener('exit', destroy);
    removeRecorded(record, file);
  };
  process.on('exit', destroy);
  try {
    const subnet = claimSubnet(record, save);
    const bridge = `${prefix}b`;
    record.bridge = bridge;
    save();
    sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${subnet}.254/24`, 'dev', bridge]);
    sh('ip', ['link', 'set', bridge, 'up']);
    const cgroups = cpuCgroupRoot();
    if (cgroups) fs.mkdirSync(path.join(cgroups.root, CGROUP_PARENT), { recursive: true });
    const hosts = names.map((name, i) => {
      const netns = `${prefix}-${name}`;
      const veth = `${prefix}v${i}`;
      record.netns.push(netns);
      save();
      sh('ip', ['netns', 'add', netns]);
      sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      sh('ip', ['link', 'set', veth, 'master', bridge, 'up']);
      const address = `${subnet}.${i + 1}`;
      sh('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      let cgroupDir: string | undefined;
      if (cgroups) {
        cgroupDir = path.join(cgroups.root, CGROUP_PARENT, netns);
        record.cgroups.push(cgroupDir);
        save();
        fs.mkdirSync(cgroupDir);
      }
      return makeHost(name, netns, address, cgroupDir);
    });
    return {
      prefix,
      subnet,
      bridgeAddress: `${subnet}.254`,
      hosts,
      host(name) {
        const found = hosts.find((h) => h.name === name);
        if (!found) throw new Error(`no test host ${name}`);
        return found;
      },
      destroy,
    };
  } catch (error) {
    destroy();
    throw error;
  }
}

function makeHost(name: string, netns: string, address: string, cgroupDir: string | undefined): NetnsHost {
  const procs = cgroupDir ? path.join(cgroupDir, 'cgroup.procs') : '/dev/null';
  const command = (argv: string[]) => [
    'setpriv', '--pdeathsig', 'SIGKILL', '--',
    'nsenter', `--net=/run/netns/${netns}`, '--',
    'unshare', '--uts', '--',
    // Joins the host's cgroup and takes its name before becoming the command.
    'sh', '-c', 'echo $$ > "$1" && hostname "$2" && shift 2 && exec "$@"', 'sh', procs, name,
    ...argv,
  ];
  return {
    name,
    netns,
    address,
    cgroupDir,
    command,
    spawn(argv, options = {}) {
      const [file, ...args] = command(argv);
      return spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    },
    run(argv) {
      const [file, ...args] = command(argv);
      return sh(file!, args);
    },
  };
}
