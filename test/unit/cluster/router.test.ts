// Which node the router picks (src/cluster/router.ts): strict alternation in
// round-robin mode; in least-loaded mode the most free slots, then the least
// CPU, round-robin among equals, never a node with no free slot while another
// has one, and calls sent since a heartbeat counted against its figures.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router, type Candidate } from '../../../src/cluster/router.js';

const node = (name: string, freeSlots = 4, cpu = 0.1, queued = 0, heartbeatSeq = 1): Candidate => ({ node: name, freeSlots, cpu, queued, heartbeatSeq });
const picks = (router: Router, candidates: () => Candidate[], n: number) => Array.from({ length: n }, () => router.pick(candidates())?.node);

describe('the router', () => {
  it('round-robin: strictly the next node by name, whatever the load', () => {
    const router = new Router({ balance: 'round-robin' });
    const nodes = [node('c', 0, 0.9), node('a'), node('b', 100)];
    assert.deepEqual(picks(router, () => nodes, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('round-robin: a node that goes away is skipped, one that comes back takes its turn again', () => {
    const router = new Router({ balance: 'round-robin' });
    assert.deepEqual(picks(router, () => [node('a'), node('b'), node('c')], 2), ['a', 'b']);
    assert.deepEqual(picks(router, () => [node('a'), node('c')], 2), ['c', 'a']);
    assert.deepEqual(picks(router, () => [node('a'), node('b'), node('c')], 3), ['b', 'c', 'a']);
  });

  it('least-loaded: the most free slots first, then the least CPU', () => {
    assert.equal(new Router({ balance: 'least-loaded' }).pick([node('a', 2), node('b', 6), node('c', 3)])?.node, 'b');
    assert.equal(new Router({ balance: 'least-loaded' }).pick([node('a', 4, 0.9), node('b', 4, 0.2), node('c', 4, 0.5)])?.node, 'b');
  });

  it('least-loaded: a node with no free slots gets nothing while another has one; when none has, the shortest queue', () => {
    const router = new Router({ balance: 'least-loaded' });
    const chosen = picks(router, () => [node('a', 0, 0, 0, 0), node('b', 1000, 0.9, 0, 0), node('c', 0, 0, 0, 0)], 5);
    assert.deepEqual(chosen, ['b', 'b', 'b', 'b', 'b']);
    assert.equal(router.pick([node('a', 0, 0, 5), node('b', 0, 0, 2), node('c', 0, 0, 9)])?.node, 'b');
  });

  it('least-loaded: round-robin among equals (CPU within the same step counts as equal)', () => {
    const router = new Router({ balance: 'least-loaded', cpuStep: 0.1 });
    // The same heartbeat each time: calls sent since count against it, so equal nodes take turns.
    const nodes = [node('a', 100, 0.11, 0, 1), node('b', 100, 0.15, 0, 1), node('c', 100, 0.13, 0, 1)];
    assert.deepEqual(picks(router, () => nodes, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('calls sent since a node\'s heartbeat count against its free slots until the next heartbeat', () => {
    const router = new Router({ balance: 'least-loaded' });
    const figures = { a: node('a', 3, 0.1, 0, 1), b: node('b', 1, 0.1, 0, 1) };
    assert.deepEqual(picks(router, () => [figures.a, figures.b], 3), ['a', 'a', 'b'], 'a had 3 free, b 1: then 1 each, and b\'s turn');
    assert.equal(router.freeSlots(figures.a), 1);
    assert.equal(router.freeSlots(figures.b), 0);
    figures.a = node('a', 3, 0.1, 0, 2); // a new heartbeat: its own count of what runs there
    assert.equal(router.freeSlots(figures.a), 3);
    assert.equal(router.pick([figures.a, figures.b])?.node, 'a');
  });

  it('no candidate: nothing', () => {
    assert.equal(new Router({ balance: 'least-loaded' }).pick([]), undefined);
    assert.equal(new Router({ balance: 'round-robin' }).pick([]), undefined);
  });
});
