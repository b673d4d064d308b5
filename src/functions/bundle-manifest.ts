// The manifest a bundle carries (fnjail.json at its top), and what it says
// checked against the bundle itself: an entry that must be there already is.
import { bundleFile, type Bundle } from './bundle.js';
import { BundleError } from './bundle-error.js';
import { resolveLink, type PathKind } from './bundle-paths.js';
import { MANIFEST_FILE, parseManifest, type Manifest } from './manifest.js';

export function manifestOf(bundle: Bundle): Manifest {
  const text = bundleFile(bundle, MANIFEST_FILE);
  if (!text) throw new BundleError('no-manifest', `the bundle has no ${MANIFEST_FILE} at its top (see docs/functions.md)`);
  const manifest = parseManifest(text.toString('utf8'), MANIFEST_FILE);
  // A bundle that is built may make its entry; one used as shipped must hold it.
  if (!manifest.build) checkEntry(bundle, manifest, 'and the manifest asks for no build');
  return manifest;
}

/** The manifest's entry must be a file of the bundle (a built bundle's, after its build). */
export function checkEntry(bundle: Bundle, manifest: Manifest, why: string): void {
  const kinds = new Map<string, PathKind>(bundle.entries.map((e) => [e.path, e.type === 'symlink' ? e : { type: e.type }]));
  // Resolved from the top as the kernel will, through the bundle's links.
  const resolved = resolveLink(MANIFEST_FILE, manifest.entry, (path) => kinds.get(path));
  if (kinds.get(resolved)?.type !== 'file') {
    throw new BundleError('missing-entry', `the manifest's entry ${manifest.entry} is not a file of the bundle, ${why}`, manifest.entry);
  }
}
