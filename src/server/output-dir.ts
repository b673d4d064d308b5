// The output directory: root-owned, 0711, so tenants can open their own files
// by name but list nothing; created and checked without following a link. A
// symlink planted at its path (or above it, in a directory a user can write)
// would have the server chown and chmod the link's target and write every
// tenant's output there. So each component of the path, from /, must be a real
// directory (lstat: never a link) owned by root, and writable by nobody else
// unless sticky (in a sticky directory such as /tmp, a user cannot remove or
// rename root's entries, so the next component stays root's). Missing
// components are made by root (mkdir never follows a link at its path). The
// mode and owner of the last one are set through a descriptor opened with
// O_NOFOLLOW, on the very directory that was checked.
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';
import { FnjailError } from '../errors.js';
import { writableBy } from '../policy/file-trust.js';

const S_ISVTX = 0o1000;

function lstatOrMake(dir: string, mode: number): fs.Stats {
  try {
    return fs.lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    fs.mkdirSync(dir, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // made meanwhile: checked below like any other
  }
  return fs.lstatSync(dir);
}

/** Why the component cannot be trusted, or undefined. */
function componentProblem(dir: string, st: fs.Stats, last: boolean): string | undefined {
  if (st.isSymbolicLink()) return `${dir} is a symbolic link (to ${fs.readlinkSync(dir)}): the output directory and every directory above it must be real directories`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== 0) return `${dir} is owned by uid ${st.uid}, not root: its owner could replace what is below it`;
  const who = writableBy(st.mode);
  if (!last && who && !(st.mode & S_ISVTX)) return `${dir} is writable by ${who} (mode 0${(st.mode & 0o7777).toString(8)}) without the sticky bit: anyone could replace what is below it`;
  return undefined;
}

/** Walks the directory's path from /, checking each component (and making
 * the missing ones when `make`); returns the last one's status, or why the
 * path cannot be trusted. */
export function trustedDirectory(dir: string, make: boolean): { stat: fs.Stats } | { problem: string } {
  if (!path.isAbsolute(dir)) return { problem: 'it must be an absolute path' };
  const parts = path.resolve(dir).split('/').filter(Boolean);
  let current = '/';
  let last = fs.lstatSync('/');
  let problem = componentProblem('/', last, parts.length === 0);
  for (let i = 0; i < parts.length && !problem; i++) {
    current = path.join(current, parts[i]!);
    const isLast = i === parts.length - 1;
    last = make ? lstatOrMake(current, isLast ? 0o711 : 0o755) : fs.lstatSync(current);
    problem = componentProblem(current, last, isLast);
  }
  return problem ? { problem } : { stat: last };
}

export function prepareOutputDir(dir: string): void {
  const fail = (why: string): never => {
    throw new FnjailError('FNJ_OUTPUT_DIR_FAILED', `cannot prepare the output directory ${dir}: ${why}`, 'choose a directory whose path is made of root-owned directories, without symbolic links');
  };
  const target = path.resolve(dir);
  try {
    const checked = trustedDirectory(dir, true);
    if ('problem' in checked) return fail(checked.problem);
    const last = checked.stat;
    const fd = fs.openSync(target, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      const opened = fs.fstatSync(fd);
      if (opened.dev !== last.dev || opened.ino !== last.ino) fail('it was replaced while it was checked');
      fs.fchownSync(fd, 0, 0);
      fs.fchmodSync(fd, 0o711);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if (error instanceof FnjailError) throw error;
    fail((error as Error).message);
  }
}
