// Opening a log or audit file, on every open and reopen alike: the audit log
// names every tenant's files and commands, so no one else may read it, plant
// it or redirect it.
//
// - No symlink at the path (O_NOFOLLOW): a link planted there would send the
//   records, as root, wherever it points.
// - A regular file with one name, owned by the server's user: a file someone
//   else made (in a directory they can write) or a hard link to another file
//   is refused, not written into.
// - Mode 0600, whatever the file had: an existing 0644 file is made 0600.
// - Missing directories are created 0700.
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';

export function openLogFile(file: string): number {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path fails here instead of blocking the server.
    fd = fs.openSync(file, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw refused(file, 'is a symbolic link');
    throw error;
  }
  try {
    const st = fs.fstatSync(fd);
    const owner = process.geteuid?.() ?? 0;
    if (!st.isFile()) throw refused(file, 'is not a regular file');
    if (st.uid !== owner) throw refused(file, `is owned by uid ${st.uid}, not by the server (uid ${owner}): someone else could read or rewrite it`);
    if (st.nlink !== 1) throw refused(file, `has ${st.nlink} names (a hard link to another file?)`);
    if ((st.mode & 0o7777) !== 0o600) fs.fchmodSync(fd, 0o600);
    return fd;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

function refused(file: string, why: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${file} ${why}; refused`), { code: 'EPERM' });
}
