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
export const SCHEMAS = ['config', 'policy', 'seccomp-profile', 'request', 'audit-event', 'manifest', 'cluster-message'] as const;

/**
 * policies/<name>.schema.json and every sibling schema it refers to
 * ("policy.schema.json#/definitions/limits"), each once, the ones referred to
 * first: one schema reuses another's definitions instead of copying them, and
 * ajv must know a sibling before it compiles a schema that refers to it.
 */
export function schemaFamily(name: string, readText: (name: string) => string): { name: string; text: string }[] {
  const family: { name: string; text: string }[] = [];
  const add = (member: string) => {
    if (family.some((m) => m.name === member)) return;
    const text = readText(member);
    for (const [, sibling] of text.matchAll(/"\$ref"\s*:\s*"([a-z0-9-]+)\.schema\.json#/g)) if (sibling !== member) add(sibling!);
    family.push({ name: member, text });
  };
  add(name);
  return family;
}

/** What a precompiled validator records of the schemas it was built from: a
 * change to a sibling schema it refers to makes it stale too. */
export function familyHash(family: { name: string; text: string }[], createHash: typeof import('node:crypto').createHash): string {
  const hash = createHash('sha256');
  for (const { name, text } of family) hash.update(`${name}\0${text}\0`);
  return hash.digest('hex');
}
