// Unpacking a checked bundle (bundle.ts) into a directory it creates itself,
// and nowhere else. The directory must not exist (mkdir fails otherwise, like
// O_EXCL); it stays 0700 while being filled, so nobody else can add or swap
// anything in it meanwhile; files are created with O_EXCL|O_NOFOLLOW; modes
// are 0755/0644 only, owner root; every mtime is the epoch, so make decides
// the same way wherever it runs. On any failure the directory is removed.
import fs from 'node:fs';
import path from 'node:path';
import type { Bundle } from './bundle.js';

const isRoot = process.getuid?.() === 0;

function own(file: string): void {
  // Explicitly: a setgid parent directory would otherwise hand its group down.
  if (isRoot) fs.lchownSync(file, 0, 0);
}

export function extractBundle(bundle: Bundle, destination: string): void {
  fs.mkdirSync(destination, { mode: 0o700 });
  try {
    own(destination);
    for (const entry of bundle.entries) {
      const target = path.join(destination, entry.path);
      if (entry.type === 'directory') {
        fs.mkdirSync(target, { mode: 0o755 });
        fs.chmodSync(target, 0o755); // past the umask
      } else if (entry.type === 'symlink') {
        fs.symlinkSync(entry.target, target);
      } else {
        const mode = entry.executable ? 0o755 : 0o644;
        const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
        const fd = fs.openSync(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        try {
          fs.writeFileSync(fd, entry.data);
          fs.fchmodSync(fd, mode);
        } finally {
          fs.closeSync(fd);
        }
      }
      own(target);
    }
    // Children first, so that filling a directory does not move its time again.
    for (const entry of [...bundle.entries].reverse()) fs.lutimesSync(path.join(destination, entry.path), 0, 0);
    fs.chmodSync(destination, 0o755);
  } catch (error) {
    fs.rmSync(destination, { recursive: true, force: true });
    throw error;
  }
}
