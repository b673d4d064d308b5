// The config file of fnjail serve: JSON validated against
// policies/config.schema.json, then each value read as its flag's text would
// be (serve-options.ts), every problem located (file:line:column: /key).
import fs from 'node:fs';
import { InvalidJsonFile, parseValidated, problemLocator, type Problem } from './json-file.js';
import { BadValue, configKeys, readOption, type ServeValues } from './serve-options.js';

export const DEFAULT_CONFIG_FILE = '/etc/fnjail/config.json';

/** The settings a config file sets; throws InvalidJsonFile with every problem. */
export function readConfigFile(file: string): ServeValues {
  const text = fs.readFileSync(file, 'utf8');
  const document = parseValidated<Record<string, unknown>>(text, file, 'config');
  const problemAt = problemLocator(file, text);
  const problems: Problem[] = [];
  const values: Record<string, unknown> = {};
  const keys = configKeys();
  for (const [key, value] of Object.entries(document)) {
    const name = keys.get(key);
    if (!name) continue; // $schema, description
    try {
      values[name] = readOption(name, value);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      problems.push(problemAt(`/${key}`, error.message));
    }
  }
  if (problems.length) throw new InvalidJsonFile(file, problems);
  return values as ServeValues;
}
