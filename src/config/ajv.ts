// The one ajv instance compiled at run time: fnjail's options and formats
// (schema-options.ts), shared by the JSON files whose precompiled validator
// is stale (json-file.ts) and the HTTP API's route schemas (http/app.ts), so
// that every schema is checked under the same rules. Loaded only when a
// schema must be compiled: the validators of policies/ are precompiled at
// build time, and fnjail run never needs it.
import { createRequire } from 'node:module';
import type { Ajv as AjvInstance } from 'ajv';
import { AJV_OPTIONS, FORMATS } from './schema-options.js';

const require = createRequire(import.meta.url);
let shared: AjvInstance | undefined;

export function sharedAjv(): AjvInstance {
  if (!shared) {
    const { Ajv } = require('ajv') as typeof import('ajv');
    shared = new Ajv(AJV_OPTIONS);
    for (const [format, pattern] of Object.entries(FORMATS)) shared.addFormat(format, pattern);
  }
  return shared;
}
