// The names of the uids and gids that connect, for the audit log: through
// libc's getpwuid_r/getgrgid_r (so LDAP and the like work, as getent does),
// with koffi; cached for a minute, since a name service may be slow and the
// same few tenants call again and again.
import koffi from 'koffi';

const TTL_MS = 60_000;
const BUFFER_BYTES = 16 * 1024;

type Lookup = (id: number, entry: object, buffer: Buffer, length: number, result: [unknown]) => number;
let bindings: { user: Lookup; group: Lookup } | undefined;

function binding() {
  if (!bindings) {
    const libc = koffi.load('libc.so.6');
    // Only the first field is read: both structs start with the name.
    koffi.struct('fnjail_named_entry', { name: 'char *', rest: koffi.array('uint8', 40) });
    bindings = {
      user: libc.func('int getpwuid_r(uint32_t uid, _Out_ fnjail_named_entry *pwd, uint8_t *buf, size_t buflen, _Out_ void **result)'),
      group: libc.func('int getgrgid_r(uint32_t gid, _Out_ fnjail_named_entry *grp, uint8_t *buf, size_t buflen, _Out_ void **result)'),
    };
  }
  return bindings;
}

const cache = new Map<string, { name: string | undefined; until: number }>();

function lookup(kind: 'user' | 'group', id: number): string | undefined {
  const key = `${kind}:${id}`;
  const now = Date.now();
  const cached = cache.get(key);
  if (cached && cached.until > now) return cached.name;
  const entry = { name: '' as string | null, rest: [] };
  const result: [unknown] = [null];
  const buffer = Buffer.alloc(BUFFER_BYTES);
  const status = binding()[kind](id, entry, buffer, buffer.length, result);
  const name = status === 0 && result[0] !== null && entry.name ? entry.name : undefined;
  cache.set(key, { name, until: now + TTL_MS });
  return name;
}

/** The user name of a uid, or undefined if it has none. */
export const userName = (uid: number) => lookup('user', uid);
/** The group name of a gid, or undefined if it has none. */
export const groupName = (gid: number) => lookup('group', gid);
