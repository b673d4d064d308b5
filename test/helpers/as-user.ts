// Runs the unmodified classic C client as another user (uid, gid, groups), so
// that the server sees that user's credentials through SO_PEERCRED.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { clientsBuild, type TestArea } from './environment.js';

/** Copies the classic client where any uid can run it; returns its path. */
export function installClient(area: TestArea): string {
  const dir = path.join(area.root, 'client');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const file of ['libipc.so', 'classic-client']) fs.copyFileSync(path.join(clientsBuild, file), path.join(dir, file));
  fs.chmodSync(path.join(dir, 'classic-client'), 0o755);
  return path.join(dir, 'classic-client');
}

export interface User {
  uid: number;
  gid: number;
  groups?: number[];
}

/** The classic client's call as `user`; returns the output file's path. */
export function callAs(client: string, socket: string, user: User, words: string[]): string {
  const args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups', client, ...words];
  const result = spawnSync('setpriv', args, { env: { FNJAIL_SOCKET: socket }, encoding: 'utf8' });
  const match = /^Output file: (\S+)\n$/.exec(result.stdout);
  if (result.status !== 0 || !match) throw new Error(`classic client as uid ${user.uid} failed: ${result.stdout}${result.stderr}`);
  return match[1]!;
}
