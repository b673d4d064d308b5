// The exit status of every outcome of `fnjail run`, and of the errors, are
// what docs/errors.md says, code for code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_FAILURE, EXIT_UNREACHABLE, EXIT_USAGE, exitCodeOfError, exitCodeOfOutcome, OUTCOME_EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { errorCodes, type ErrorCode } from '../../../src/errors.js';
import { packageRoot } from '../../../src/paths.js';

const doc = fs.readFileSync(path.join(packageRoot, 'docs', 'errors.md'), 'utf8');

describe('exit status', () => {
  it('docs/errors.md gives each outcome the status fnjail run exits with, and no other', () => {
    const documented = Object.fromEntries([...doc.matchAll(/^\| (\d+) \| `([a-z-]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])]));
    assert.deepEqual(documented, { ...OUTCOME_EXIT_CODES });
    const codes = Object.values(OUTCOME_EXIT_CODES);
    assert.equal(new Set(codes).size, codes.length, 'one status per outcome');
    for (const code of codes) assert.ok(code === 0 || code >= 10, `${code} is not one of the general statuses 1-3`);
  });

  it('docs/errors.md gives the general statuses', () => {
    for (const status of [EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE]) assert.match(doc, new RegExp(`^\\| ${status} \\| `, 'm'));
    assert.equal(exitCodeOfError('FNJ_USAGE'), 2);
    assert.equal(exitCodeOfError('FNJ_CONNECT_FAILED'), 3);
    assert.equal(exitCodeOfError('FNJ_NO_REPLY'), 3);
    for (const code of Object.keys(errorCodes) as ErrorCode[]) {
      if (!['FNJ_USAGE', 'FNJ_CONNECT_FAILED', 'FNJ_NO_REPLY'].includes(code)) assert.equal(exitCodeOfError(code), 1, code);
    }
  });

  it('an outcome this client does not know is a failure, never success', () => {
    assert.equal(exitCodeOfOutcome('ok'), 0);
    assert.equal(exitCodeOfOutcome('timeout'), 12);
    for (const unknown of ['something-new', undefined, 7, 'toString', '__proto__']) assert.equal(exitCodeOfOutcome(unknown), 1, String(unknown));
  });
});
