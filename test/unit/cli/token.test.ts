// fnjail token new, as an admin reads it: the token once, the entry to paste
// into the policy, and that entry, pasted, makes the token its tenant's (and
// nothing else's); bad options are usage errors that say what to do.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadPolicy } from '../../../src/policy/policy.js';
import { tokenOwner } from '../../../src/policy/tokens.js';
import { cliMain } from '../../helpers/environment.js';

function token(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliMain, 'token', ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fnjail token new', () => {
  it('prints the token once and the policy entry that makes it the tenant\'s, with how to use it', () => {
    const made = token(['new', '--tenant', 'bob']);
    assert.equal(made.status, 0, made.stderr);
    const lines = made.stdout.split('\n');
    const secret = lines[0]!;
    assert.match(secret, /^fnj_[A-Za-z0-9_-]{43}$/);
    assert.equal(lines[1], '');
    assert.equal(lines[2], 'This token is shown once. Add this entry to the "tokens" of tenant \'bob\' in the policy:');
    const entry = JSON.parse(lines[3]!.trim()) as { id: string; sha256: string };
    assert.match(entry.id, /^bob-[0-9a-f]{8}$/, 'the default id names the tenant');
    assert.equal(made.stdout.split(secret).length, 2, 'the whole token appears once; the usage lines show only its start');
    assert.match(made.stdout, /kill -HUP the server/);
    assert.match(made.stdout, /curl -H 'Authorization: Bearer fnj_.{4}\.\.\.' https:\/\/HOST:PORT\/registry/);

    // The admin pastes the entry: the token is bob's, a token of another run is nobody's.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-token-'));
    try {
      const file = path.join(dir, 'policy.json');
      fs.writeFileSync(file, JSON.stringify({ tenants: [{ name: 'bob', match: { uids: [4711] }, tokens: [entry] }, { name: 'carol', match: { uids: [4712] } }] }));
      const policy = loadPolicy(file);
      const owner = tokenOwner(policy, secret);
      assert.equal(owner?.tenant.name, 'bob');
      assert.equal(owner?.id, entry.id);
      const other = JSON.parse(token(['new', '--tenant', 'bob', '--json']).stdout) as { token: string };
      assert.equal(tokenOwner(policy, other.token), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing tenant, a bad id and an unknown word, each with its reason and exit status 2', () => {
    for (const [args, reason] of [
      [['new'], /--tenant NAME is required/],
      [['new', '--tenant', 'bob', '--id', '.x'], /--id must be letters, digits/],
      [['make', '--tenant', 'bob'], /expected 'new', not 'make'/],
    ] as const) {
      const refused = token([...args]);
      assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, reason);
      assert.match(refused.stderr, /\[FNJ_USAGE\]\n {2}hint: see fnjail token --help\n$/);
      assert.equal(refused.stdout, '', 'no token is printed');
    }
  });
});
