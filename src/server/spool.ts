// Request bodies spooled to files: a call over HTTP gets its body as its
// input file, so the body is written to a file the sandbox can be given,
// in a directory of the server's (/var/lib/fnjail/spool: root's, 0711, so
// that nobody can list it or put anything in it), created like an output
// file (O_EXCL|O_NOFOLLOW, random name, 0600) and owned by the tenant who
// sent it: the launcher opens an input with the tenant's own credentials.
// At most maxBytes are written; a longer body is refused, and its file
// removed. The caller removes the file once the call is over.
import fs, { constants as fsc } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { prepareStateDir } from '../config/state-dir.js';
import type { FnjailError } from '../errors.js';
import { randomName } from '../executor/output-file.js';

const TEMPLATE = 'in-XXXXXXXXXX';

export function prepareSpoolDir(dir: string): void {
  prepareStateDir(dir, 0o711, 'the spool directory');
  fs.chmodSync(dir, 0o711);
  // Left by a server that was killed in the middle of a call.
  for (const name of fs.readdirSync(dir)) if (name.startsWith('in-')) fs.rmSync(path.join(dir, name), { force: true });
}

/** Writes the body to a new file owned by uid:gid; undefined when the body is empty (no input). Over maxBytes: throws tooLarge(). */
export async function spoolBody(dir: string, body: Readable, maxBytes: number, owner: { uid: number; gid: number }, tooLarge: () => FnjailError): Promise<string | undefined> {
  let file: string | undefined;
  let handle: fs.promises.FileHandle | undefined;
  let bytes = 0;
  try {
    // Stopping at the limit leaves the request alive (not destroyed), so that its refusal can be written.
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      const data = chunk as Buffer;
      bytes += data.length;
      if (bytes > maxBytes) throw tooLarge();
      if (!handle) ({ file, handle } = await create(dir, owner));
      await handle.write(data);
    }
    return file;
  } catch (error) {
    if (file) unlinkQuietly(file);
    throw error;
  } finally {
    await handle?.close();
  }
}

async function create(dir: string, owner: { uid: number; gid: number }): Promise<{ file: string; handle: fs.promises.FileHandle }> {
  for (;;) {
    const file = path.join(dir, randomName(TEMPLATE));
    try {
      const handle = await fs.promises.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      await handle.chown(owner.uid, owner.gid);
      return { file, handle };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Removes a spooled input or a call's output file, gone already or not (a
 * plain unlink: fs.rmSync would lstat it first, as a tree). */
export function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // gone already
  }
}
