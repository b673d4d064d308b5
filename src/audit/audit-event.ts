// One audit record per request, answering "who ran what, when, under which
// rule, and what happened" from the record alone. The shape is
// policies/audit-event.schema.json (tested against real records).
import type { ExecutionResult } from '../executor/executor.js';
import { signalName } from '../executor/signals.js';
import { Outcome } from '../launcher/protocol.js';
import type { Tenant } from '../policy/decide.js';
import { syscallName } from '../seccomp/syscalls.js';
import { groupName, userName } from './account-names.js';

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** Who connected, as every record names a peer (so that --redact finds the same fields everywhere). */
export function peerFields(peer: Tenant) {
  return {
    uid: peer.uid,
    gid: peer.gid,
    pid: peer.pid,
    groups: peer.groups,
    user: userName(peer.uid) ?? null,
    group: groupName(peer.gid) ?? null,
    ...(peer.remote ? { remote: peer.remote } : {}),
  };
}

/** What the request asked and what the policy said, as both of its records carry it. */
function requestFields(result: ExecutionResult, peer: Tenant) {
  return {
    request: result.request,
    peer: peerFields(peer),
    command: result.received,
    tenant: result.tenant ?? null,
    decision: result.decision,
    rule: result.rule ?? null,
    library: result.library ?? null,
    function: result.function ?? null,
    input: result.input ?? null,
    registered: result.registered ?? null,
  };
}

/** The record written before the function runs: the call does not run unless it is written. */
export function executionStartEvent(result: ExecutionResult, peer: Tenant) {
  return { event: 'execution-start' as const, ...requestFields(result, peer), output: result.outputPath ?? null };
}

export function executionEvent(result: ExecutionResult, peer: Tenant, outputBytes: number | null) {
  const launch = result.launch;
  const ran = launch !== undefined && launch.outcome !== Outcome.Cancelled && launch.outcome !== Outcome.LaunchFailed;
  return {
    event: 'execution' as const,
    ...requestFields(result, peer),
    sandboxUid: ran ? launch.sandboxUid : null,
    outcome: result.kind,
    reasons: result.reasons,
    exitCode: launch?.exitCode ?? null,
    signal: launch?.signal != null ? signalName(launch.signal) : null,
    syscall: launch?.seccompNr != null ? (syscallName(launch.seccompNr) ?? String(launch.seccompNr)) : null,
    limitsHit: result.limitsHit,
    learnedSyscalls: launch?.learned.length ? launch.learned.map((nr) => syscallName(nr) ?? String(nr)) : undefined,
    queueMs: round(result.queueMs),
    runMs: ran ? launch.runUs / 1000 : null,
    totalMs: round(result.totalMs),
    // The cgroup's figures cover every process of the sandbox; rusage, where cgroups are missing, the function's.
    cpuMs: ran ? (launch.cgroupCpuUs || launch.cpuUs) / 1000 : null,
    peakMemoryBytes: ran ? launch.memoryPeakBytes || launch.maxRssKb * 1024 : null,
    output: result.outputPath ?? null,
    outputBytes,
    ...(result.ranOn !== undefined ? { ranOn: result.ranOn } : {}),
  };
}

export type ExecutionEvent = ReturnType<typeof executionEvent>;
