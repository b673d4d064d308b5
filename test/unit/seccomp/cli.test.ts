import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { seccompCommand } from '../../../src/cli/seccomp.js';
import { FnjailError } from '../../../src/errors.js';

/** Runs the command in this process, capturing what it writes. */
async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(chunk) > 0) as typeof process.stderr.write;
  try {
    const code = await seccompCommand(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-seccomp-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const temp = (text: string) => {
  const file = path.join(dir, 'profile.json');
  fs.writeFileSync(file, text);
  return file;
};

test('check: a shipped profile by name is valid', async () => {
  const r = await run('check', 'default');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /policies\/seccomp\/default\.json: valid: \d+ rules, \d+ instructions \(\d+ bytes\)/);
});

test('check: problems are printed located, exit 1', async () => {
  const file = temp('{\n  "defaultAction": "kill-process",\n  "syscalls": [{ "names": ["ptarce"], "action": "allow" }]\n}\n');
  const r = await run('check', file);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `${file}:3:28: /syscalls/0/names/0: unknown system call 'ptarce'\n`);
  const missing = await run('check', '/nonexistent/profile.json');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read seccomp profile \/nonexistent\/profile\.json/);
});

test('compile: the listing, its size and the notify mode', async () => {
  const r = await run('compile', 'minimal');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^0000: ld +\[4\]/);
  assert.match(r.stdout, /\n\d+ instructions, \d+ bytes\n/);
  assert.match(r.stdout, /notify none\n$/);
  const supervised = await run('compile', '--supervised', 'learn');
  assert.match(supervised.stdout, /ret +USER_NOTIF/);
  assert.match(supervised.stdout, /notify logs\n$/);
});

test('--help, and usage errors as FnjailError FNJ_USAGE', async () => {
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: fnjail seccomp compile/);
  for (const args of [[], ['frob', 'default'], ['check'], ['check', 'a', 'b'], ['check', '--supervised', 'default'], ['compile', '--bogus', 'x']]) {
    await assert.rejects(run(...args), (e: unknown) => e instanceof FnjailError && e.code === 'FNJ_USAGE', args.join(' '));
  }
});
