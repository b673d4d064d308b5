// fnjail run --cat: the reply names a file, and the CLI prints it. The reply
// comes from whatever listens on the socket or port the CLI was pointed at
// (FNJAIL_SOCKET, FNJAIL_CONNECT): a fake server run by another user could
// name /etc/shadow and have a root CLI print it. So the CLI opens a reply path
// only when it is a file directly in the output directory (whose path must be
// made of root-owned directories, without links: output-dir.ts), opened
// without following a link, a regular file with one name, owned by the user
// running the CLI (the server makes each output file the caller's).
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';
import { FnjailError } from '../errors.js';
import { trustedDirectory } from '../server/output-dir.js';

export function readReplyFile(reply: string, outputDir: string): Buffer {
  const refuse = (why: string): never => {
    throw new FnjailError('FNJ_REPLY_REFUSED', `the server's reply ${JSON.stringify(reply)} ${why}; not printed`, 'is the CLI talking to the real fnjail server? --output-dir must be the server\'s output directory');
  };
  if (!path.isAbsolute(reply) || path.normalize(reply) !== reply || path.dirname(reply) !== path.resolve(outputDir)) {
    refuse(`is not a file of the output directory ${outputDir}`);
  }
  const directory = trustedDirectory(outputDir, false);
  if ('problem' in directory) refuse(`is in an output directory that cannot be trusted (${directory.problem})`);
  let fd: number;
  try {
    fd = fs.openSync(reply, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (error) {
    return refuse(`cannot be opened: ${(error as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link' : (error as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    const caller = process.geteuid?.() ?? 0;
    if (!st.isFile()) refuse('is not a regular file');
    if (st.nlink !== 1) refuse(`has ${st.nlink} names`);
    if (st.uid !== caller) refuse(`is owned by uid ${st.uid}, not by this user (uid ${caller}): output files belong to whoever asked`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
