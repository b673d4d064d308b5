// Output files: created before the run with mkstemp semantics (O_CREAT|O_EXCL|
// O_NOFOLLOW, random suffix, retry on EEXIST), mode 0600, owned by the tenant.
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ATTEMPTS = 100;

/** Replaces the trailing run of X's of a template (out-XXXXXX) with random characters. */
export function randomName(template: string): string {
  const match = /X+$/.exec(template);
  const count = match ? match[0].length : 0;
  const bytes = randomBytes(count);
  let suffix = '';
  for (let i = 0; i < count; i++) suffix += ALPHABET[bytes[i]! % ALPHABET.length];
  return template.slice(0, template.length - count) + suffix;
}

export async function createOutputFile(dir: string, template: string, uid: number, gid: number): Promise<string> {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const file = path.join(dir, randomName(template));
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    try {
      await handle.chown(uid, gid);
    } catch (error) {
      await handle.close();
      await fs.unlink(file).catch(() => {});
      throw error;
    }
    await handle.close();
    return file;
  }
  throw new Error(`no free output file name in ${dir} after ${ATTEMPTS} attempts`);
}

/** Appends lines after what the function printed, on a line of their own. */
export async function appendLines(file: string, lines: string[]): Promise<void> {
  const handle = await fs.open(file, fsc.O_RDWR | fsc.O_APPEND | fsc.O_NOFOLLOW);
  try {
    const { size } = await handle.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await handle.write(prefix + lines.map((l) => `${l}\n`).join(''));
  } finally {
    await handle.close();
  }
}

/** Replaces the whole content (the classic error file holds only its line). */
export async function replaceContent(file: string, lines: string[]): Promise<void> {
  const handle = await fs.open(file, fsc.O_WRONLY | fsc.O_TRUNC | fsc.O_NOFOLLOW);
  try {
    await handle.write(lines.map((l) => `${l}\n`).join(''));
  } finally {
    await handle.close();
  }
}
