// The error registry and its documentation must agree, code for code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { errorCodes, FnjailError } from '../../src/errors.js';
import { packageRoot } from '../../src/paths.js';

describe('error codes', () => {
  const doc = fs.readFileSync(path.join(packageRoot, 'docs', 'errors.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(FNJ_[A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));

  it('every code is documented with its meaning, and nothing else is', () => {
    assert.deepEqual([...documented.keys()].sort(), Object.keys(errorCodes).sort());
    for (const [code, meaning] of Object.entries(errorCodes)) assert.equal(documented.get(code), meaning, code);
  });

  it('formats message, code and hint for a terminal', () => {
    const error = new FnjailError('FNJ_USAGE', 'bad option', 'see fnjail run --help');
    assert.equal(error.format(), 'fnjail: bad option [FNJ_USAGE]\n  hint: see fnjail run --help');
  });
});
