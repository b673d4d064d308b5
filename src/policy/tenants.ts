// Which tenant a peer is: by uid (or user name) first, then by gid or group
// name (primary or supplementary), then the default tenant. At most one tenant
// may match at a level; two matching by groups is an ambiguity the policy must
// fix, and is denied, never settled by order.
import type { ServiceClient, Tenant } from './decide.js';
import type { Policy, TenantPolicy, Who } from './policy.js';
import { tokenTenant } from './tokens.js';

export type TenantMatch = { tenant: TenantPolicy; by: string } | { tenant: undefined; reason: string; rule: string };

/** Who TCP clients that no tenant gives an account act as. */
export const NOBODY = { uid: 65534, gid: 65534, groups: [] as number[] };

export function describePeer(peer: Tenant): string {
  const service = peer.remote?.service;
  if (service) return `client ${peer.remote!.address} of function '${service.function}' exposed on ${service.listen}`;
  if (peer.remote) {
    if (peer.remote.token !== undefined) return `HTTP client with token '${peer.remote.token}' (${peer.remote.address})`;
    return peer.remote.commonName !== undefined ? `TLS client '${peer.remote.commonName}' (${peer.remote.address})` : `anonymous TCP client ${peer.remote.address}`;
  }
  const groups = peer.groups.length ? `, groups ${peer.groups.join(',')}` : '';
  return `uid ${peer.uid} (gid ${peer.gid}${groups})`;
}

/** A client over TCP: its token's or its certificate's common name picks its
 * tenant, whose account gives the ids its files are opened and owned with. */
export function remotePeer(policy: Policy, remote: NonNullable<Tenant['remote']>): Tenant {
  const tenant =
    remote.token !== undefined ? tokenTenant(policy, remote.token)
    : remote.commonName === undefined ? undefined
    : policy.tenants.find((t) => t.tlsClients.includes(remote.commonName!));
  const ids = tenant?.account ?? NOBODY;
  return { uid: ids.uid, gid: ids.gid, groups: ids.groups, pid: 0, remote };
}

/** A client of an exposed function: it acts as the tenant the admin chose
 * (--expose NAME=HOST:PORT@TENANT, else the function's owner), with that
 * tenant's account's ids, as a TLS client does. */
export function servicePeer(policy: Policy, address: string, service: ServiceClient): Tenant {
  const ids = (service.tenant === undefined ? undefined : tenantNamed(policy, service.tenant))?.account ?? NOBODY;
  return { uid: ids.uid, gid: ids.gid, groups: ids.groups, pid: 0, remote: { address, commonName: undefined, fingerprint: undefined, service } };
}

function tenantNamed(policy: Policy, name: string): TenantPolicy | undefined {
  return name === policy.defaults?.name ? policy.defaults : policy.tenants.find((t) => t.name === name);
}

export function matchTenant(policy: Policy, peer: Tenant): TenantMatch {
  const service = peer.remote?.service;
  if (service) {
    const by = `client of function '${service.function}' exposed on ${service.listen}`;
    const tenant = service.tenant === undefined ? undefined : tenantNamed(policy, service.tenant);
    if (tenant) return { tenant, by };
    const why = service.tenant === undefined ? "the function's owner, whom its clients act as, is not known" : `its clients act as tenant '${service.tenant}' (--expose), which is not in the policy`;
    return { tenant: undefined, rule: 'tenants', reason: `${by}: ${why}` };
  }
  // A TCP client is who its token or certificate says, never the ids its tenant lends it.
  if (peer.remote) {
    const { commonName, token } = peer.remote;
    if (token !== undefined) {
      // Checked again at every decision: a token revoked while its call waited is refused, never taken for the defaults.
      const holder = tokenTenant(policy, token);
      if (holder) return { tenant: holder, by: `token '${token}'` };
      return { tenant: undefined, rule: 'tenants', reason: `no tenant has the token '${token}' any more (revoked)` };
    }
    const byName = commonName === undefined ? undefined : policy.tenants.find((t) => t.tlsClients.includes(commonName));
    if (byName) return { tenant: byName, by: `TLS client '${commonName}'` };
    if (policy.defaults) return { tenant: policy.defaults, by: 'no tenant matched' };
    return { tenant: undefined, rule: 'tenants', reason: `no tenant matches ${describePeer(peer)}, and the policy has no defaults` };
  }
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

/** Whether the peer is in a who-list of the policy (by uid, gid, TLS client name or token id). */
export function isIn(who: Who, peer: Tenant): boolean {
  if (peer.remote?.token !== undefined) return who.tokens.has(peer.remote.token);
  if (peer.remote) return peer.remote.commonName !== undefined && who.tlsClients.has(peer.remote.commonName);
  return who.uids.has(peer.uid) || [peer.gid, ...peer.groups].some((g) => who.gids.has(g));
}

/** Whether the peer may see the live statistics: root, or a monitor of the policy. */
export function isMonitor(policy: Policy, peer: Tenant): boolean {
  return (!peer.remote && peer.uid === 0) || isIn(policy.monitors, peer);
}
