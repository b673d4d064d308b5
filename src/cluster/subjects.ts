// The names of the cluster on NATS, in one place: the subjects nodes speak on,
// the JetStream buckets they share, and the node names themselves. The
// broker's permissions (broker-config.ts) are written from the same names, so
// what a node may publish and what it does publish cannot drift apart.
//
// Identity is carried by the subject, never by the payload: the broker lets
// node N publish only under fnjail.node.N.> (its heartbeats, its departure,
// its announcements as coordinator, its answers to calls, its side of relayed
// connections) and send calls only
// as fnjail.call.<target>.N. A receiver learns who spoke from the subject, and
// refuses a payload that names anyone else.
import { FnjailError } from '../errors.js';

/** A node name: a DNS label (lowercase), so it is one NATS subject token and a host name. */
export const NODE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function checkNodeName(name: string, what = 'node name'): string {
  if (!NODE_NAME.test(name)) {
    throw new FnjailError('FNJ_USAGE', `'${name}' is not a usable ${what}: 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit`);
  }
  return name;
}

export const SUBJECTS = {
  /** Published once a second by the node (heartbeat.ts). */
  heartbeat: (node: string) => `fnjail.node.${node}.heartbeat`,
  /** Published by a node that stops cleanly. */
  leave: (node: string) => `fnjail.node.${node}.leave`,
  /** Membership changes, published by the coordinator under its own name. */
  members: (coordinator: string) => `fnjail.node.${coordinator}.members`,
  /** A call for target, sent by caller (a request: its reply inbox gets accepted/refused, started/expired). */
  call: (target: string, caller: string) => `fnjail.call.${target}.${caller}`,
  /** What target sends back to caller about one call: its output and its result. */
  reply: (target: string, caller: string, id: string) => `fnjail.node.${target}.reply.${caller}.${id}`,
  /** The bytes of relayed connection `relay`, sent by `from` to `to` (each side publishes under its own name). */
  relay: (from: string, to: string, relay: string) => `fnjail.node.${from}.conn.${to}.${relay}`,
  /** Wildcards for receivers. */
  anyHeartbeat: 'fnjail.node.*.heartbeat',
  anyLeave: 'fnjail.node.*.leave',
  anyMembers: 'fnjail.node.*.members',
  callsFor: (target: string) => `fnjail.call.${target}.*`,
  repliesFor: (caller: string) => `fnjail.node.*.reply.${caller}.>`,
  relaysFor: (node: string) => `fnjail.node.*.conn.${node}.>`,
} as const;

/** The token of a subject at a position (0-based), for reading who spoke. */
export function subjectToken(subject: string, index: number): string | undefined {
  return subject.split('.')[index];
}

/**
 * The node's reply inboxes: every request it makes (JetStream's API included)
 * gets its answer under this prefix, and the broker lets it subscribe there
 * only, so no node reads another's answers. Give it to NatsSystem.connect
 * (inboxPrefix) for a node's connection.
 */
export function inboxPrefix(node: string): string {
  return `_INBOX.${node}`;
}

/** The JetStream buckets of the cluster (KV buckets and object stores). */
export const CLUSTER_BUCKETS = {
  /** Node name → member entry, written by the coordinator (membership.ts). */
  members: 'fnjail-members',
  /** One key, "lease": who coordinates (coordinator.ts). */
  coordinator: 'fnjail-coordinator',
} as const;

export type SharedStore =
  | { kind: 'kv' | 'object'; bucket: string }
  /** A plain stream (the jobs queue): its name, and the subjects nodes publish to it. */
  | { kind: 'stream'; stream: string; subjects: string[] };

/** The name of the JetStream stream behind a KV bucket, an object store or a plain stream. */
export function streamOf(store: SharedStore): string {
  if (store.kind === 'stream') return store.stream;
  return store.kind === 'kv' ? `KV_${store.bucket}` : `OBJ_${store.bucket}`;
}
