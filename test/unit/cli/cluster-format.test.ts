// What `fnjail cluster status` prints for a member table (src/cli/cluster-format.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCpu, formatHeartbeatAge, formatMemberTable } from '../../../src/cli/cluster-format.js';
import type { MemberRow } from '../../../src/cluster/member-table.js';

const now = Date.parse('2024-05-01T12:00:00Z');
const row = (node: string, extra: Partial<MemberRow> = {}): MemberRow => ({
  node, state: 'up', incarnation: '0123456789abcdef', since: '2024-05-01T11:58:30Z', version: '0.1.0', coordinator: false, heartbeatAgeMs: 420,
  cpu: { host: 0.53, node: 0.5, cores: 2 }, memory: { totalBytes: 16 * 1024 ** 3, availableBytes: 12 * 1024 ** 3, usedBytes: 4 * 1024 ** 3 }, load: [1, 1, 1],
  calls: { running: 1, freeSlots: 3, queued: 0, capacity: 4 }, ...extra,
});

describe('cluster status', () => {
  it('one line per node: state, since when, heartbeat age, CPU (node), memory, calls, version; the coordinator marked', () => {
    const lines = formatMemberTable([row('node-a', { coordinator: true }), row('node-b', { state: 'down', heartbeatAgeMs: null, cpu: null, memory: null, calls: null })], now);
    assert.deepEqual(lines, [
      'NODE      STATE   SINCE  HEARTBEAT  CPU (NODE)          MEMORY  RUNNING  FREE  QUEUED  VERSION',
      'node-a *  up     1m 30s       0.4s   53% (50%)  4 GiB / 16 GiB        1   3/4       0  0.1.0',
      'node-b    down   1m 30s          -           -               -        -     -       -  0.1.0',
      '* coordinator',
    ]);
  });

  it('says when there is nothing to show yet, or no coordinator', () => {
    assert.match(formatMemberTable([], now)[0]!, /no member yet/);
    assert.equal(formatMemberTable([row('a')], now).at(-1), 'no coordinator known at the moment');
    assert.equal(formatHeartbeatAge(125_000), '2m 05s');
    assert.equal(formatCpu({ host: 0.2, cores: 1 }), '20%');
  });
});
