// Names of jobs and of whom they belong to, as the KV bucket and the queue
// stream use them. A ticket is 128 random bits (unguessable: knowing one is
// no right, but nobody can find one by trying). A job belongs to the
// principal that submitted it, a local uid, a TLS client's name or a bearer
// token's id, never to
// a whole tenant: the default tenant gathers every user no tenant names, and
// they must not see each other's jobs. Its key in the bucket starts with that
// principal, so a request can only ever read its own principal's keys: a
// ticket of someone else's is not found, exactly like one that never existed.
// The queue is per tenant (its limit of unfinished replicas): its subject
// carries a hash of the tenant's name (subjects allow few characters).
import { createHash, randomBytes } from 'node:crypto';
import type { Tenant } from '../policy/decide.js';

export const TICKET_PATTERN = '^[0-9a-f]{32}$';
const TICKET = new RegExp(TICKET_PATTERN);

export function newTicket(): string {
  return randomBytes(16).toString('hex');
}

export function isTicket(text: string): boolean {
  return TICKET.test(text);
}

const hash = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/** Who owns the jobs a peer submits; undefined: an anonymous TCP client, who may own none. */
export function ownerOf(peer: Tenant): string | undefined {
  if (!peer.remote) return `u${peer.uid}`;
  if (peer.remote.commonName !== undefined) return `c${hash(peer.remote.commonName, 24)}`;
  // A bearer token's holder: the token's id (the policy's), never the token.
  return peer.remote.token === undefined ? undefined : `k${hash(peer.remote.token, 24)}`;
}

/** The job's key in the bucket: its owner, then its ticket. */
export function jobKey(owner: string, ticket: string): string {
  return `${owner}.${ticket}`;
}

/** A tenant's queue: the last token of its work items' subject. */
export function queueToken(tenant: string): string {
  return `t${hash(tenant, 16)}`;
}

/** The objects of a job in the object store. */
export const jobObjects = {
  input: (ticket: string) => `${ticket}/input`,
  bundle: (ticket: string) => `${ticket}/bundle`,
  /** Per attempt: a run that lost its replica to a redelivery never overwrites the output of the one kept. */
  output: (ticket: string, replica: number, attempt: number) => `${ticket}/output/${replica}-${attempt}`,
};
