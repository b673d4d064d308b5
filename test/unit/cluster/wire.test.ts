// The cluster's messages as they travel (src/cluster/wire.ts): a JSON line
// checked against policies/cluster-message.schema.json, then bytes kept as
// they were; anything else refused with the reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage, encodeMessage, InvalidMessage } from '../../../src/cluster/wire.js';

const id = 'ab'.repeat(12);

describe('cluster messages', () => {
  it('a call (its start) and its input bytes (newlines and all) come back as they were sent; so does a result with its output', () => {
    const input = Buffer.from('line one\nline two\n\x00\xff');
    const data = encodeMessage({ type: 'start', id, call: { function: 'echo', tenant: 't', principal: 'uid 1000 on a' }, inputBytes: input.length }, input);
    const { message, body } = decodeMessage(data, 'start');
    assert.equal(message.call.function, 'echo');
    assert.ok(body.equals(input));
    const result = encodeMessage({ type: 'result', id, outcome: 'ok', reasons: [], limitsHit: [], durationMs: 1.5, outputBytes: input.length, chunks: 0 }, input);
    assert.ok(decodeMessage(result, 'result').body.equals(input));
    // The reservation carries no call; a cancel gives it back.
    assert.deepEqual(decodeMessage(encodeMessage({ type: 'call', id, caller: 'a', target: 'b' }), 'call').message, { type: 'call', id, caller: 'a', target: 'b' });
    assert.deepEqual(decodeMessage(encodeMessage({ type: 'cancel', id }), 'cancel').message, { type: 'cancel', id });
    const bad = (value: object) => Buffer.from(`${JSON.stringify(value)}\n`);
    assert.throws(() => decodeMessage(bad({ type: 'call', id, caller: 'a', target: 'b', call: { function: 'echo', tenant: 't', principal: 'p' }, inputBytes: 0 }), 'call'), /invalid call message/);
  });

  it("a relayed connection's messages: data with its bytes, credit, end, abort; a credit of nothing refused", () => {
    const bytes = Buffer.from('\n\x00 any bytes\n');
    const { message, body } = decodeMessage(encodeMessage({ type: 'relay-data', id, seq: 7 }, bytes), 'relay-data', 'relay-credit', 'relay-eof', 'relay-abort');
    assert.deepEqual(message, { type: 'relay-data', id, seq: 7 });
    assert.ok(body.equals(bytes));
    for (const m of [{ type: 'relay-credit', id, bytes: 65536 }, { type: 'relay-eof', id, seq: 8 }, { type: 'relay-abort', id, reason: 'reset' }] as const) {
      assert.deepEqual(decodeMessage(encodeMessage(m), 'relay-data', 'relay-credit', 'relay-eof', 'relay-abort').message, m);
    }
    const bad = (value: object) => Buffer.from(`${JSON.stringify(value)}\n`);
    assert.throws(() => decodeMessage(bad({ type: 'relay-credit', id, bytes: 0 }), 'relay-credit'), /invalid relay-credit message: \/bytes/);
    assert.throws(() => decodeMessage(bad({ type: 'relay-data', id, seq: -1 }), 'relay-data'), /invalid relay-data message: \/seq/);
    assert.throws(() => decodeMessage(bad({ type: 'relay-eof', id }), 'relay-eof'), /invalid relay-eof message/);
    // A call carrying a connection names its relay (an id like a call's).
    const call = (connection: object) => bad({ type: 'start', id, call: { function: 'toupper', tenant: 't', principal: 'p', connection }, inputBytes: 0 });
    assert.equal(decodeMessage(call({ relay: id, idleMs: 30000 }), 'start').message.call.connection?.relay, id);
    assert.throws(() => decodeMessage(call({ relay: 'x.>', idleMs: 0 }), 'start'), /invalid start message: \/call\/connection\/relay/);
  });

  it('refuses a message of another type than expected, unreadable JSON, or one the schema refuses', () => {
    const leave = encodeMessage({ type: 'leave', node: 'a', incarnation: '0123456789abcdef' });
    assert.throws(() => decodeMessage(leave, 'heartbeat'), /a leave message where heartbeat was expected/);
    assert.throws(() => decodeMessage(Buffer.from('{"type":'), 'leave'), InvalidMessage);
    assert.throws(() => decodeMessage(Buffer.from('no newline'), 'leave'), /no JSON line/);
    const bad = (value: object) => Buffer.from(`${JSON.stringify(value)}\n`);
    assert.throws(() => decodeMessage(bad({ type: 'leave', node: 'A.B', incarnation: '0123456789abcdef' }), 'leave'), /invalid leave message: \/node/);
    assert.throws(() => decodeMessage(bad({ type: 'leave', node: 'a', incarnation: '0123456789abcdef', extra: 1 }), 'leave'), /invalid leave message/);
    assert.throws(() => decodeMessage(bad({ type: 'cancel', id: 'short' }), 'cancel'), /invalid cancel message: \/id/);
    assert.throws(
      () => decodeMessage(bad({ type: 'start', id, call: { function: '../etc', tenant: 't', principal: 'p' }, inputBytes: 0 }), 'start'),
      /invalid start message: \/call\/function/,
    );
  });
});
