// Bearer tokens of HTTP clients (policy: a tenant's "tokens"). A token is 32
// random bytes, written as "fnj_" and 43 base64url characters; the policy
// keeps only its SHA-256. A fast hash is enough here, unlike for passwords:
// a slow or salted hash protects secrets people choose, which are few enough
// to try them all against a leaked hash; a token has 256 random bits, so
// nothing can be tried against its hash, and checking it costs a
// microsecond per request instead of making every request a CPU sink.
// A presented token is compared with every hash of the policy, each in
// constant time and without stopping at a match, so the time taken says
// nothing of which tokens exist or how close a guess came.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Policy, TenantPolicy } from './policy.js';

const PREFIX = 'fnj_';
/** The shape of a token: anything else is not one (and is not hashed). */
const TOKEN = /^fnj_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The tenant a token belongs to and the token's id, or undefined (unknown, revoked, or not a token). */
export function tokenOwner(policy: Policy, token: string): { tenant: TenantPolicy; id: string } | undefined {
  if (!TOKEN.test(token)) return undefined;
  const presented = createHash('sha256').update(token).digest();
  let found: { tenant: TenantPolicy; id: string } | undefined;
  for (const tenant of policy.tenants) {
    for (const entry of tenant.tokens) {
      if (timingSafeEqual(presented, entry.sha256) && !found) found = { tenant, id: entry.id };
    }
  }
  return found;
}

/** The tenant holding the token with this id now (a token revoked since it was checked: undefined). */
export function tokenTenant(policy: Policy, id: string): TenantPolicy | undefined {
  return policy.tenants.find((t) => t.tokens.some((entry) => entry.id === id));
}
