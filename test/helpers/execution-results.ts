// Execution results as the executor makes them, for the tests and benches of
// what consumes them (the dashboard's aggregation) without running calls.
import type { ExecutionResult } from '../../src/executor/executor.js';

let requests = 0;

export function executionResult(fields: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    request: `test-${++requests}`,
    received: '/opt/fnlib/libbasic.so run',
    command: '/opt/fnlib/libbasic.so run',
    decision: 'allowed',
    outputPath: '/var/lib/fnjail/output/out-test',
    kind: 'ok',
    reasons: [],
    limitsHit: [],
    library: '/opt/fnlib/libbasic.so',
    function: 'run',
    input: undefined,
    rule: 'defaults',
    tenant: 'ana',
    id: undefined,
    returnContent: false,
    launch: undefined,
    registered: undefined,
    ranOn: undefined,
    printedBytes: 0,
    outputBytes: 0,
    queueMs: 0,
    totalMs: 2,
    ...fields,
  };
}
