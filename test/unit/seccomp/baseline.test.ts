// The baseline rules every sandbox gets whatever its profile
// (src/seccomp/baseline.ts), on the real kernel through run-filtered.c: no
// disk reserved past a file's end, no file locks; ordinary calls unchanged;
// the profile's own answers kept where they are more restrictive.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { baselineOnly, withBaseline } from '../../../src/seccomp/baseline.js';
import { compileProfile } from '../../../src/seccomp/compile.js';
import { launcherFilter, NO_FILTER } from '../../../src/seccomp/launcher-filter.js';
import { loadProfile } from '../../../src/seccomp/profile.js';
import { syscallNumber } from '../../../src/seccomp/syscalls.js';
import { runFiltered } from '../../helpers/seccomp/harness.js';

/** What each probe of baseline_probes answers, in order. */
const probes = (ioctl: string, locks: string) => [
  `fallocate keep-size: ${locks === 'ok' ? 'ok' : 'EOPNOTSUPP'}`,
  `fallocate punch-hole: ${locks === 'ok' ? 'ok' : 'EOPNOTSUPP'}`,
  'fallocate: ok',
  `ioctl FS_IOC_RESVSP64: ${ioctl}`,
  `flock: ${locks}`,
  `fcntl F_SETLK: ${locks}`,
  `fcntl F_SETLK, high bits set: ${locks}`,
  // Unfiltered, the open-file-description lock meets the POSIX lock just taken (another owner).
  `fcntl F_OFD_SETLK: ${locks === 'ok' ? 'EAGAIN' : locks}`,
  `fcntl F_GETLK: ${locks}`,
  'fcntl F_GETFL: ok',
].join('\n') + '\n';

describe('baseline rules on the real kernel', () => {
  test('control: the default profile alone lets a call reserve disk past a file\'s end and take locks', () => {
    const r = runFiltered('plain', compileProfile(loadProfile('default'), { supervised: false }).program, 'baseline_probes');
    assert.equal(r.stdout, probes('ENOTTY', 'ok'), r.report);
  });

  test('default with the baseline, as the launcher installs it: reservations and locks refused with an errno, the rest unchanged', () => {
    const filter = launcherFilter('default');
    const r = runFiltered('refusals', filter.program, 'baseline_probes');
    // ioctl keeps the profile's ENOTTY (the lower errno wins, whatever the rule order).
    assert.equal(r.stdout, probes('ENOTTY', 'ENOLCK'), r.report);
    assert.equal(r.refused, undefined, r.report);
    const ordinary = runFiltered('refusals', filter.program, 'ordinary');
    assert.equal(ordinary.stdout, 'ordinary ok\n', ordinary.report);
  });

  test('--seccomp none still gets the baseline, and nothing else is refused', () => {
    assert.equal(NO_FILTER.notify, 'none');
    const r = runFiltered('plain', NO_FILTER.program, 'baseline_probes');
    assert.equal(r.stdout, probes('EOPNOTSUPP', 'ENOLCK'), r.report);
    assert.equal(runFiltered('plain', NO_FILTER.program, 'ordinary').stdout, 'ordinary ok\n');
  });

  test('a profile that kills one of these calls still kills it', () => {
    const profile = loadProfile('default');
    const kills = { ...profile, rules: [...profile.rules, { syscalls: [syscallNumber('flock')!], action: { kind: 'kill-process' as const }, conditions: [], pointer: '/x' }] };
    const r = runFiltered('refusals', compileProfile(withBaseline(kills), { supervised: true }).program, 'baseline_probes');
    assert.equal(r.refused, syscallNumber('flock'), r.report);
  });

  test('the rules compile for the architecture of the profile', () => {
    assert.ok(baselineOnly().rules.length >= 10);
  });
});
