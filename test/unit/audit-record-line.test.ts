// The records of calls are built without pino when no field is redacted
// (audit-log.ts, callRecordLine): they must be the very bytes pino writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { executionEvent, executionStartEvent } from '../../src/audit/audit-event.js';
import { callRecordLine } from '../../src/audit/audit-log.js';
import type { ExecutionResult } from '../../src/executor/executor.js';
import { Outcome, Phase, type LaunchResult } from '../../src/launcher/protocol.js';
import { loggerOptions } from '../../src/log.js';
import type { Tenant } from '../../src/policy/decide.js';

/** What pino writes for info(fields, message), as the audit log configures it. */
function pinoLine(fields: object, message: string): string {
  let line = '';
  pino({ ...loggerOptions({}), level: 'info' }, { write: (l: string) => (line = l) }).info(fields, message);
  return line;
}

const peer: Tenant = { uid: 0, gid: 0, pid: 4242, groups: [0, 27] };

function launch(over: Partial<LaunchResult> = {}): LaunchResult {
  return {
    id: 7, outcome: Outcome.Completed, phase: Phase.Returned, exitCode: 0, signal: null, faultAddress: null, stackOverflow: false,
    oomKilled: false, processLimitHit: false, outputLimitHit: false, tmpFull: false, cpuLimitHit: false, fileSizeLimitHit: false,
    outputDiskExceeded: false, workDirFull: false, outputDiskBytes: 4096, memoryPeakBytes: 1 << 20, cgroupCpuUs: 1234, outputBytes: 29,
    seccompNr: null, seccompArch: 0, sandboxUid: 1300001, procsKilled: 0, cpuUs: 1200, maxRssKb: 900, runUs: 2345, totalUs: 2500,
    message: '', learned: [], ...over,
  };
}

function result(over: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    request: 'a1b2c3d4-17', received: '@upcase /data/in.txt', command: '@upcase /data/in.txt', decision: 'allowed',
    outputPath: '/var/lib/fnjail/output/out-AbC123', kind: 'ok', reasons: [], limitsHit: [], library: '/var/lib/fnjail/functions/ab/upcase',
    function: '(program)', input: '/data/in.txt', rule: "tenant 'root' (uid 0); function: 'upcase' of tenant 'root', version 0123456789ab",
    tenant: 'root', id: undefined, returnContent: false, launch: launch(), printedBytes: 29, outputBytes: 29,
    registered: { name: 'upcase', version: '0123456789abcdef', owner: 'root' }, ranOn: undefined, queueMs: 0.0041, totalMs: 4.5678, ...over,
  };
}

describe('records of calls built without pino', () => {
  it('are the bytes pino writes, for ordinary and awkward values alike', (t) => {
    t.mock.method(Date, 'now', () => Date.UTC(2026, 11, 6, 23, 4, 5, 678));
    const cases: ExecutionResult[] = [
      result(),
      result({ kind: 'signal', reasons: ['killed by signal 11 (Segmentation fault)', 'Reason: "quoted" \\ back'], limitsHit: ['memory'], launch: launch({ signal: 11, exitCode: null, learned: [0, 1, 60] }) }),
      result({ decision: 'denied', launch: undefined, library: undefined, function: undefined, input: undefined, registered: undefined, outputPath: undefined, queueMs: NaN }),
      // Quotes, backslashes and control characters in short and long strings; non-ASCII, U+2028, emoji.
      result({ received: 'a"b\\c\td', command: 'x', input: '/d/ü é\u2028\u{1F600}', rule: `${'long rule '.repeat(12)}"\\\n\u0001`, tenant: 'tab\there' }),
      result({ ranOn: 'node-2', id: 12, printedBytes: undefined }),
    ];
    for (const r of cases) {
      for (const [fields, message] of [[executionStartEvent(r, peer), 'call starting'], [executionEvent(r, peer, r.outputBytes ?? null), 'call finished']] as const) {
        assert.equal(callRecordLine(fields, message), pinoLine(fields, message));
      }
    }
  });

  it('are left to pino when JSON.stringify would write a string otherwise (a lone surrogate), or when empty', () => {
    const lone = result({ function: 'f\ud800' });
    assert.equal(callRecordLine(executionEvent(lone, peer, 0), 'call finished'), undefined);
    assert.equal(callRecordLine(executionEvent(result({ tenant: 'text \\ud800 as typed' }), peer, 0), 'call finished'), undefined);
    assert.equal(callRecordLine({}, 'nothing'), undefined);
  });
});
