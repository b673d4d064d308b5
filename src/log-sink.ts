// Where log and audit lines are written: a file or stdout, one write(2) per
// line (or per group of lines written together: writeLinesOrThrow),
// synchronously, so that a line is in the kernel before the server goes
// on (before the reply, before a call runs). What pino's own destination did
// not do, and a server for untrusted tenants needs:
//
// - Failures are values, never crashes: a full disk, an I/O error, a removed
//   file or directory, a closed stdout. `write` never throws (the operational
//   log); `writeOrThrow` throws a SinkError for the caller to act on (the
//   audit log: a call whose record cannot be written does not run). The sink
//   remembers whether it works and tells `onChange` when that changes, so the
//   condition is reported once on another destination, and again on recovery.
// - A line is whole or absent: a write cut short by ENOSPC is truncated away,
//   so the next line does not start in the middle of a broken one.
// - Lines carry no characters that a terminal or an editor would act on: C1
//   controls, the line and paragraph separators, bidirectional overrides and
//   isolates are written as JSON \uXXXX escapes (the same string to a JSON
//   parser; C0 controls are escaped by JSON itself).
// - A file is opened by log-file.ts's rules (no symlink, 0600, owned by the
//   server), again on every reopen; a file removed under the server (its
//   directory deleted, say) is noticed before each line (st_nlink 0) and made
//   anew, so no line goes to a file nobody can read.
import fs from 'node:fs';
import { openLogFile } from './log-file.js';

export class SinkError extends Error {}

/** What a sink reports about itself (stats, metrics). */
export interface SinkHealth {
  /** Whether the last write worked. */
  ok: boolean;
  /** Lines that could not be written since the start. */
  failures: number;
  /** Why the last failed write failed, while failing. */
  error: string | null;
  /** Epoch ms since when it fails, while failing. */
  since: number | null;
}

export interface SinkOptions {
  /** fsync after every line: on the device before the caller goes on (an I/O error shows here, not later). */
  fsync?: boolean;
  /** Called when the sink starts failing (with why) and when it works again (error undefined). */
  onChange?: (health: SinkHealth, error: string | undefined) => void;
}

/** Characters written as \uXXXX: C1 controls, LRM/RLM, ALM, line/paragraph separators, bidi embeddings, overrides and isolates. */
const UNSAFE = /[\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeUnsafe(line: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(line)) return line;
  return line.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A short wait without giving up the thread (for a full pipe: EAGAIN). */
const pause = new Int32Array(new SharedArrayBuffer(4));
const EAGAIN_WAIT_MS = 1;
const EAGAIN_LIMIT_MS = 2000;

export class LineSink {
  private fd: number;
  private readonly state: SinkHealth = { ok: true, failures: 0, error: null, since: null };

  /** `target`: a file path, or 1 (stdout) / 2 (stderr). Opening a file can throw (at start: a bad path is a usage error). */
  constructor(
    readonly target: string | 1 | 2,
    private readonly options: SinkOptions = {},
  ) {
    this.fd = typeof target === 'number' ? target : openLogFile(target);
  }

  get health(): SinkHealth {
    return { ...this.state };
  }

  /** pino's DestinationStream: never throws. */
  write(line: string): void {
    try {
      this.writeOrThrow(line);
    } catch {
      // counted and reported by writeOrThrow
    }
  }

  /** Writes the whole line or nothing; throws SinkError saying why. */
  writeOrThrow(line: string): void {
    this.writeLinesOrThrow([line]);
  }

  /** Writes whole lines, all of them in one write(2) (and one fsync), or
   * none (a failure counts each); throws SinkError saying why. */
  writeLinesOrThrow(lines: string[]): void {
    const data = Buffer.from(escapeUnsafe(lines.join('')));
    try {
      if (typeof this.target === 'string') this.ensureLinked();
      this.writeAll(data);
      if (this.options.fsync && typeof this.target === 'string') fs.fsyncSync(this.fd);
    } catch (error) {
      const why = describe(error);
      this.failed(why, lines.length);
      throw new SinkError(why);
    }
    if (!this.state.ok) this.recovered();
  }

  /** Opens the file again (logrotate moved it). Never throws: a failure makes the sink failing until a write works. */
  reopen(): void {
    if (typeof this.target !== 'string') return;
    try {
      this.replaceFd(openLogFile(this.target));
    } catch (error) {
      this.failed(describe(error));
    }
  }

  close(): void {
    if (typeof this.target === 'string') closeQuietly(this.fd);
  }

  private replaceFd(fd: number): void {
    const old = this.fd;
    this.fd = fd;
    if (old !== fd) closeQuietly(old);
  }

  /** A file removed under us (or its directory) would swallow every line: make it anew. */
  private ensureLinked(): void {
    if (fs.fstatSync(this.fd).nlink > 0) return;
    this.replaceFd(openLogFile(this.target as string));
  }

  private writeAll(data: Buffer): void {
    let written = 0;
    let waited = 0;
    while (written < data.length) {
      try {
        written += fs.writeSync(this.fd, data, written);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' && waited < EAGAIN_LIMIT_MS) {
          Atomics.wait(pause, 0, 0, EAGAIN_WAIT_MS);
          waited += EAGAIN_WAIT_MS;
          continue;
        }
        if (written > 0) this.dropPartial(written);
        throw error;
      }
    }
  }

  /** Removes the start of a line a failed write left at the end of the file. */
  private dropPartial(written: number): void {
    if (typeof this.target !== 'string') return;
    try {
      fs.ftruncateSync(this.fd, fs.fstatSync(this.fd).size - written);
    } catch {
      // the file is broken beyond this line; the next write will say so
    }
  }

  private failed(why: string, lines = 1): void {
    this.state.failures += lines;
    const first = this.state.ok;
    this.state.ok = false;
    this.state.error = why;
    if (first) {
      this.state.since = Date.now();
      this.options.onChange?.(this.health, why);
    }
  }

  private recovered(): void {
    this.state.ok = true;
    this.state.error = null;
    this.state.since = null;
    this.options.onChange?.(this.health, undefined);
  }
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, '')}` : String(e.message ?? e);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** A line on stderr that can fail silently: the last resort, for reporting that the other destinations fail. */
export function writeStderr(line: string): void {
  try {
    fs.writeSync(2, escapeUnsafe(line.endsWith('\n') ? line : `${line}\n`));
  } catch {
    // nowhere left to say it
  }
}
