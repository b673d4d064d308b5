// What a client gets back for a request: the classic reply (the output file's
// path), or, for a JSON request, one JSON line with the authoritative outcome
// (docs/protocol.md).
import type { ExecutionResult } from '../executor/executor.js';
import { signalName } from '../executor/signals.js';

/** A request refused before it reached the executor (too many refused requests): answered in-band, no output file made. */
export interface Refusal {
  outcome: 'busy';
  reason: string;
}

/** The classic reply: the output file, or an in-band error if none could be made. */
export function replyText(result: ExecutionResult): string {
  return result.outputPath ?? `Error: ${result.command} could not be executed: ${result.reasons.join('; ')}`;
}

export function replyJson(result: ExecutionResult): string {
  const launch = result.launch;
  return JSON.stringify({
    ...(result.id !== undefined ? { id: result.id } : {}),
    request: result.request,
    output: result.outputPath ?? null,
    outcome: result.kind,
    exitCode: launch?.exitCode ?? null,
    signal: launch?.signal != null ? signalName(launch.signal) : null,
    reasons: result.reasons,
    queueMs: Math.round(result.queueMs * 1000) / 1000,
    runMs: launch ? launch.runUs / 1000 : null,
    totalMs: Math.round(result.totalMs * 1000) / 1000,
  });
}
