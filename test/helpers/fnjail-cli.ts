// The fnjail CLI as a user (or root) against a test server's API socket, and
// the bundles the platform tests deploy with it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { cliAs, type User } from './as-user.js';
import { cliMain, type TestArea } from './environment.js';
import type { TestServer } from './server.js';
import { tarGz } from './tar-builder.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The fnjail CLI as a user (or root), against the server's API socket. */
export function fnjailAs(server: TestServer, user: User | undefined, args: string[], stdin?: string): Promise<CliResult> {
  const full = [...args, '--api-socket', server.apiSocket];
  const [command, ...rest] = user ? cliAs(user, full) : [process.execPath, cliMain, ...full];
  return new Promise((resolve, reject) => {
    const child = spawn(command!, rest, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

/** TP7's toupper as a .tar.gz (readable by every test user) of its sources, its
 * Makefile and its manifest asking for a build (fixtures/programs/toupper, the
 * README's example), with manifest fields overridden. */
export function toupperBundle(area: TestArea, manifest: Record<string, unknown> = {}, name = 'toupper.tar.gz'): string {
  const sources = path.join(packageRoot, 'fixtures', 'programs', 'toupper');
  const file = path.join(area.root, name);
  fs.writeFileSync(
    file,
    tarGz([
      { name: 'fnjail.json', data: JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(sources, 'fnjail.json'), 'utf8')), ...manifest }) },
      { name: 'Makefile', data: fs.readFileSync(path.join(sources, 'Makefile')) },
      { name: 'toupper.c', data: fs.readFileSync(path.join(sources, 'toupper.c')) },
    ]),
    { mode: 0o644 },
  );
  return file;
}

/** A shell program, no build (per connection by default): each line it reads answered with a prefix. */
export function scriptBundle(area: TestArea, name: string, prefix: string, mode = 'per-connection'): string {
  const file = path.join(area.root, `${name}-${prefix}-${mode}.tar.gz`);
  fs.writeFileSync(
    file,
    tarGz([
      { name: 'fnjail.json', data: JSON.stringify({ name, kind: 'program', mode, entry: 'run.sh' }) },
      { name: 'run.sh', mode: 0o755, data: `#!/bin/sh\nwhile read line; do echo "${prefix} $line"; done\n` },
    ]),
    { mode: 0o644 },
  );
  return file;
}
