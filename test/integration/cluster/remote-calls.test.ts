// The call protocol between two nodes (src/cluster/remote-calls.ts) on a real
// nats-server: a call runs only once its caller said start, so whatever did
// not start may go elsewhere (refused, nobody listening, no answer, start too
// late) and whatever started ends with its result or as "node lost", never
// twice. Outputs larger than a NATS message arrive whole.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsSystem } from '../../../src/cluster/nats-connection.js';
import { RemoteCalls, type CallResult, type IncomingCall, type TargetEvent } from '../../../src/cluster/remote-calls.js';
import { SUBJECTS } from '../../../src/cluster/subjects.js';
import { decodeMessage, encodeMessage } from '../../../src/cluster/wire.js';
import { createTestArea, type TestArea } from '../../helpers/environment.js';
import { startTestNatsServer, type TestNatsServer } from '../../helpers/nats.js';

let area: TestArea;
let server: TestNatsServer;
const systems: NatsSystem[] = [];

before(async () => {
  area = createTestArea();
  // A small max_payload, so that outputs and inputs over it are quick to make.
  server = await startTestNatsServer(area.root, { authorization: { user: 'u', password: 'p' }, max_payload: 65536 });
});
after(async () => {
  // Not stop(): it waits for running calls, and some handlers here never end.
  for (const system of systems) await system.close();
  await server.stop();
  area.cleanup();
});

async function connect(): Promise<NatsSystem> {
  const system = await NatsSystem.connect({ servers: [server.url], user: 'u', password: 'p', insecure: true });
  systems.push(system);
  return system;
}

const ok = (output: string): CallResult => ({ outcome: 'ok', reasons: [], limitsHit: [], output: Buffer.from(output), durationMs: 1 });
const request = (input: string | Buffer, extra = {}) => ({ function: 'echo', tenant: 't', principal: 'p', input: Buffer.from(input), ...extra });

interface Node {
  calls: RemoteCalls;
  handled: IncomingCall[];
  events: TargetEvent[];
  system: NatsSystem;
}

async function node(name: string, handler: (call: IncomingCall) => Promise<CallResult>, options: Partial<ConstructorParameters<typeof RemoteCalls>[0]> = {}): Promise<Node> {
  const system = await connect();
  const handled: IncomingCall[] = [];
  const events: TargetEvent[] = [];
  const calls = new RemoteCalls({
    connection: system.connection,
    node: name,
    incarnation: `${name.padEnd(16, '0')}`.slice(0, 16).replace(/[^0-9a-f]/g, 'a'),
    handler: (call) => {
      handled.push(call);
      return handler(call);
    },
    onTargetEvent: (event) => events.push(event),
    ...options,
  });
  calls.start();
  await system.connection.flush();
  return { calls, handled, events, system };
}

describe('remote calls', () => {
  it('runs a call on its target: the caller learns it started, then gets its result; the target knows who called', async () => {
    const caller = await node('c1', async () => ok('unused'));
    const target = await node('t1', async (call) => ok(`${call.caller} said ${call.input.toString()}`));
    const sent = await caller.calls.send('t1', request('hello'));
    assert.equal(sent.started, true);
    const result = await (sent as { result: Promise<CallResult> }).result;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.output.toString(), 'c1 said hello');
    assert.deepEqual(target.events.map((e) => e.type), ['accepted', 'started', 'finished']);
  });

  it('what did not start says why, and ran nowhere: refused, nobody listening, input too large', async () => {
    const caller = await node('c2', async () => ok(''));
    const busy = await node('t2', async () => ok('ran'), { admit: () => 'no free slot' });
    assert.deepEqual(await caller.calls.send('t2', request('x')), { started: false, why: 'refused', detail: 'refused: no free slot' });
    assert.equal(busy.handled.length, 0);
    const nobody = await caller.calls.send('nobody', request('x'));
    assert.equal(nobody.started, false);
    assert.equal((nobody as { why: string }).why, 'no-responders');
    const large = await caller.calls.send('t2', request(Buffer.alloc(70_000)));
    assert.equal((large as { why: string }).why, 'too-large');
  });

  it('a start that comes after the target gave up on it is answered "expired", and the call never runs', async () => {
    const raw = await connect();
    const target = await node('t3', async () => ok('ran'), { timings: { startWithinMs: 50 } });
    const id = 'cd'.repeat(12);
    const ask = async (message: Parameters<typeof encodeMessage>[0], body?: Buffer) =>
      decodeMessage((await raw.connection.request(SUBJECTS.call('t3', 'c3'), encodeMessage(message, body), { timeout: 5000 })).data, 'accepted', 'refused', 'started', 'expired').message;
    const start = { type: 'start', id, call: { function: 'echo', tenant: 't', principal: 'p' }, inputBytes: 1 } as const;
    const accepted = await ask({ type: 'call', id, caller: 'c3', target: 't3' });
    assert.equal(accepted.type, 'accepted');
    while (!target.events.some((e) => e.type === 'expired' && e.id === id)) await new Promise((resolve) => setTimeout(resolve, 10));
    const late = await ask(start, Buffer.from('x'));
    assert.equal(late.type, 'expired');
    assert.equal(target.handled.length, 0);
    // And a call whose subject names another caller than its message is refused.
    const forged = await ask({ type: 'call', id: 'ef'.repeat(12), caller: 'someone-else', target: 't3' });
    assert.equal(forged.type, 'refused');
    // A start whose input is not the size it says is not run, and its reservation is gone.
    const short = 'ab'.repeat(12);
    assert.equal((await ask({ type: 'call', id: short, caller: 'c3', target: 't3' })).type, 'accepted');
    assert.equal((await ask({ ...start, id: short, inputBytes: 2 }, Buffer.from('x'))).type, 'expired');
    assert.equal((await ask({ ...start, id: short }, Buffer.from('x'))).type, 'expired');
    assert.equal(target.handled.length, 0);
  });

  it('a reservation given back frees its slot at once; a start after it is answered "expired", and the call never runs', async () => {
    const caller = await node('c7', async () => ok(''));
    const target = await node('t7', async () => ok('ran'));
    const reserved = await caller.calls.reserve('t7');
    assert.ok(reserved.reserved);
    assert.equal(target.calls.waitingToStart, 1);
    caller.calls.cancel(reserved);
    while (!target.events.some((e) => e.type === 'cancelled' && e.id === reserved.id)) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(target.calls.waitingToStart, 0);
    const late = await caller.calls.startReserved(reserved, request('x'));
    assert.deepEqual([late.started, (late as { why: string }).why], [false, 'expired']);
    assert.equal(target.handled.length, 0);
  });

  it('a call that started and whose target dies or restarts ends as "node lost"; so does one whose result never comes', async () => {
    const caller = await node('c4', async () => ok(''), { timings: { resultGraceMs: 50 } });
    const target = await node('t4', () => new Promise<CallResult>(() => undefined));
    const first = await caller.calls.send('t4', request('a'));
    const second = await caller.calls.send('t4', request('b'));
    assert.ok(first.started && second.started);
    caller.calls.targetChanged('t4', first.incarnation, 'suspect');
    caller.calls.targetChanged('t4', first.incarnation, 'down');
    const lost = await first.result;
    assert.equal(lost.outcome, 'node-lost');
    assert.match(lost.reasons[0]!, /started on node t4, then it went down; it was not run again/);
    assert.equal((await second.result).outcome, 'node-lost');
    const third = await caller.calls.send('t4', request('c'));
    assert.ok(third.started);
    caller.calls.targetChanged('t4', 'ffffffffffffffff', 'joining');
    assert.match((await third.result).reasons[0]!, /then it restarted/);
    const deadline = await caller.calls.send('t4', request('d', { timeoutMs: 20 }));
    assert.ok(deadline.started);
    assert.match((await deadline.result).reasons[0]!, /no result came within 70 ms/);
    assert.equal(target.handled.length, 4, 'each ran once, where it was sent');
  });

  it('a handler that throws is a server error; an output larger than a NATS message arrives whole; a reply from another node is ignored', async () => {
    const caller = await node('c5', async () => ok(''));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const target = await node('t5', async (call) => {
      if (call.input.toString() === 'throw') throw new Error('the launcher is gone');
      await gate;
      return ok('z'.repeat(300_000));
    });
    const failed = await caller.calls.send('t5', request('throw'));
    assert.ok(failed.started);
    const result = await failed.result;
    assert.equal(result.outcome, 'server-error');
    assert.match(result.reasons[0]!, /node t5 could not run the call: the launcher is gone/);

    const big = await caller.calls.send('t5', request('big'));
    assert.ok(big.started);
    // While it runs, a third node sends a result for that call on its own reply subject: not believed.
    const id = target.events.find((e) => e.type === 'started' && !target.events.some((f) => f.type === 'finished' && f.id === e.id))!.id;
    const rogue = await connect();
    rogue.connection.publish(SUBJECTS.reply('rogue', 'c5', id), encodeMessage({ type: 'result', id, outcome: 'ok', reasons: [], limitsHit: [], durationMs: 0, outputBytes: 0, chunks: 0 }));
    await rogue.connection.flush();
    release();
    const whole = await big.result;
    assert.equal(whole.outcome, 'ok');
    assert.equal(whole.output.length, 300_000);
    assert.ok(whole.output.equals(Buffer.alloc(300_000, 'z')));
  });

  it('stop(): new calls are refused, the running one finishes and its result is sent', async () => {
    const caller = await node('c6', async () => ok(''));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const target = await node('t6', async () => {
      await gate;
      return ok('finished');
    });
    const running = await caller.calls.send('t6', request('a'));
    assert.ok(running.started);
    const stopped = target.calls.stop();
    assert.deepEqual(await caller.calls.send('t6', request('b')), { started: false, why: 'refused', detail: 'refused: node t6 is stopping' });
    release();
    await stopped;
    assert.equal((await running.result).output.toString(), 'finished');
  });
});
