// User and group names, resolved when the policy is loaded, through the
// system's name service (getent: /etc/passwd and /etc/group, or LDAP and the
// like where configured).
import { spawnSync } from 'node:child_process';

function lookup(database: 'passwd' | 'group', name: string): number | undefined {
  const result = spawnSync('getent', [database, name], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const id = Number(result.stdout.split(':')[2]);
  return Number.isInteger(id) ? id : undefined;
}

export const userId = (name: string) => lookup('passwd', name);
export const groupId = (name: string) => lookup('group', name);
