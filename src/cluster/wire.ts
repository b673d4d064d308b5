// The messages nodes send each other (policies/cluster-message.schema.json),
// as they travel: one JSON line, then the bytes the message carries, if any (a
// call's input, a chunk of output). JSON.stringify never writes a raw newline,
// so the first one ends the JSON. Every message received is checked against
// the schema, and against the subject it came on: a message is believed only
// if the node its subject names (the broker's guarantee) is the node it
// speaks for.
import { schemaValidator } from '../config/json-file.js';
import type { ManifestDocument } from '../functions/manifest.js';

export type MemberState = 'joining' | 'up' | 'suspect' | 'down' | 'left';

export interface HeartbeatMessage {
  type: 'heartbeat';
  node: string;
  incarnation: string;
  /** When this incarnation started (epoch ms): of two alive with one name, the later wins. */
  startedAt: number;
  seq: number;
  sentAt: number;
  version: string;
  ready: boolean;
  cpu: { host: number; node?: number; cores: number };
  memory: { totalBytes: number; availableBytes: number; usedBytes: number };
  load: [number, number, number];
  /** answered: requests this incarnation has answered so far (its calls per second, on the dashboard); absent from older nodes. */
  calls: { running: number; freeSlots: number; queued: number; capacity: number; answered?: number };
}

export interface LeaveMessage {
  type: 'leave';
  node: string;
  incarnation: string;
}

export interface MemberChange {
  node: string;
  incarnation: string;
  from: MemberState | null;
  to: MemberState;
  at: number;
  reason: string;
  silentMs?: number;
}

export interface MembersMessage {
  type: 'members';
  coordinator: string;
  term: number;
  changes: MemberChange[];
}

export interface CallSpec {
  function: string;
  export?: string;
  /** The function as the calling node resolved it: the target runs that version. */
  pinned?: PinnedFunction;
  tenant: string;
  principal: string;
  timeoutMs?: number;
  /** Who asked, as the calling node identified them: the node that runs the call decides again for them. */
  peer?: CallPeer;
  /** A per-connection program's call: the connection stays on the calling node, its bytes relayed (connection-relay.ts). */
  connection?: { relay: string; idleMs: number };
}

export interface PinnedFunction {
  owner: string;
  kind: 'library' | 'program';
  /** The version (sha256 of the bundle): fetched by it, its hash checked. */
  version: string;
  /** That version's fnjail.json. */
  manifest: ManifestDocument;
}

export interface CallPeer {
  uid: number;
  gid: number;
  groups: number[];
  remote?: { address: string; commonName?: string; fingerprint?: string; service?: { function: string; listen: string; tenant?: string } };
}

/** A slot reserved for a call to come (remote-calls.ts): the call itself comes with start. */
export interface CallMessage {
  type: 'call';
  id: string;
  caller: string;
  target: string;
}

/** Runs a reserved call: the call, and its input after the JSON line. */
export interface StartMessage {
  type: 'start';
  id: string;
  call: CallSpec;
  inputBytes: number;
}

export interface ResultMessage {
  type: 'result';
  id: string;
  outcome: string;
  reasons: string[];
  limitsHit: string[];
  request?: string;
  durationMs: number;
  outputBytes: number;
  /** The output messages sent before; with none, the output follows this message's JSON line. */
  chunks: number;
}

export type ClusterMessage =
  | HeartbeatMessage
  | LeaveMessage
  | MembersMessage
  | CallMessage
  | StartMessage
  /** The reservation given back: its call will not come. */
  | { type: 'cancel'; id: string }
  | { type: 'accepted'; id: string; incarnation: string }
  | { type: 'refused'; id: string; reason: string }
  | { type: 'started'; id: string }
  | { type: 'expired'; id: string; reason: string }
  | { type: 'output'; id: string; seq: number }
  | ResultMessage
  // A relayed connection's bytes (connection-relay.ts), on fnjail.node.<sender>.conn.<receiver>.<relay>:
  /** A chunk of the connection's bytes (they follow the JSON line), numbered from 0. */
  | { type: 'relay-data'; id: string; seq: number }
  /** The sender takes this many more bytes (a bounded window: neither side buffers without limit). */
  | { type: 'relay-credit'; id: string; bytes: number }
  /** The sender's side has ended after seq chunks (half-close). */
  | { type: 'relay-eof'; id: string; seq: number }
  /** The connection is over, bytes in flight dropped (a reset, or a chunk lost). */
  | { type: 'relay-abort'; id: string; reason: string };

export type MessageOf<T extends ClusterMessage['type']> = Extract<ClusterMessage, { type: T }>;

const NEWLINE = 0x0a;

export function encodeMessage(message: ClusterMessage, body?: Uint8Array): Uint8Array {
  const json = Buffer.from(`${JSON.stringify(message)}\n`);
  return body?.length ? Buffer.concat([json, body]) : json;
}

export class InvalidMessage extends Error {}

/** The message and its bytes; throws InvalidMessage if it is not of one of the expected types. */
export function decodeMessage<T extends ClusterMessage['type']>(data: Uint8Array, ...expected: T[]): { message: MessageOf<T>; body: Buffer } {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const end = bytes.indexOf(NEWLINE);
  if (end < 0) throw new InvalidMessage('no JSON line');
  let value: unknown;
  try {
    value = JSON.parse(bytes.subarray(0, end).toString('utf8'));
  } catch (error) {
    throw new InvalidMessage(`not JSON: ${(error as Error).message}`);
  }
  const validate = schemaValidator('cluster-message');
  const type = (value as { type?: unknown } | null)?.type;
  if (!expected.includes(type as T)) throw new InvalidMessage(`a ${String(type)} message where ${expected.join(' or ')} was expected`);
  if (!validate(value)) {
    // The schema checks the definition the type names (if/then), so the first error says what is wrong.
    const error = validate.errors?.find((e) => e.keyword !== 'if');
    throw new InvalidMessage(`invalid ${String(type)} message: ${error?.instancePath || '/'} ${error?.message ?? 'does not match the schema'}`);
  }
  return { message: value as MessageOf<T>, body: bytes.subarray(end + 1) };
}
