// The binary frames between the server and fnjail-launcher. The C side is
// sandbox/protocol.h: keep the two in step (test/unit/launcher-protocol.test.ts
// checks the sizes against the header).

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 8;
export const MAX_FRAME = 64 * 1024;
const EXEC_HEAD_SIZE = 76;
const RESULT_HEAD_SIZE = 92;
const READY_SIZE = 20;

export const FrameType = { Exec: 1, Cancel: 2, Ready: 100, Result: 101 } as const;

export const ExecFlag = {
  StderrToOutput: 1 << 0,
  FreshNetns: 1 << 1,
  SeccompNotify: 1 << 2,
  SeccompLearn: 1 << 3,
} as const;

/** How an execution ended, as vouched for by the launcher and supervisor. */
export enum Outcome {
  Completed = 0,
  TimedOut = 1,
  Seccomp = 2,
  LaunchFailed = 3,
  SupervisorLost = 4,
  Cancelled = 5,
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

export interface ExecSpec {
  id: number;
  flags: number;
  limits: Limits;
  library: string;
  function: string;
  input: string | undefined;
  output: string;
  /** Compiled seccomp program (struct sock_filter[]), or empty for none. */
  filter: Buffer;
}

export interface LaunchResult {
  id: number;
  outcome: Outcome;
  phase: Phase;
  exitCode: number | null;
  signal: number | null;
  faultAddress: bigint | null;
  seccompNr: number | null;
  seccompArch: number;
  sandboxUid: number;
  procsKilled: number;
  userUs: number;
  sysUs: number;
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

function frame(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(body.length, 0);
  header.writeUInt16LE(type, 4);
  return Buffer.concat([header, body]);
}

export function encodeExec(spec: ExecSpec): Buffer {
  const strings = [spec.library, spec.function, spec.input ?? '', spec.output].map((s) => Buffer.from(s));
  const head = Buffer.alloc(EXEC_HEAD_SIZE);
  let o = 0;
  o = head.writeUInt32LE(spec.id >>> 0, o);
  o = head.writeUInt32LE(spec.flags, o);
  o = head.writeUInt32LE(spec.limits.timeoutMs, o);
  o = head.writeUInt32LE(0, o);
  const { cpuMs, memoryBytes, maxProcs, maxFiles, outputBytes, tmpBytes } = spec.limits;
  for (const v of [cpuMs, memoryBytes, maxProcs, maxFiles, outputBytes, tmpBytes]) o = head.writeBigUInt64LE(BigInt(v), o);
  for (const s of strings) o = head.writeUInt16LE(s.length, o);
  head.writeUInt32LE(spec.filter.length, o);
  const body = Buffer.concat([head, ...strings, spec.filter]);
  if (body.length > MAX_FRAME) throw new RangeError(`execution spec of ${body.length} bytes exceeds ${MAX_FRAME}`);
  return frame(FrameType.Exec, body);
}

export function encodeCancel(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32LE(id >>> 0, 0);
  return frame(FrameType.Cancel, body);
}

export function decodeReady(body: Buffer): Ready {
  if (body.length !== READY_SIZE) throw new Error(`READY frame of ${body.length} bytes, expected ${READY_SIZE}`);
  return {
    version: body.readUInt32LE(0),
    maxSandboxes: body.readUInt32LE(4),
    uidFirst: body.readUInt32LE(8),
    uidCount: body.readUInt32LE(12),
    features: body.readUInt32LE(16),
  };
}

export function decodeResult(body: Buffer): LaunchResult {
  if (body.length < RESULT_HEAD_SIZE) throw new Error(`RESULT frame of ${body.length} bytes is truncated`);
  const flags = body.readUInt32LE(12);
  const exitCode = body.readInt32LE(16);
  const signal = body.readInt32LE(20);
  const seccompNr = body.readInt32LE(24);
  const messageLen = body.readUInt16LE(88);
  const learnedLen = body.readUInt16LE(90);
  if (body.length !== RESULT_HEAD_SIZE + messageLen + learnedLen * 2) throw new Error('RESULT frame lengths do not add up');
  const learned: number[] = [];
  for (let i = 0; i < learnedLen; i++) learned.push(body.readUInt16LE(RESULT_HEAD_SIZE + messageLen + i * 2));
  const big = (offset: number) => Number(body.readBigUInt64LE(offset));
  return {
    id: body.readUInt32LE(0),
    outcome: body.readUInt32LE(4) as Outcome,
    phase: body.readUInt32LE(8) as Phase,
    exitCode: exitCode >= 0 ? exitCode : null,
    signal: signal > 0 ? signal : null,
    faultAddress: flags & 1 ? body.readBigUInt64LE(40) : null,
    seccompNr: seccompNr >= 0 ? seccompNr : null,
    seccompArch: body.readUInt32LE(28),
    sandboxUid: body.readUInt32LE(32),
    procsKilled: body.readUInt32LE(36),
    userUs: big(48),
    sysUs: big(56),
    maxRssKb: big(64),
    runUs: big(72),
    totalUs: big(80),
    message: body.toString('utf8', RESULT_HEAD_SIZE, RESULT_HEAD_SIZE + messageLen),
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
