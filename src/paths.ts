// Where the installed parts of fnjail live, relative to this package.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file is dist/src/paths.js once compiled. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const launcherBinary = path.join(packageRoot, 'sandbox', 'build', 'fnjail-launcher');
export const policiesDir = path.join(packageRoot, 'policies');
export const shippedPolicy = path.join(policiesDir, 'default-policy.json');
