// Which tenant a peer is: by uid (or user name) first, then by gid or group
// name (primary or supplementary), then the default tenant. At most one tenant
// may match at a level; two matching by groups is an ambiguity the policy must
// fix, and is denied, never settled by order.
import type { Tenant } from './decide.js';
import type { Policy, TenantPolicy } from './policy.js';

export type TenantMatch = { tenant: TenantPolicy; by: string } | { tenant: undefined; reason: string; rule: string };

export function describePeer(peer: Tenant): string {
  const groups = peer.groups.length ? `, groups ${peer.groups.join(',')}` : '';
  return `uid ${peer.uid} (gid ${peer.gid}${groups})`;
}

export function matchTenant(policy: Policy, peer: Tenant): TenantMatch {
  const byUid = policy.tenants.find((t) => t.uids.includes(peer.uid));
  if (byUid) return { tenant: byUid, by: `uid ${peer.uid}` };
  const gids = [peer.gid, ...peer.groups];
  const byGroup = policy.tenants.filter((t) => t.gids.some((g) => gids.includes(g)));
  if (byGroup.length === 1) {
    const gid = gids.find((g) => byGroup[0]!.gids.includes(g));
    return { tenant: byGroup[0]!, by: `gid ${gid}` };
  }
  if (byGroup.length > 1) {
    const which = byGroup.map((t) => `${t.label} (gid ${gids.find((g) => t.gids.includes(g))}, ${t.source})`).join(' and ');
    return {
      tenant: undefined,
      // Named with their files when these differ: tenants[0] of a.json and of b.json are two tenants.
      rule: byGroup.map((t) => `${t.rule}.match${new Set(byGroup.map((b) => b.source)).size > 1 ? ` (${t.source})` : ''}`).join(' and '),
      reason: `${describePeer(peer)} matches ${which} through its groups; give the user a tenant of its own (by uid or name), or remove the overlap`,
    };
  }
  if (policy.defaults) return { tenant: policy.defaults, by: 'no tenant matched' };
  return { tenant: undefined, rule: 'tenants', reason: `no tenant matches ${describePeer(peer)}, and the policy has no defaults` };
}

/** Whether the peer may see the live statistics: root, or a monitor of the policy. */
export function isMonitor(policy: Policy, peer: Tenant): boolean {
  const { uids, gids } = policy.monitors;
  return peer.uid === 0 || uids.has(peer.uid) || [peer.gid, ...peer.groups].some((g) => gids.has(g));
}
