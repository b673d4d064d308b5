// Output files: created before the run with mkstemp semantics (O_CREAT|O_EXCL|
// O_NOFOLLOW, random suffix, retry on EEXIST), mode 0600, owned by the tenant.
//
// Creating one takes three metadata system calls of a few microseconds each on
// the local output directory; done synchronously they cost ~13 us of the event
// loop, through the thread pool ~80 us of CPU and more latency (measured:
// bench/ and the closing note of the speed issue). So they are synchronous.
import { randomFillSync } from 'node:crypto';
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ATTEMPTS = 100;

/** Random bytes drawn from the kernel a batch at a time (one call per
 * thousand names, not one per name). */
const pool = Buffer.alloc(4096);
let poolUsed = pool.length;
function randomByte(): number {
  if (poolUsed === pool.length) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  return pool[poolUsed++]!;
}

/** Replaces the trailing run of X's of a template (out-XXXXXX) with random
 * characters (62 of them, chosen without bias). */
export function randomName(template: string): string {
  const match = /X+$/.exec(template);
  const count = match ? match[0].length : 0;
  let suffix = '';
  while (suffix.length < count) {
    const byte = randomByte();
    if (byte < 248) suffix += ALPHABET[byte % ALPHABET.length]; // 248 = 4 * 62
  }
  return template.slice(0, template.length - count) + suffix;
}

export function createOutputFile(dir: string, template: string, uid: number, gid: number): string {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const file = path.join(dir, randomName(template));
    let fd: number;
    try {
      fd = fs.openSync(file, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    try {
      fs.fchownSync(fd, uid, gid);
    } catch (error) {
      fs.unlinkSync(file);
      throw error;
    } finally {
      fs.closeSync(fd);
    }
    return file;
  }
  throw new Error(`no free output file name in ${dir} after ${ATTEMPTS} attempts`);
}

/** Appends lines after what the function printed, on a line of their own; returns the file's size after. */
export function appendLines(file: string, lines: string[]): number {
  const fd = fs.openSync(file, fsc.O_RDWR | fsc.O_APPEND | fsc.O_NOFOLLOW);
  try {
    const { size } = fs.fstatSync(fd);
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const text = Buffer.from(prefix + lines.map((l) => `${l}\n`).join(''));
    return size + fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces the whole content (the classic error file holds only its line); returns the file's size after. */
export function replaceContent(file: string, lines: string[]): number {
  const fd = fs.openSync(file, fsc.O_WRONLY | fsc.O_TRUNC | fsc.O_NOFOLLOW);
  try {
    return fs.writeSync(fd, Buffer.from(lines.map((l) => `${l}\n`).join('')));
  } finally {
    fs.closeSync(fd);
  }
}
