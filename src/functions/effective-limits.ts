// The limits a call of a registered function runs under: the tenant's policy
// and the function's manifest each give some; the stricter value of each wins,
// so a manifest can tighten its tenant's limits but never loosen them. Which
// side applied is kept per field, for `fnjail policy explain`.
import type { Limits } from '../launcher/protocol.js';

export type LimitSource = 'policy' | 'manifest';

export interface EffectiveLimits {
  limits: Limits;
  /** Per field: where the value in force comes from (the policy on a tie). */
  source: Record<keyof Limits, LimitSource>;
}

const FIELDS: Array<keyof Limits> = ['timeoutMs', 'cpuMs', 'memoryBytes', 'maxProcs', 'maxFiles', 'outputBytes', 'tmpBytes'];

export function effectiveLimits(policy: Limits, manifest: Partial<Limits>): EffectiveLimits {
  const limits = { ...policy };
  const source = {} as Record<keyof Limits, LimitSource>;
  for (const field of FIELDS) {
    const asked = manifest[field];
    // Every limit is an upper bound: smaller is stricter.
    if (asked !== undefined && asked < policy[field]) {
      limits[field] = asked;
      source[field] = 'manifest';
    } else {
      source[field] = 'policy';
    }
  }
  return { limits, source };
}
