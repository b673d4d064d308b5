// Runs clients as another user (uid, gid, groups), so that the server sees
// that user's credentials through SO_PEERCRED: the unmodified classic C
// client, copied where any uid can run it, and the fnjail CLI. Neither needs
// the checkout to be reachable by that user: the tests pass from a clone in
// a private (0700) directory.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';
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

const setprivArgs = (client: string, user: User, words: string[]) => [
  `--reuid=${user.uid}`,
  `--regid=${user.gid}`,
  user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups',
  client,
  ...words,
];

function outputPath(user: User, status: number | null, stdout: string, stderr: string): string {
  const match = /^Output file: (\S+)\n$/.exec(stdout);
  if (status !== 0 || !match) throw new Error(`classic client as uid ${user.uid} failed: ${stdout}${stderr}`);
  return match[1]!;
}

/** The classic client's call as `user`; returns the output file's path. */
export function callAs(client: string, socket: string, user: User, words: string[]): string {
  const result = spawnSync('setpriv', setprivArgs(client, user, words), { env: { FNJAIL_SOCKET: socket }, encoding: 'utf8' });
  return outputPath(user, result.status, result.stdout, result.stderr);
}

/** callAs without blocking the test's event loop, for calls that overlap. */
export function callAsAsync(client: string, socket: string, user: User, words: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', setprivArgs(client, user, words), { env: { FNJAIL_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      try {
        resolve(outputPath(user, status, stdout, stderr));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** Where the checkout appears, readable, to a command run as another user. */
const visibleRoot = path.join('/var/lib/fnjail-tests', `package-${process.pid}-${randomBytes(3).toString('hex')}`);

/**
 * The command line that runs the fnjail CLI as `user`: in a mount namespace
 * of its own, the checkout is bind-mounted on an empty directory that every
 * user can reach (nothing changes for anyone else, and nothing is left when
 * the command ends but that empty directory, removed at exit), then setpriv
 * drops to the user.
 */
export function cliAs(user: User, args: string[]): string[] {
  if (!fs.existsSync(visibleRoot)) {
    fs.mkdirSync(visibleRoot, { recursive: true, mode: 0o755 });
    process.once('exit', () => fs.rmSync(visibleRoot, { recursive: true, force: true }));
  }
  const groups = user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups';
  return [
    'unshare', '--mount', '--propagation', 'private', '--',
    'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec setpriv "$@"', 'sh', packageRoot, visibleRoot,
    `--reuid=${user.uid}`, `--regid=${user.gid}`, groups, process.execPath, path.join(visibleRoot, 'dist', 'src', 'cli', 'main.js'), ...args,
  ];
}
