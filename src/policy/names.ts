// User and group names, resolved when the policy is loaded, through the
// system's name service (getent: /etc/passwd and /etc/group, or LDAP and the
// like where configured).
import { spawnSync } from 'node:child_process';

function getent(database: 'passwd' | 'group', key: string): string[] | undefined {
  const result = spawnSync('getent', [database, key], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n')[0]!.split(':') : undefined;
}

function lookup(database: 'passwd' | 'group', name: string): number | undefined {
  const id = Number(getent(database, name)?.[2]);
  return Number.isInteger(id) ? id : undefined;
}

export const userId = (name: string) => lookup('passwd', name);
export const groupId = (name: string) => lookup('group', name);

/** A user's account, by name or uid: what a peer of that user would present. */
export function account(user: string | number): { name: string; uid: number; gid: number; groups: number[] } | undefined {
  const entry = getent('passwd', String(user));
  if (!entry) return undefined;
  const [name, , uid, gid] = entry as [string, string, string, string];
  const id = spawnSync('id', ['-G', name], { encoding: 'utf8' });
  const groups = id.status === 0 ? id.stdout.trim().split(/\s+/).map(Number) : [];
  return { name, uid: Number(uid), gid: Number(gid), groups: groups.filter((g) => g !== Number(gid)) };
}

/** Who belongs to a group: its listed members and the users whose primary
 * group it is, as uids (a name that resolves to no user: undefined, so the
 * caller can refuse to trust what it cannot name). */
export function groupMemberUids(gid: number): Array<number | undefined> {
  const members = getent('group', String(gid))?.[3]?.split(',').filter(Boolean) ?? [];
  const listed = members.map((name) => lookup('passwd', name));
  const all = spawnSync('getent', ['passwd'], { encoding: 'utf8' });
  const primary = all.status === 0 ? all.stdout.split('\n').map((line) => line.split(':')).filter((f) => f[3] === String(gid)).map((f) => Number(f[2])) : [];
  return [...listed, ...primary];
}
