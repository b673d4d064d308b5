// What a client gets back for a request: the classic reply (the output file's
// path), or, for a JSON request, one JSON line with the authoritative outcome
// (docs/protocol.md), and the output's content when the request asks for it.
import fs from 'node:fs';
import type { ExecutionResult } from '../executor/executor.js';
import { signalName } from '../executor/signals.js';

/** A request refused before it reached the executor (too many refused requests): answered in-band, no output file made. */
export interface Refusal {
  outcome: 'busy';
  reason: string;
}

/** At most this much of an output file travels in a reply ("return": "content"). */
export const MAX_RETURNED_CONTENT_BYTES = 1024 * 1024;

/** The classic reply: the output file, or an in-band error if none could be made. */
export function replyText(result: ExecutionResult): string {
  return result.outputPath ?? `Error: ${result.command} could not be executed: ${result.reasons.join('; ')}`;
}

export function replyJson(result: ExecutionResult): string {
  const launch = result.launch;
  // Object.assign, not `{ ...id, more }`: a literal that starts with a spread is slow in V8 (executor/launch-spec.ts).
  return JSON.stringify(Object.assign(result.id !== undefined ? { id: result.id } : {}, {
    request: result.request,
    output: result.outputPath ?? null,
    outcome: result.kind,
    exitCode: launch?.exitCode ?? null,
    signal: launch?.signal != null ? signalName(launch.signal) : null,
    reasons: result.reasons,
    queueMs: Math.round(result.queueMs * 1000) / 1000,
    runMs: launch ? launch.runUs / 1000 : null,
    totalMs: Math.round(result.totalMs * 1000) / 1000,
    ...(result.returnContent && result.outputPath ? returnedContent(result.outputPath) : {}),
  }));
}

/**
 * The output file's first MAX_RETURNED_CONTENT_BYTES: as text when they are
 * UTF-8, else in base64; with the file's size, so a client knows whether it
 * has it all. The file is the server's own (created in its root-owned
 * directory, which its tenant cannot write), read without following links.
 */
function returnedContent(file: string): Record<string, unknown> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return { contentError: 'the output is not a regular file' };
    const buffer = Buffer.alloc(Math.min(stat.size, MAX_RETURNED_CONTENT_BYTES));
    let length = 0;
    while (length < buffer.length) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
    const bytes = buffer.subarray(0, length);
    const text = new TextDecoder('utf-8', { fatal: true });
    let content: Record<string, string>;
    try {
      content = { content: text.decode(bytes) };
    } catch {
      content = { contentBase64: bytes.toString('base64') };
    }
    return Object.assign(content, { contentBytes: stat.size, contentTruncated: length < stat.size });
  } catch (error) {
    return { contentError: `cannot read the output: ${(error as Error).message}` };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
