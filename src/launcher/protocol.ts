// The binary frames between the server and fnjail-launcher. The C side is
// sandbox/protocol.h: keep the two in step (test/unit/launcher-protocol.test.ts
// compiles the header and checks every constant and struct layout here
// against it, and that no constant of the header is left unchecked).

export const PROTOCOL_VERSION = 3;
export const HEADER_SIZE = 8;
export const MAX_FRAME = 64 * 1024;
/** Bytes of a path and of a function name, without terminator. */
export const MAX_PATH = 4095;
export const MAX_FUNCTION = 255;
/** BPF instructions of a seccomp filter. */
export const MAX_FILTER = 4096;
export const MAX_GROUPS = 256;
/** A program's arguments and environment: bytes (each string with its NUL) and counts. */
export const MAX_ARGV = 16384;
export const MAX_ARGS = 256;
export const MAX_ENV = 8192;
export const MAX_ENV_ENTRIES = 64;
/** Bytes of the sandboxes' host name. */
export const MAX_HOSTNAME = 64;
/** Bytes of a result's message, with terminator, and learned system calls. */
export const MAX_MESSAGE = 1024;
export const MAX_LEARNED = 512;
/** How long the launcher lets a request wait for a prepared sandbox, and how
 * long past its timeout a sandbox may take to report before it is killed:
 * with the timeout they bound how long a result can take. */
export const QUEUE_DEADLINE_MS = 10_000;
export const BACKSTOP_GRACE_MS = 2000;

/** Byte offsets of struct fnj_exec's fields, and its size. */
export const EXEC_LAYOUT = {
  id: 0, flags: 4, timeout_ms: 8, sandbox_uid: 12,
  cpu_ms: 16, memory_bytes: 24, max_procs: 32, max_files: 40, output_bytes: 48, tmp_bytes: 56,
  library_len: 64, function_len: 66, input_len: 68, output_len: 70, filter_len: 72,
  tenant_uid: 76, tenant_gid: 80, tenant_groups: 84, kind: 86, idle_ms: 88,
  cwd_len: 92, bundle_len: 94, work_len: 96, argv_len: 98, env_len: 100, reserved: 102,
  size: 104,
} as const;

/** Byte offsets of struct fnj_handoff (a connection handed over), and its size. */
export const HANDOFF_LAYOUT = { id: 0, size: 4 } as const;

/** Byte offsets of struct fnj_result's fields, and its size. */
export const RESULT_LAYOUT = {
  id: 0, outcome: 4, phase: 8, flags: 12, exit_code: 16, term_signal: 20, seccomp_nr: 24, seccomp_arch: 28,
  sandbox_uid: 32, procs_killed: 36, fault_addr: 40, cpu_us: 48, output_disk_bytes: 56, maxrss_kb: 64, run_us: 72,
  total_us: 80, memory_peak_bytes: 88, cgroup_cpu_us: 96, output_bytes: 104, message_len: 112, learned_len: 114,
  size: 116,
} as const;

/** Byte offsets of struct fnj_ready's fields, and its size. */
export const READY_LAYOUT = { version: 0, max_sandboxes: 4, uid_first: 8, uid_count: 12, features: 16, size: 20 } as const;

export const FrameType = { Exec: 1, Cancel: 2, Ready: 100, Result: 101 } as const;

export const ResultFlag = {
  FaultAddress: 1 << 0,
  StackOverflow: 1 << 1,
  OomKill: 1 << 2,
  ProcessLimit: 1 << 3,
  OutputLimit: 1 << 4,
  TmpFull: 1 << 5,
  CpuLimit: 1 << 6,
  FileSizeLimit: 1 << 7,
  OutputDisk: 1 << 8,
  WorkFull: 1 << 9,
} as const;

/** What the launcher can enforce on this host beyond what it needs to run at
 * all (READY's features; it refuses to start without those). */
export const Feature = {
  ProcessAccounting: 1 << 1,
  CgroupMemory: 1 << 2,
  CgroupPids: 1 << 3,
  CgroupCpu: 1 << 4,
  CgroupV2: 1 << 5,
} as const;

export const ExecFlag = {
  StderrToOutput: 1 << 0,
  FreshNetns: 1 << 1,
  SeccompNotify: 1 << 2,
  SeccompLearn: 1 << 3,
  SharedIpc: 1 << 4,
  StdinSocket: 1 << 5,
} as const;

/** What an execution runs. */
export enum Kind {
  Library = 0,
  Program = 1,
  Build = 2,
}

/** How an execution ended, as vouched for by the launcher and supervisor. */
export enum Outcome {
  Completed = 0,
  TimedOut = 1,
  Seccomp = 2,
  LaunchFailed = 3,
  SupervisorLost = 4,
  Cancelled = 5,
  CpuLimit = 6,
  Stopped = 7,
  InputDenied = 8,
  SupervisionFailed = 9,
  Idle = 10,
}

/** How far the worker got (reported from inside: advisory once the library ran). */
export enum Phase {
  Setup = 0,
  SetupFailed = 1,
  Loading = 2,
  LoadFailed = 3,
  Resolving = 4,
  ResolveFailed = 5,
  NotAFunction = 6,
  Running = 7,
  Returned = 8,
  ExecFailed = 9,
}

export interface Limits {
  timeoutMs: number;
  cpuMs: number;
  memoryBytes: number;
  maxProcs: number;
  maxFiles: number;
  outputBytes: number;
  tmpBytes: number;
}

/** One execution as it goes on the wire (launcher-process.ts builds it from a RunSpec). */
export interface ExecSpec {
  id: number;
  flags: number;
  limits: Limits;
  kind: Kind;
  /** The library, or the program; '' for a build. */
  library: string;
  /** A library's function; '' otherwise. */
  function: string;
  /** A library's input file (placed), or a program's or build's standard input (read). */
  input: string | undefined;
  output: string;
  /** Programs and builds: working directory (default /tmp; a build's work directory). */
  cwd?: string | undefined;
  /** A directory placed read-only at its own path. */
  bundle?: string | undefined;
  /** A build's work directory, placed writable at its own path. */
  work?: string | undefined;
  argv?: string[];
  /** NAME=VALUE entries; none: the worker's own clean environment. */
  env?: string[];
  /** With a connection (ExecFlag.StdinSocket): no data either way this long ends the call; 0: none. */
  idleMs?: number;
  /** Compiled seccomp program (struct sock_filter[]), or empty for none. */
  filter: Buffer;
  /** Who asked: the launcher opens the input file with these credentials. */
  tenant: { uid: number; gid: number; groups: number[] };
}

export interface LaunchResult {
  id: number;
  outcome: Outcome;
  phase: Phase;
  exitCode: number | null;
  /** The signal that killed the worker (or stopped it, for Outcome.Stopped). */
  signal: number | null;
  faultAddress: bigint | null;
  /** The fault was at the stack pointer (reported by the worker: advisory). */
  stackOverflow: boolean;
  oomKilled: boolean;
  processLimitHit: boolean;
  outputLimitHit: boolean;
  tmpFull: boolean;
  /** A process reached RLIMIT_CPU, or all together the call's CPU time. */
  cpuLimitHit: boolean;
  /** A process of the call was stopped by the file size limit (SIGXFSZ). */
  fileSizeLimitHit: boolean;
  /** The output file held more disk than the output limit (released since). */
  outputDiskExceeded: boolean;
  /** A build's work directory's file system was full at the end. */
  workDirFull: boolean;
  /** The disk the output file held at the end. */
  outputDiskBytes: number;
  /** Peak memory of the sandbox's cgroup, or 0 when not known. */
  memoryPeakBytes: number;
  /** CPU time of all the sandbox's processes (cgroup), or 0 when not known. */
  cgroupCpuUs: number;
  outputBytes: number;
  seccompNr: number | null;
  seccompArch: number;
  sandboxUid: number;
  procsKilled: number;
  /** User and system time of every process of the call the supervisor reaped. */
  cpuUs: number;
  maxRssKb: number;
  runUs: number;
  totalUs: number;
  message: string;
  /** Learn mode: the system calls the function made. */
  learned: number[];
}

export interface Ready {
  version: number;
  maxSandboxes: number;
  uidFirst: number;
  uidCount: number;
  features: number;
}

/** A frame's header at the start of out: its body's length, its type. */
function writeHeader(out: Buffer, type: number, bodyLength: number): void {
  out.writeUInt32LE(bodyLength, 0);
  out.writeUInt16LE(type, 4);
}

function frame(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  writeHeader(header, type, body.length);
  return Buffer.concat([header, body]);
}

/** The UTF-8 length of a path or name, checked against its bound. */
function textLength(what: string, text: string, max: number): number {
  const bytes = Buffer.byteLength(text);
  if (bytes > max) throw new RangeError(`${what} of ${bytes} bytes exceeds ${max}`);
  return bytes;
}

/** The length of strings each followed by a NUL byte (as the launcher reads arguments and environments), checked. */
function nulTerminatedLength(what: string, strings: string[], maxBytes: number, maxCount: number): number {
  if (strings.length > maxCount) throw new RangeError(`${strings.length} ${what} exceed ${maxCount}`);
  let bytes = 0;
  for (const s of strings) {
    if (s.includes('\0')) throw new RangeError(`${what} contain a NUL byte`);
    bytes += Buffer.byteLength(s) + 1;
  }
  if (bytes > maxBytes) throw new RangeError(`${what} of ${bytes} bytes exceed ${maxBytes}`);
  return bytes;
}

/** The EXEC frame, written into one buffer (header, struct fnj_exec, then
 * the strings, filter and groups it counts): encoded on every call, so no
 * intermediate buffers. */
export function encodeExec(spec: ExecSpec): Buffer {
  const L = EXEC_LAYOUT;
  const texts = [spec.library, spec.function, spec.input ?? '', spec.output, spec.cwd ?? '', spec.bundle ?? '', spec.work ?? ''];
  const lengths = [
    textLength('library path', texts[0]!, MAX_PATH),
    textLength('function name', texts[1]!, MAX_FUNCTION),
    textLength('input path', texts[2]!, MAX_PATH),
    textLength('output path', texts[3]!, MAX_PATH),
    textLength('working directory', texts[4]!, MAX_PATH),
    textLength('bundle directory', texts[5]!, MAX_PATH),
    textLength('work directory', texts[6]!, MAX_PATH),
  ];
  const argv = spec.argv ?? [];
  const env = spec.env ?? [];
  const argvLength = nulTerminatedLength('arguments', argv, MAX_ARGV, MAX_ARGS);
  const envLength = nulTerminatedLength('environment entries', env, MAX_ENV, MAX_ENV_ENTRIES);
  if (spec.filter.length % 8 !== 0 || spec.filter.length / 8 > MAX_FILTER) throw new RangeError(`seccomp filter of ${spec.filter.length} bytes is not up to ${MAX_FILTER} instructions`);
  const groups = spec.tenant.groups;
  if (groups.length > MAX_GROUPS) throw new RangeError(`${groups.length} supplementary groups exceed ${MAX_GROUPS}`);
  let bodyLength = L.size + argvLength + envLength + spec.filter.length + groups.length * 4;
  for (const n of lengths) bodyLength += n;
  if (bodyLength > MAX_FRAME) throw new RangeError(`execution spec of ${bodyLength} bytes exceeds ${MAX_FRAME}`);
  // Zeroed: the struct's unused fields (sandbox_uid, reserved) and the header's padding are 0.
  const out = Buffer.alloc(HEADER_SIZE + bodyLength);
  writeHeader(out, FrameType.Exec, bodyLength);
  const head = HEADER_SIZE;
  out.writeUInt32LE(spec.id >>> 0, head + L.id);
  out.writeUInt32LE(spec.flags, head + L.flags);
  out.writeUInt32LE(spec.limits.timeoutMs, head + L.timeout_ms);
  out.writeBigUInt64LE(BigInt(spec.limits.cpuMs), head + L.cpu_ms);
  out.writeBigUInt64LE(BigInt(spec.limits.memoryBytes), head + L.memory_bytes);
  out.writeBigUInt64LE(BigInt(spec.limits.maxProcs), head + L.max_procs);
  out.writeBigUInt64LE(BigInt(spec.limits.maxFiles), head + L.max_files);
  out.writeBigUInt64LE(BigInt(spec.limits.outputBytes), head + L.output_bytes);
  out.writeBigUInt64LE(BigInt(spec.limits.tmpBytes), head + L.tmp_bytes);
  out.writeUInt16LE(lengths[0]!, head + L.library_len);
  out.writeUInt16LE(lengths[1]!, head + L.function_len);
  out.writeUInt16LE(lengths[2]!, head + L.input_len);
  out.writeUInt16LE(lengths[3]!, head + L.output_len);
  out.writeUInt32LE(spec.filter.length, head + L.filter_len);
  out.writeUInt32LE(spec.tenant.uid, head + L.tenant_uid);
  out.writeUInt32LE(spec.tenant.gid, head + L.tenant_gid);
  out.writeUInt16LE(groups.length, head + L.tenant_groups);
  out.writeUInt16LE(spec.kind, head + L.kind);
  out.writeUInt32LE(spec.idleMs ?? 0, head + L.idle_ms);
  out.writeUInt16LE(lengths[4]!, head + L.cwd_len);
  out.writeUInt16LE(lengths[5]!, head + L.bundle_len);
  out.writeUInt16LE(lengths[6]!, head + L.work_len);
  out.writeUInt16LE(argvLength, head + L.argv_len);
  out.writeUInt16LE(envLength, head + L.env_len);
  let at = head + L.size;
  for (let i = 0; i < texts.length; i++) at += out.write(texts[i]!, at, lengths[i]!, 'utf8');
  for (const strings of [argv, env]) {
    for (const s of strings) {
      at += out.write(s, at, 'utf8');
      at++; // its NUL, zeroed already
    }
  }
  at += spec.filter.copy(out, at);
  for (const g of groups) at = out.writeUInt32LE(g, at);
  return out;
}

/** The message that hands a connection over (sent with its descriptor). */
export function encodeHandoff(id: number): Buffer {
  const body = Buffer.alloc(HANDOFF_LAYOUT.size);
  body.writeUInt32LE(id >>> 0, HANDOFF_LAYOUT.id);
  return body;
}

export function encodeCancel(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32LE(id >>> 0, 0);
  return frame(FrameType.Cancel, body);
}

export function decodeReady(body: Buffer): Ready {
  const L = READY_LAYOUT;
  if (body.length !== L.size) throw new Error(`READY frame of ${body.length} bytes, expected ${L.size}`);
  return {
    version: body.readUInt32LE(L.version),
    maxSandboxes: body.readUInt32LE(L.max_sandboxes),
    uidFirst: body.readUInt32LE(L.uid_first),
    uidCount: body.readUInt32LE(L.uid_count),
    features: body.readUInt32LE(L.features),
  };
}

export function decodeResult(body: Buffer): LaunchResult {
  const L = RESULT_LAYOUT;
  if (body.length < L.size) throw new Error(`RESULT frame of ${body.length} bytes is truncated`);
  const messageLen = body.readUInt16LE(L.message_len);
  const learnedLen = body.readUInt16LE(L.learned_len);
  if (body.length !== L.size + messageLen + learnedLen * 2) throw new Error('RESULT frame lengths do not add up');
  if (messageLen >= MAX_MESSAGE || learnedLen > MAX_LEARNED) throw new Error('RESULT frame exceeds the message or learned-calls limit');
  const learned: number[] = [];
  for (let i = 0; i < learnedLen; i++) learned.push(body.readUInt16LE(L.size + messageLen + i * 2));
  const exitCode = body.readInt32LE(L.exit_code);
  const signal = body.readInt32LE(L.term_signal);
  const seccompNr = body.readInt32LE(L.seccomp_nr);
  const u64 = (offset: number) => Number(body.readBigUInt64LE(offset));
  const flags = body.readUInt32LE(L.flags);
  return {
    id: body.readUInt32LE(L.id),
    outcome: body.readUInt32LE(L.outcome) as Outcome,
    phase: body.readUInt32LE(L.phase) as Phase,
    exitCode: exitCode >= 0 ? exitCode : null,
    signal: signal > 0 ? signal : null,
    faultAddress: flags & ResultFlag.FaultAddress ? body.readBigUInt64LE(L.fault_addr) : null,
    stackOverflow: (flags & ResultFlag.StackOverflow) !== 0,
    oomKilled: (flags & ResultFlag.OomKill) !== 0,
    processLimitHit: (flags & ResultFlag.ProcessLimit) !== 0,
    outputLimitHit: (flags & ResultFlag.OutputLimit) !== 0,
    tmpFull: (flags & ResultFlag.TmpFull) !== 0,
    cpuLimitHit: (flags & ResultFlag.CpuLimit) !== 0,
    fileSizeLimitHit: (flags & ResultFlag.FileSizeLimit) !== 0,
    outputDiskExceeded: (flags & ResultFlag.OutputDisk) !== 0,
    workDirFull: (flags & ResultFlag.WorkFull) !== 0,
    outputDiskBytes: u64(L.output_disk_bytes),
    seccompNr: seccompNr >= 0 ? seccompNr : null,
    seccompArch: body.readUInt32LE(L.seccomp_arch),
    sandboxUid: body.readUInt32LE(L.sandbox_uid),
    procsKilled: body.readUInt32LE(L.procs_killed),
    cpuUs: u64(L.cpu_us),
    maxRssKb: u64(L.maxrss_kb),
    runUs: u64(L.run_us),
    totalUs: u64(L.total_us),
    memoryPeakBytes: u64(L.memory_peak_bytes),
    cgroupCpuUs: u64(L.cgroup_cpu_us),
    outputBytes: u64(L.output_bytes),
    message: body.toString('utf8', L.size, L.size + messageLen),
    learned,
  };
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<{ type: number; body: Buffer }> {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const frames: Array<{ type: number; body: Buffer }> = [];
    let offset = 0;
    while (this.buffer.length - offset >= HEADER_SIZE) {
      const length = this.buffer.readUInt32LE(offset);
      if (length > MAX_FRAME) throw new Error(`frame of ${length} bytes from the launcher: protocol mismatch`);
      if (this.buffer.length - offset < HEADER_SIZE + length) break;
      const type = this.buffer.readUInt16LE(offset + 4);
      frames.push({ type, body: this.buffer.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + length) });
      offset += HEADER_SIZE + length;
    }
    this.buffer = this.buffer.subarray(offset);
    return frames;
  }
}
