// Schemas shared by the API's routes (route schemas: validated by ajv, and
// the source of the OpenAPI document).
import { PROBLEM_TYPE } from '../problem.js';

export const functionNameParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'A function name: lowercase letters, digits and dashes, at most 63.' },
  },
} as const;

/** RFC 9457 problem details, with fnjail's members. */
export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'outcome', 'reasons', 'request'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    outcome: { type: 'string', description: "The call's outcome (docs/errors.md), or error for a request that is not a call." },
    reasons: { type: 'array', items: { type: 'string' }, description: 'The Reason lines.' },
    request: { type: 'string' },
    code: { type: 'string', description: 'An error code of docs/errors.md.' },
    hint: { type: 'string', description: 'What to do about it.' },
    output: { type: 'string', description: 'What the function printed before it failed (UTF-8), at most 1 MiB.' },
    outputBase64: { type: 'string', description: 'The same, in base64, when it is not UTF-8.' },
    outputTruncated: { type: 'boolean' },
  },
} as const;

export const problemResponses = {
  '4xx': { description: 'Refused.', content: { [PROBLEM_TYPE]: { schema: problemSchema } } },
  '5xx': { description: 'Failed, or the registry is not available.', content: { [PROBLEM_TYPE]: { schema: problemSchema } } },
} as const;

const versionSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    deployedAt: { type: 'string' },
    deployedBy: { type: 'string' },
    archiveBytes: { type: 'integer' },
    contentBytes: { type: 'integer' },
    builtFrom: { type: 'string' },
  },
} as const;

/** A function record of the registry (src/functions/registry.ts). */
export const functionSchema = {
  type: 'object',
  required: ['name', 'owner', 'kind', 'version', 'manifest'],
  properties: {
    name: { type: 'string' },
    owner: { type: 'string', description: 'The tenant it belongs to.' },
    kind: { type: 'string', enum: ['library', 'program'] },
    manifest: { type: 'object', additionalProperties: true, description: 'Its fnjail.json, as written.' },
    version: { type: 'string', description: 'The current version: the sha256 of its canonical tar.' },
    deployedAt: { type: 'string' },
    deployedBy: { type: 'string' },
    versions: { type: 'array', items: versionSchema, description: 'The versions kept, newest first.' },
  },
} as const;
