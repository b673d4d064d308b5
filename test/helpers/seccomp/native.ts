// Builds the small C programs the seccomp tests use (sources next to this
// file's source, in test/helpers/seccomp/), into test/helpers/seccomp/build/.
// Rebuilt when the source is newer; written under a temporary name and
// renamed, so test files running in parallel never see half a binary.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../../src/paths.js';

export const helperSourceDir = path.join(packageRoot, 'test', 'helpers', 'seccomp');
const buildDir = path.join(helperSourceDir, 'build');

export function buildHelper(name: string, libs: string[] = []): string {
  const source = path.join(helperSourceDir, `${name}.c`);
  const binary = path.join(buildDir, name);
  const fresh = fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs;
  if (!fresh) {
    fs.mkdirSync(buildDir, { recursive: true });
    const temporary = `${binary}.${process.pid}.tmp`;
    execFileSync('cc', ['-O1', '-Wall', '-o', temporary, source, ...libs], { stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(temporary, binary);
  }
  return binary;
}
