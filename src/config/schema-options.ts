// How fnjail's JSON Schemas (policies/*.schema.json) are compiled with ajv: the
// same options for the validators precompiled at build time
// (scripts/gen-validators.mjs) and for a schema compiled at run time.

/** verbose: errors carry their schema, so that an alternative (oneOf) that has
 * a description is reported as that description, not as each branch's failure. */
export const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true, verbose: true } as const;

/** Formats the schemas use. */
export const FORMATS: Record<string, RegExp> = {
  'absolute-path': /^\/(?!.*\0)/,
};

/** The schemas precompiled at build time (every one in policies/). */
export const SCHEMAS = ['config', 'policy', 'seccomp-profile', 'request', 'audit-event'] as const;
