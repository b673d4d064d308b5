// fnjail functions [--json] | show NAME | rm NAME: the registered functions
// you may see, one in detail, or removing one, through the server's API.
import type { FunctionRecord } from '../functions/registry.js';
import { API_HELP, API_OPTIONS, apiClient } from './api-socket.js';
import { parse, usageError } from './args.js';
import { clean } from './stats-format.js';

export const FUNCTIONS_HELP = `usage: fnjail functions [--json]
       fnjail functions show NAME [--json]
       fnjail functions rm NAME

Lists the registered functions you may see (yours, those your policy lets you
call or manage, or every one for root and the policy's admins), shows one, or
removes one (yours, or one your policy lets you manage).

options:
  --json               print JSON (the server's records)
${API_HELP}
  --help               this text
`;

export async function functionsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('functions', args, { ...API_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(FUNCTIONS_HELP);
    return 0;
  }
  const client = apiClient(values);
  const [action, name, ...rest] = positionals;
  if (rest.length) throw usageError('functions', `unexpected argument '${rest[0]}'`);
  const out = (text: string) => process.stdout.write(text);
  switch (action) {
    case undefined: {
      if (name !== undefined) throw usageError('functions', `unexpected argument '${name}'`);
      const records = await client.functions();
      out(values.json ? `${JSON.stringify(records)}\n` : table(records));
      return 0;
    }
    case 'show': {
      if (name === undefined) throw usageError('functions', 'show needs a function NAME');
      const record = await client.show(name);
      out(values.json ? `${JSON.stringify(record)}\n` : details(record));
      return 0;
    }
    case 'rm':
    case 'remove': {
      if (name === undefined) throw usageError('functions', 'rm needs a function NAME');
      const removed = await client.remove(name);
      out(values.json ? `${JSON.stringify(removed)}\n` : `${removed.name}: removed (it belonged to ${removed.owner})\n`);
      return 0;
    }
    default:
      throw usageError('functions', `unknown action '${action}' (show NAME, rm NAME, or nothing to list them)`);
  }
}

function table(records: FunctionRecord[]): string {
  if (!records.length) return 'no functions (fnjail deploy PATH deploys one)\n';
  const rows = [['NAME', 'OWNER', 'KIND', 'VERSION', 'DEPLOYED', 'BY'], ...records.map((r) => [r.name, r.owner, r.kind, r.version.slice(0, 12), r.deployedAt, r.deployedBy])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => clean(row[i]!).length)));
  return rows.map((row) => row.map((cell, i) => clean(cell).padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function details(r: FunctionRecord): string {
  const m = r.manifest;
  const lines = [
    ['name', r.name],
    ['description', m.description],
    ['owner', r.owner],
    ['kind', r.kind === 'library' ? `library (functions: ${(m.functions ?? []).join(', ')})` : `program (${m.mode})`],
    ['entry', m.entry],
    ['limits', m.limits ? JSON.stringify(m.limits) : undefined],
    ['version', r.version],
    ['deployed', `${r.deployedAt} by ${r.deployedBy}`],
    ['versions kept', r.versions.map((v) => `${v.version.slice(0, 12)} (${v.deployedAt})`).join(', ')],
  ].filter((line): line is [string, string] => line[1] !== undefined);
  return lines.map(([key, value]) => `${`${key}:`.padEnd(15)}${clean(value)}`).join('\n') + '\n';
}
