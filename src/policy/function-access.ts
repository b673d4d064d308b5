// Who may do what with registered functions. A function belongs to a tenant
// (the one that first deployed it); a tenant may always call, see, redeploy
// and remove its own; `callFunctionsOf` lets it call and see other tenants'
// functions, `manageFunctionsOf` redeploy, remove and see them; `deploy` lets
// it deploy at all (with its quota). Root and the policy's `admins` may do
// everything with every function, so that the shipped policy, which names no
// one, works for the admin at once. Every answer names the rule that gave it.
import { deniedBy, type Tenant } from './decide.js';
import type { DeployGrant, Policy, TenantPolicy } from './policy.js';
import { isIn, matchTenant } from './tenants.js';

export type FunctionAction = 'call' | 'show' | 'manage';

export type Access = { allowed: true; rule: string } | { allowed: false; reason: string; rule: string | undefined };

/** Root (a local peer with uid 0) and the policy's admins. */
export function adminRule(policy: Policy, peer: Tenant): string | undefined {
  if (!peer.remote && peer.uid === 0) return 'root';
  return isIn(policy.admins, peer) ? 'admins' : undefined;
}

/** The policy fields that grant an action on another tenant's function. */
const GRANTED_BY: Record<FunctionAction, Array<'callFunctionsOf' | 'manageFunctionsOf'>> = {
  call: ['callFunctionsOf'],
  show: ['callFunctionsOf', 'manageFunctionsOf'],
  manage: ['manageFunctionsOf'],
};

/** What a tenant may do with a function owned by `owner`. */
export function functionAccess(policy: Policy, peer: Tenant, action: FunctionAction, name: string, owner: string): Access {
  const admin = adminRule(policy, peer);
  if (admin) return { allowed: true, rule: admin };
  const match = matchTenant(policy, peer);
  if (!match.tenant) return { allowed: false, reason: deniedBy(policy.path, match.rule, match.reason), rule: match.rule };
  const tenant = match.tenant;
  if (owner === tenant.name) return { allowed: true, rule: `${tenant.label} (${match.by}): its own function` };
  const field = GRANTED_BY[action].find((f) => tenant.grant[f].includes(owner) || tenant.grant[f].includes('*'));
  if (field) return { allowed: true, rule: `${tenant.label} (${match.by}): ${tenant.grant.origin[field].rule}` };
  const wanted = GRANTED_BY[action][0]!;
  const origin = tenant.grant.origin[wanted];
  const others = tenant.grant[wanted];
  const verb = { call: 'call', show: 'see', manage: 'redeploy or remove' }[action];
  return {
    allowed: false,
    rule: origin.rule,
    reason: deniedBy(origin.source, origin.rule, `function '${name}' belongs to tenant '${owner}'; ${tenant.label} may ${verb} its own functions${others.length ? ` and those of ${others.join(', ')}` : ' only'}`),
  };
}

export type DeployAccess = { allowed: true; tenant: TenantPolicy; admin: boolean; quota: DeployGrant | undefined; rule: string } | { allowed: false; reason: string; rule: string | undefined };

/** Whether the peer may deploy (a new function, or a new version of one it may manage), and under which quota. */
export function deployAccess(policy: Policy, peer: Tenant): DeployAccess {
  const match = matchTenant(policy, peer);
  const admin = adminRule(policy, peer);
  // A function belongs to a tenant: an admin whom no tenant matches deploys nothing.
  if (!match.tenant) return { allowed: false, rule: match.rule, reason: deniedBy(policy.path, match.rule, `${match.reason}; a function must belong to a tenant`) };
  const tenant = match.tenant;
  if (admin) return { allowed: true, tenant, admin: true, quota: undefined, rule: admin };
  const grant = tenant.grant.deploy;
  if (!grant) {
    const origin = tenant.grant.origin.deploy;
    return { allowed: false, rule: origin.rule, reason: deniedBy(origin.source, origin.rule, `${tenant.label} may not deploy functions (no "deploy" in its policy)`) };
  }
  return { allowed: true, tenant, admin: false, quota: grant, rule: `${tenant.label} (${match.by}): ${grant.rule}` };
}
