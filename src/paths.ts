// Where the installed parts of fnjail live, relative to this package.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file is dist/src/paths.js once compiled. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const launcherBinary = path.join(packageRoot, 'sandbox', 'build', 'fnjail-launcher');
/** The dashboard page, as built from web/ (scripts/build-web.sh). */
export const dashboardAssetsDir = path.join(packageRoot, 'dist', 'dashboard');
export const policiesDir = path.join(packageRoot, 'policies');
export const shippedPolicy = path.join(policiesDir, 'default-policy.json');

/** fnjail's version, from its package.json. */
export function fnjailVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}
