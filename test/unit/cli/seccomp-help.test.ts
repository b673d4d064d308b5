// fnjail seccomp --help names every shipped profile (program among them), as
// the directory holds them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { seccompHelp } from '../../../src/cli/seccomp.js';
import { SHIPPED_PROFILES_DIR } from '../../../src/seccomp/profile.js';

describe('fnjail seccomp --help', () => {
  it('lists every shipped profile, the program profile included', () => {
    const listed = /name of\s+a shipped profile: ([a-z, -]+)\n/.exec(seccompHelp())?.[1]?.split(', ');
    const shipped = fs.readdirSync(SHIPPED_PROFILES_DIR).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
    assert.deepEqual(listed, shipped);
    assert.ok(listed!.includes('program'));
  });
});
