// fnjail deploy PATH [--name NAME]: deploys a bundle, a directory or a
// .tar.gz, through the server's API. A directory is packed here, with the
// bundle code the server reads it with (deterministic: the same content is
// the same version however it is packed), and refused here for what the
// server would refuse (links out, device nodes, setuid files, size).
import fs from 'node:fs';
import { FnjailError } from '../errors.js';
import { readBundleArchive } from '../functions/bundle-archive.js';
import { readBundleDirectory } from '../functions/bundle-directory.js';
import { compressBundle } from '../functions/bundle.js';
import { manifestOf } from '../functions/bundle-manifest.js';
import { API_HELP, API_OPTIONS, apiClient } from './api-socket.js';
import { parse, usageError } from './args.js';

export const DEPLOY_HELP = `usage: fnjail deploy [options] PATH

Deploys a function: PATH is a bundle, a directory or a .tar.gz with a manifest,
fnjail.json, at its top (docs/functions.md). The function is named by its
manifest (or --name), and belongs to your tenant; deploying it again makes a
new version (calls running on the old one are not disturbed). Who may deploy,
and how much, is the server's policy ("deploy", docs/policy.md).

options:
  --name NAME          deploy under this name instead of the manifest's
  --json               print the server's reply (the function's record) as JSON
${API_HELP}
  --help               this text
`;

export async function deployCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('deploy', args, { ...API_OPTIONS, name: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(DEPLOY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw usageError('deploy', 'expected one PATH: a bundle directory or .tar.gz');
  const source = positionals[0]!;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (error) {
    throw new FnjailError('FNJ_BUNDLE_INVALID', `cannot read ${source}: ${(error as Error).message}`);
  }
  let archive: Buffer;
  let bundle;
  if (stat.isDirectory()) {
    bundle = readBundleDirectory(source);
    archive = await compressBundle(bundle);
  } else {
    archive = fs.readFileSync(source);
    bundle = await readBundleArchive(archive);
  }
  const name = values.name ?? manifestOf(bundle).name;
  const reply = await apiClient(values).deploy(name, archive);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  } else {
    const record = reply.function;
    const what = reply.unchanged ? 'unchanged (this version is deployed already)' : reply.created ? 'deployed' : 'redeployed';
    process.stdout.write(`${record.name}: ${what}, version ${record.version.slice(0, 12)}, ${record.kind}, owner ${record.owner}\n`);
  }
  return 0;
}
