// fnjail config check [FILE]: the server's config file as fnjail serve would
// read it, and the policy it names, every problem of every kind at once
// (like nginx -t): the schema's, each value's, settings that conflict, names,
// addresses and files that cannot be used, then the policy's problems, each
// as file:line:column: /pointer: message, top to bottom.
import fs from 'node:fs';
import tls from 'node:tls';
import { configFileToRead, readConfig, type ConfigReading } from '../config/config-file.js';
import { defaultPolicyPath } from '../config/defaults.js';
import { formatProblem, InvalidJsonFile, type Problem } from '../config/json-file.js';
import { parseListenAddress } from '../config/listen-address.js';
import { SERVE_OPTIONS, type ServeValues } from '../config/serve-options.js';
import { settingsConflicts } from '../config/serve-settings.js';
import { groupId, userId } from '../policy/names.js';
import { loadPolicy, type Policy } from '../policy/policy.js';
import { launcherFilter, profileErrorDetail } from '../seccomp/launcher-filter.js';
import { parse, usageError } from './args.js';

export const CONFIG_HELP = `usage: fnjail config check [FILE]

Checks the config file of fnjail serve and the policy it names, as the server
would load them, and prints every problem at once, top to bottom, as
file:line:column: /key: what is wrong. FILE defaults to the one the server
reads: $FNJAIL_CONFIG, else /etc/fnjail/config.json (without one, the
defaults and the default policy are checked).

Checked: the schema (policies/config.schema.json), each value as its flag
reads it, settings that do not go together, socket owner and group, listen
and metrics addresses, the TLS files (readable, the key matching the
certificate), the seccomp profile, then the policy (fnjail policy check).

Exit 0 if everything is valid, 1 if anything is not.

options:
  --help   this text
`;

export async function configCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('config', args, { help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  const [command, file, ...rest] = positionals;
  if (command !== 'check') throw usageError('config', command === undefined ? 'expected check' : `unknown config command '${command}'`);
  if (rest.length) throw usageError('config', 'expected at most one file: fnjail config check [FILE]');
  return check(file ?? configFileToRead({}).file);
}

function check(file: string | undefined): number {
  let reading: ConfigReading | undefined;
  if (file !== undefined) {
    try {
      reading = readConfig(file);
    } catch (error) {
      process.stderr.write(`fnjail: cannot read the config file ${file}: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const values = reading?.values ?? {};
  const configProblems = reading ? [...reading.problems, ...semanticProblems(reading)] : [];
  const policyPath = values.policy ?? defaultPolicyPath();
  const { policy, problems: policyProblems } = checkPolicy(policyPath, values);

  // The file's own problems in the order of its lines, then the policy's (sorted by loadPolicy).
  const ordered = [...configProblems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)), ...policyProblems];
  for (const problem of ordered) process.stderr.write(`${formatProblem(problem)}\n`);
  for (const warning of policy?.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
  const where = file ?? 'no config file (the defaults)';
  if (ordered.length) {
    process.stderr.write(`${where}: invalid: ${plural(configProblems.length, 'problem')} in the config, ${plural(policyProblems.length, 'problem')} in its policy ${policyPath}\n`);
    return 1;
  }
  process.stdout.write(`${where}: valid\npolicy ${policy!.path}: valid (sha256 ${policy!.hash.slice(0, 12)}, ${plural(policy!.tenants.length, 'tenant')}${policy!.defaults ? ' and defaults' : ''})\n`);
  return 0;
}

/** What the schema and the readers cannot see: conflicts between keys, and names, addresses and files the server could not use. */
function semanticProblems(reading: ConfigReading): Problem[] {
  const { values, problemAt } = reading;
  const at = (key: string, index?: number) => (index === undefined ? `/${key}` : `/${key}/${index}`);
  const problems: Problem[] = [];
  for (const conflict of settingsConflicts(values)) {
    const key = conflict.names.map((name) => SERVE_OPTIONS[name].key).find((k) => reading.keys.includes(k)) ?? SERVE_OPTIONS[conflict.names[0]!].key;
    problems.push(problemAt(at(key), conflict.message));
  }
  values.listen?.forEach((address, i) => tryProblem(problems, problemAt, at('listen', i), () => parseListenAddress(address)));
  if (values.metrics !== undefined) tryProblem(problems, problemAt, at('metrics'), () => parseListenAddress(values.metrics!, 'metrics'));
  if (typeof values.socketOwner === 'string' && userId(values.socketOwner) === undefined) problems.push(problemAt(at('socketOwner'), `unknown user '${values.socketOwner}'`));
  if (typeof values.socketGroup === 'string' && groupId(values.socketGroup) === undefined) problems.push(problemAt(at('socketGroup'), `unknown group '${values.socketGroup}'`));
  const tlsFiles = { tlsCert: values.tlsCert, tlsKey: values.tlsKey, tlsCa: values.tlsCa };
  let readable = true;
  for (const [key, path] of Object.entries(tlsFiles)) {
    if (path === undefined) continue;
    try {
      fs.accessSync(path, fs.constants.R_OK);
    } catch (error) {
      readable = false;
      problems.push(problemAt(at(key), `cannot be read: ${(error as Error).message}`));
    }
  }
  if (readable && tlsFiles.tlsCert && tlsFiles.tlsKey && tlsFiles.tlsCa) {
    const { tlsCert, tlsKey, tlsCa } = tlsFiles;
    tryProblem(problems, problemAt, at('tlsCert'), () =>
      tls.createSecureContext({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey), ca: fs.readFileSync(tlsCa) }),
    );
  }
  if (values.seccomp !== undefined) {
    tryProblem(problems, problemAt, at('seccomp'), () => launcherFilter(values.seccomp!), (error) => `seccomp profile '${values.seccomp}' cannot be used: ${profileErrorDetail(error)}`);
  }
  return problems;
}

function tryProblem(problems: Problem[], problemAt: ConfigReading['problemAt'], pointer: string, check: () => unknown, message = (error: unknown) => (error as Error).message): void {
  try {
    check();
  } catch (error) {
    problems.push(problemAt(pointer, message(error)));
  }
}

function checkPolicy(policyPath: string, values: ServeValues): { policy: Policy | undefined; problems: Problem[] } {
  try {
    return { policy: loadPolicy(policyPath, { allowDirs: values.allowDir, seccomp: values.seccomp }), problems: [] };
  } catch (error) {
    if (error instanceof InvalidJsonFile) return { policy: undefined, problems: error.problems };
    const problem: Problem = { file: policyPath, pointer: '', line: undefined, column: undefined, message: `cannot be read: ${(error as Error).message}` };
    return { policy: undefined, problems: [problem] };
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
