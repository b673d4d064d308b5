// The server's state directories (/var/lib/fnjail/...): created when missing,
// and refused when anyone but root could change what is in them, directly or
// by swapping a directory above them — the same rule the library checks apply
// (src/policy/file-trust.ts), since unpacked functions are loaded from
// there and the private nats-server's credentials live there.
import fs from 'node:fs';
import { FnjailError } from '../errors.js';
import { trustProblem } from '../policy/file-trust.js';
import { DEFAULT_STATE_DIR } from './defaults.js';

export { DEFAULT_STATE_DIR };

/** Creates dir (and missing parents, 0755) with mode if it does not exist; throws FNJ_STATE_DIR_UNSAFE. */
export function prepareStateDir(dir: string, mode: number, purpose: string): void {
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, mode);
  }
  const owners = new Set([0, process.getuid?.() ?? 0]);
  const label = `${purpose} ${dir}`;
  const problem = trustProblem(dir, { owners, noun: label, above: label, rationale: 'what is kept there must be changed by nobody but root' });
  if (problem) throw new FnjailError('FNJ_STATE_DIR_UNSAFE', problem, `chown root:root and chmod go-w it (and the directories above it), or choose another directory`);
}
