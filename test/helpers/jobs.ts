// What the job tests share: a library bundle of a fixture to deploy, a bundle
// job's sources, and waiting for a job's state through the API itself
// (GET /jobs/<ticket>?wait=). The CLI as a user is fnjail-cli.ts's.
import fs from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src/jobs/job-view.js';
import type { User } from './as-user.js';
import { fixturesBuild, HANG_GUARD_MS, type TestArea } from './environment.js';
import { httpRequest } from './http.js';
import type { TestServer } from './server.js';

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
  const ended = (view: JobView) => view.state === 'COMPLETED' || view.state === 'INVALID';
  for (;;) {
    const view = await jobOf(server, user, ticket);
    if (match(view)) return view;
    if (Date.now() > deadline) throw new Error(`job ${ticket} never matched; last: ${JSON.stringify(view)}`);
    // An ended job does not change: only a wait for an end is worth making on the server.
    if (ended(view)) throw new Error(`job ${ticket} ended without matching: ${JSON.stringify(view)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
