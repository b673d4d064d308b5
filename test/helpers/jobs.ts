// What the job tests share: the fnjail CLI as a user against a server's API
// socket, a library bundle of a fixture to deploy, a bundle job's sources,
// and waiting for a job's state through the API itself (GET /jobs/<ticket>?wait=).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src/jobs/job-view.js';
import { cliAs, type User } from './as-user.js';
import { cliMain, fixturesBuild, HANG_GUARD_MS, type TestArea } from './environment.js';
import { httpRequest } from './http.js';
import type { TestServer } from './server.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The fnjail CLI as a user (or root when user is undefined), against the server's API socket. */
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

/** A library bundle directory of a fixture library, readable by every test user. */
export function libraryBundle(area: TestArea, name: string, library: string, functions: string[]): string {
  const dir = path.join(area.root, 'bundles', `${name}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(fixturesBuild, library), path.join(dir, 'lib', library));
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name, kind: 'library', functions, entry: `lib/${library}` }));
  for (const entry of [path.dirname(dir), dir, path.join(dir, 'lib')]) fs.chmodSync(entry, 0o755);
  return dir;
}

/** A bundle job's sources: a C program and a Makefile whose run target builds and runs it. */
export function makeRunBundle(area: TestArea, program: string): string {
  const dir = path.join(area.root, 'bundles', `job-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.c'), program);
  fs.writeFileSync(path.join(dir, 'Makefile'), 'prog: main.c\n\tcc -O0 -o prog main.c\n\nrun: prog\n\t./prog\n');
  for (const entry of [path.dirname(dir), dir]) fs.chmodSync(entry, 0o755);
  for (const file of ['main.c', 'Makefile']) fs.chmodSync(path.join(dir, file), 0o644);
  return dir;
}

/** The job as its owner sees it over HTTP. */
export async function jobOf(server: TestServer, user: User, ticket: string, waitMs = 0): Promise<JobView> {
  const reply = await httpRequest(server.apiSocket, { method: 'GET', path: `/jobs/${ticket}${waitMs ? `?wait=${waitMs}` : ''}`, as: user });
  if (reply.status !== 200) throw new Error(`GET /jobs/${ticket}: ${reply.status} ${reply.body.toString()}`);
  return reply.json<JobView>();
}

/** Waits (through the API's own wait, then asking again) until the job satisfies `match`. */
export async function waitForJob(server: TestServer, user: User, ticket: string, match: (view: JobView) => boolean): Promise<JobView> {
  const deadline = Date.now() + HANG_GUARD_MS;
  for (;;) {
    const ended = (view: JobView) => view.state === 'COMPLETED' || view.state === 'INVALID';
    const view = await jobOf(server, user, ticket);
    if (match(view)) return view;
    if (Date.now() > deadline) throw new Error(`job ${ticket} never matched; last: ${JSON.stringify(view)}`);
    // An ended job does not change: only a wait for an end is worth making on the server.
    if (ended(view)) throw new Error(`job ${ticket} ended without matching: ${JSON.stringify(view)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
