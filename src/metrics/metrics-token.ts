// The metrics token: a secret in a file (--metrics-token FILE) that a
// Prometheus scraper presents as `Authorization: Bearer <token>`
// (credentials_file in its scrape config) to see the series naming tenants and
// libraries. A token others can read is no secret: the file must be root's,
// a regular file (no link followed), readable by nobody else.
import { createHash, timingSafeEqual } from 'node:crypto';
import fs, { constants as fsc } from 'node:fs';
import { FnjailError } from '../errors.js';

export function readMetricsToken(file: string): string {
  const fail = (why: string): never => {
    throw new FnjailError('FNJ_METRICS_FAILED', `the metrics token ${file} ${why}`, 'a file owned by root, mode 0600, holding one line of at least 16 characters');
  };
  let fd: number;
  try {
    fd = fs.openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (error) {
    return fail(`cannot be read: ${(error as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) fail('is not a regular file');
    if (st.uid !== 0) fail(`is owned by uid ${st.uid}, not root`);
    if (st.mode & 0o077) fail(`may be read or changed by others (mode 0${(st.mode & 0o7777).toString(8)})`);
    const token = fs.readFileSync(fd, 'utf8').trim();
    if (token.length < 16 || /\s/.test(token)) fail('must hold one word of at least 16 characters');
    return token;
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a presented bearer token is the metrics token (compared in constant time). */
export function tokenMatches(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
