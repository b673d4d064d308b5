// The config file of fnjail serve: JSON validated against
// policies/config.schema.json, then each value read as its flag's text would
// be (serve-options.ts), every problem located (file:line:column: /key).
//
// Which file: --config FILE, else $FNJAIL_CONFIG, else /etc/fnjail/config.json
// if it exists; --no-config: none at all (tests, a second server beside the
// host's own). The server, `fnjail config check` and `fnjail policy` agree.
import fs from 'node:fs';
import { FnjailError } from '../errors.js';
import { InvalidJsonFile, parseValidated, problemLocator, sortProblems, type Problem } from './json-file.js';
import { BadValue, configKeys, readOption, type ServeValues } from './serve-options.js';

export const DEFAULT_CONFIG_FILE = '/etc/fnjail/config.json';

export interface ConfigChoice {
  /** --config FILE. */
  config?: string | undefined;
  /** --no-config. */
  noConfig?: boolean | undefined;
}

/** The config file to read, and whether someone named it (then it must exist). */
export function configFileToRead(choice: ConfigChoice, env: NodeJS.ProcessEnv = process.env): { file: string | undefined; named: boolean } {
  if (choice.noConfig) return { file: undefined, named: false };
  const named = choice.config ?? (env.FNJAIL_CONFIG || undefined);
  if (named !== undefined) return { file: named, named: true };
  return { file: fs.existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined, named: false };
}

/** What is known of a config file: its settings, and every problem found in it. */
export interface ConfigReading {
  file: string;
  values: ServeValues;
  problems: Problem[];
  /** Locates a problem found later (a conflict between keys) in the file. */
  problemAt: (pointer: string, message: string) => Problem;
  /** The keys the file sets, as written. */
  keys: string[];
}

/**
 * Reads every key it can, and reports every problem at once: the schema's,
 * and each value that its flag would refuse (the flag's message, which says
 * more than the schema's, wins at the same key). Throws only when the file
 * cannot be read (ENOENT, EACCES).
 */
export function readConfig(file: string): ConfigReading {
  const text = fs.readFileSync(file, 'utf8');
  const problemAt = problemLocator(file, text);
  let document: unknown;
  let problems: Problem[] = [];
  try {
    document = parseValidated<Record<string, unknown>>(text, file, 'config');
  } catch (error) {
    if (!(error instanceof InvalidJsonFile)) throw error;
    problems = error.problems;
    document = error.value;
  }
  const values: Record<string, unknown> = {};
  const keys = configKeys();
  const written = typeof document === 'object' && document !== null && !Array.isArray(document) ? Object.entries(document) : [];
  for (const [key, value] of written) {
    const name = keys.get(key);
    if (!name) continue; // $schema, description, or unknown (the schema says so)
    try {
      values[name] = readOption(name, value);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      problems = problems.filter((p) => p.pointer !== `/${key}` && !p.pointer.startsWith(`/${key}/`));
      problems.push(problemAt(`/${key}`, error.message));
    }
  }
  return { file, values: values as ServeValues, problems: sortProblems(problems), problemAt, keys: written.map(([key]) => key) };
}

/** The settings a config file sets; throws InvalidJsonFile with every problem. */
export function readConfigFile(file: string): ServeValues {
  const reading = readConfig(file);
  if (reading.problems.length) throw new InvalidJsonFile(file, reading.problems);
  return reading.values;
}

/** The settings of the config file chosen (none: {}), for serve and policy;
 * an invalid or unreadable file is an error naming every problem. */
export function loadConfig(choice: ConfigChoice, env: NodeJS.ProcessEnv = process.env): { file: string | undefined; values: ServeValues } {
  const { file } = configFileToRead(choice, env);
  if (file === undefined) return { file, values: {} };
  let reading: ConfigReading;
  try {
    reading = readConfig(file);
  } catch (error) {
    throw new FnjailError('FNJ_CONFIG_UNREADABLE', `cannot read the config file ${file}: ${(error as Error).message}`, 'check the path given with --config or FNJAIL_CONFIG; --no-config runs without one');
  }
  if (reading.problems.length) {
    const count = reading.problems.length;
    throw new FnjailError('FNJ_CONFIG_INVALID', `invalid config file ${file}: ${count} problem${count === 1 ? '' : 's'}\n${new InvalidJsonFile(file, reading.problems).message}`, `fix it (fnjail config check ${file} shows every problem, the policy's too), then start again`);
  }
  return { file, values: reading.values };
}
