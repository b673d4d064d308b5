// The compiler, checked by running its programs in the test interpreter and
// comparing every decision with the reference evaluation of the profile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileProfile, ProgramTooLarge } from '../../../src/seccomp/compile.js';
import { decode } from '../../../src/seccomp/bpf.js';
import { parseProfile, type Profile } from '../../../src/seccomp/profile.js';
import { syscallNames, syscallNumber } from '../../../src/seccomp/syscalls.js';
import { ambiguousAccumulatorUses } from '../../helpers/seccomp/bpf-dataflow.js';
import { checkLikeKernel, runFilter, type SeccompData } from '../../helpers/seccomp/bpf-interpreter.js';
import { inputsFor, randomProfile, randomNames, seeded, shuffle, type ProfileJson, type RuleJson } from '../../helpers/seccomp/random.js';
import { AUDIT_ARCH_X86_64, referenceReturn, RET } from '../../helpers/seccomp/reference.js';

const profile = (json: object) => parseProfile(JSON.stringify(json), 'test.json');
const nr = (name: string) => syscallNumber(name)!;
const x86 = (name: string, ...args: bigint[]): SeccompData => ({ nr: nr(name), arch: AUDIT_ARCH_X86_64, args });
const errno = (n: number) => (RET.ERRNO | n) >>> 0;
const JA = 0x05;

/** Compiles in both modes, checks the kernel would load the programs, and
 * compares every input's decision with the reference. */
function assertMeaning(p: Profile, inputs: SeccompData[]): void {
  for (const supervised of [false, true]) {
    const { program, instructions } = compileProfile(p, { supervised });
    checkLikeKernel(program);
    assert.equal(program.length, instructions * 8);
    assert.deepEqual(ambiguousAccumulatorUses(program), [], 'a comparison on an accumulator loaded differently by different paths');
    for (const data of inputs) {
      const got = runFilter(program, data);
      const want = referenceReturn(p, data, supervised);
      if (got !== want) {
        assert.fail(
          `supervised=${supervised} nr=${data.nr} arch=0x${data.arch.toString(16)} args=${data.args.map((a) => `0x${a.toString(16)}`)}: ` +
            `got 0x${got.toString(16)}, want 0x${want.toString(16)}`,
        );
      }
    }
  }
}

const small = profile({
  defaultAction: 'kill-process',
  syscalls: [
    { names: ['read', 'write', 'close'], action: 'allow' },
    { names: ['clone3'], action: 'errno', errno: 'ENOSYS' },
    { names: ['getpid'], action: 'log' },
  ],
});

describe('program structure', () => {
  test('starts with the architecture check, then the x32 check', () => {
    const code = decode(compileProfile(small, { supervised: true }).program);
    assert.deepEqual(code.slice(0, 6), [
      { code: 0x20, jt: 0, jf: 0, k: 4 }, // ld [4] (arch)
      { code: 0x15, jt: 1, jf: 0, k: 0xc000003e }, // jeq AUDIT_ARCH_X86_64
      { code: 0x06, jt: 0, jf: 0, k: 0x80000000 }, // ret KILL_PROCESS
      { code: 0x20, jt: 0, jf: 0, k: 0 }, // ld [0] (nr)
      { code: 0x35, jt: 0, jf: 1, k: 0x40000000 }, // jge 0x40000000
      { code: 0x06, jt: 0, jf: 0, k: 0x80000000 }, // ret KILL_PROCESS
    ]);
  });

  test('a foreign architecture is killed, never notified, whatever the number', () => {
    for (const supervised of [false, true]) {
      const { program } = compileProfile(small, { supervised });
      for (const arch of [0x40000003 /* i386 */, 0xc00000b7 /* aarch64 */, 0, 0xffffffff, AUDIT_ARCH_X86_64 ^ 1]) {
        for (const name of ['read', 'clone3', 'getpid', 'ptrace']) {
          assert.equal(runFilter(program, { nr: nr(name), arch, args: [] }), RET.KILL_PROCESS, `${name} on arch 0x${arch.toString(16)}`);
        }
      }
    }
  });

  test('x32 numbers (and everything above) are killed, never notified', () => {
    for (const supervised of [false, true]) {
      const { program } = compileProfile(small, { supervised });
      for (const n of [0x40000000, 0x40000000 | nr('read'), 0x40000000 | nr('getpid'), 0x7fffffff, 0x80000000, 0xffffffff]) {
        assert.equal(runFilter(program, { nr: n, arch: AUDIT_ARCH_X86_64, args: [] }), RET.KILL_PROCESS, `nr 0x${n.toString(16)}`);
      }
      assert.equal(runFilter(program, x86('read')), RET.ALLOW);
    }
  });
});

describe('actions and notify', () => {
  test('unsupervised: actions map directly, notify none', () => {
    const c = compileProfile(small, { supervised: false });
    assert.equal(c.notify, 'none');
    assert.equal(runFilter(c.program, x86('read')), RET.ALLOW);
    assert.equal(runFilter(c.program, x86('clone3')), errno(38));
    assert.equal(runFilter(c.program, x86('getpid')), RET.LOG);
    assert.equal(runFilter(c.program, x86('ptrace')), RET.KILL_PROCESS);
  });

  test('supervised, a profile that logs: log notifies, kill stays a kill', () => {
    const c = compileProfile(small, { supervised: true });
    assert.equal(c.notify, 'logs');
    assert.equal(runFilter(c.program, x86('getpid')), RET.USER_NOTIF);
    assert.equal(runFilter(c.program, x86('ptrace')), RET.KILL_PROCESS);
    assert.equal(runFilter(c.program, x86('clone3')), errno(38));
  });

  test('supervised, a profile without log: kill-process (rule or default) notifies', () => {
    const p = profile({
      defaultAction: 'kill-process',
      syscalls: [
        { names: ['read'], action: 'allow' },
        { names: ['write'], action: 'kill-process', args: [{ index: 0, op: 'gt', value: 2 }] },
        { names: ['write'], action: 'allow' },
      ],
    });
    const c = compileProfile(p, { supervised: true });
    assert.equal(c.notify, 'refusals');
    assert.equal(runFilter(c.program, x86('ptrace')), RET.USER_NOTIF);
    assert.equal(runFilter(c.program, x86('write', 3n)), RET.USER_NOTIF);
    assert.equal(runFilter(c.program, x86('write', 1n)), RET.ALLOW);
  });

  test('supervised, nothing to notify: notify none and no USER_NOTIF in the program', () => {
    const p = profile({ defaultAction: 'errno', defaultErrno: 'EPERM', syscalls: [{ names: ['read'], action: 'allow' }] });
    const c = compileProfile(p, { supervised: true });
    assert.equal(c.notify, 'none');
    assert.ok(decode(c.program).every((i) => i.code !== 0x06 || i.k !== RET.USER_NOTIF));
    assert.equal(runFilter(c.program, x86('write')), errno(1));
  });

  test('a profile without rules', () => {
    for (const defaultAction of ['allow', 'kill-process', 'log'] as const) {
      const p = profile({ defaultAction });
      assertMeaning(p, inputsFor(p, seeded(1)));
    }
  });
});

describe('argument conditions', () => {
  // Constants and arguments whose halves are equal, one apart, or at the edges:
  // a compiler comparing only low halves, or comparing halves signed, fails here.
  const EDGES = [
    0n, 1n, 2n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, (1n << 32n) + 1n, 0x1_0000_0005n, 0x5_0000_0001n,
    0x5_0000_0005n, 0x7fffffff_ffffffffn, 1n << 63n, (1n << 63n) + 1n, 0xffffffff_00000000n, (1n << 64n) - 2n, (1n << 64n) - 1n,
  ];
  const hex = (v: bigint) => `0x${v.toString(16)}`;

  for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const) {
    test(`${op}: every pair of edge values, on several argument slots`, () => {
      for (const value of EDGES) {
        const p = profile({
          defaultAction: 'errno',
          defaultErrno: 'EPERM',
          syscalls: [{ names: ['ioctl'], action: 'allow', args: [{ index: 3, op, value: hex(value) }] }],
        });
        assertMeaning(
          p,
          EDGES.map((arg) => ({ nr: nr('ioctl'), arch: AUDIT_ARCH_X86_64, args: [arg, arg, arg, arg, 0n, 0n] })),
        );
      }
    });
  }

  test('64-bit comparisons, spelled out', () => {
    const decide = (op: string, value: bigint, arg: bigint) => {
      const p = profile({ defaultAction: 'errno', defaultErrno: 'EPERM', syscalls: [{ names: ['mmap'], action: 'allow', args: [{ index: 0, op, value: hex(value) }] }] });
      return runFilter(compileProfile(p, { supervised: false }).program, x86('mmap', arg)) === RET.ALLOW;
    };
    assert.equal(decide('gt', 1n << 32n, 0xffffffffn), false, 'low half larger, high half smaller');
    assert.equal(decide('gt', 0xffffffffn, 1n << 32n), true, 'high half decides');
    assert.equal(decide('lt', 0x2_0000_0000n, 0x1_ffff_ffffn), true);
    assert.equal(decide('lt', 0x1_0000_0005n, 0x1_0000_0004n), true, 'equal high halves: low halves decide');
    assert.equal(decide('le', 0x1_0000_0005n, 0x1_0000_0006n), false);
    assert.equal(decide('ge', 1n << 63n, (1n << 63n) - 1n), false, 'unsigned, not signed');
    assert.equal(decide('gt', 1n, 1n << 63n), true, 'unsigned, not signed');
    assert.equal(decide('eq', 5n, 0x1_0000_0005n), false, 'the high half counts');
    assert.equal(decide('ne', 5n, 0x1_0000_0005n), true);
  });

  test('masked-eq: masks in either half, both, or a half with nothing to check', () => {
    const cases: [bigint, bigint][] = [
      [0xffn, 0x10n], [0x7e020000n, 0n], [0xff_0000_0000n, 0x12_0000_0000n], [0xf0000000_0000000fn, 0x80000000_00000001n],
      [(1n << 64n) - 1n, 0x1234_5678_9abc_def0n], [0n, 0n],
    ];
    for (const [mask, wanted] of cases) {
      const p = profile({
        defaultAction: 'kill-process',
        syscalls: [{ names: ['clone'], action: 'allow', args: [{ index: 0, op: 'masked-eq', value: hex(mask), valueTwo: hex(wanted) }] }],
      });
      const args = [wanted, wanted | ~mask, wanted ^ 1n, wanted ^ (1n << 36n), wanted ^ (1n << 63n), ...EDGES].map((v) => BigInt.asUintN(64, v));
      assertMeaning(p, args.map((a) => x86('clone', a)));
      assert.equal(runFilter(compileProfile(p, { supervised: false }).program, x86('clone', BigInt.asUintN(64, wanted | ~mask))), RET.ALLOW);
    }
  });

  test('conditions in a rule are ANDed; rules for one call are ORed', () => {
    const p = profile({
      defaultAction: 'kill-process',
      syscalls: [
        { names: ['openat'], action: 'allow', args: [{ index: 0, op: 'eq', value: 3 }, { index: 2, op: 'lt', value: 10 }] },
        { names: ['openat'], action: 'allow', args: [{ index: 1, op: 'eq', value: 7 }] },
      ],
    });
    const { program } = compileProfile(p, { supervised: false });
    assert.equal(runFilter(program, x86('openat', 3n, 0n, 9n)), RET.ALLOW);
    assert.equal(runFilter(program, x86('openat', 3n, 0n, 10n)), RET.KILL_PROCESS);
    assert.equal(runFilter(program, x86('openat', 4n, 0n, 9n)), RET.KILL_PROCESS);
    assert.equal(runFilter(program, x86('openat', 4n, 7n, 90n)), RET.ALLOW);
    assertMeaning(p, inputsFor(p, seeded(2), 200));
  });
});

describe('overlapping rules', () => {
  test('the most restrictive matching action wins, in any order', () => {
    const rules: RuleJson[] = [
      { names: ['ioctl'], action: 'allow' },
      { names: ['ioctl'], action: 'log', args: [{ index: 1, op: 'gt', value: '100' }] },
      { names: ['ioctl'], action: 'errno', errno: 'ENOTTY', args: [{ index: 1, op: 'gt', value: '200' }] },
      { names: ['ioctl'], action: 'errno', errno: 'EPERM', args: [{ index: 1, op: 'gt', value: '300' }] },
      { names: ['ioctl'], action: 'kill-process', args: [{ index: 1, op: 'gt', value: '400' }] },
    ];
    const expected: [bigint, number][] = [[50n, RET.ALLOW], [150n, RET.LOG], [250n, errno(25)], [350n, errno(1)], [450n, RET.KILL_PROCESS]];
    const rng = seeded(3);
    for (let i = 0; i < 20; i++) {
      const p = profile({ defaultAction: 'allow', syscalls: shuffle(rng, rules) });
      const { program } = compileProfile(p, { supervised: false });
      for (const [arg, want] of expected) assert.equal(runFilter(program, x86('ioctl', 0n, arg)), want, `arg ${arg}`);
    }
  });

  test('shuffling rules, names and conditions never changes a decision (random profiles)', () => {
    const rng = seeded(4);
    for (let round = 0; round < 60; round++) {
      const json = randomProfile(rng, randomNames(rng, 6), 2 + Math.floor(rng() * 10));
      const original = parseProfile(JSON.stringify(json), 'p.json');
      const reordered: ProfileJson = {
        ...json,
        syscalls: shuffle(rng, json.syscalls).map((r) => ({ ...r, names: shuffle(rng, r.names), ...(r.args ? { args: shuffle(rng, r.args) } : {}) })),
      };
      const shuffled = parseProfile(JSON.stringify(reordered), 'p.json');
      const inputs = inputsFor(original, rng, 30);
      assertMeaning(shuffled, inputs);
      for (const supervised of [false, true]) {
        const a = compileProfile(original, { supervised }).program;
        const b = compileProfile(shuffled, { supervised }).program;
        for (const data of inputs) assert.equal(runFilter(b, data), runFilter(a, data));
      }
      // Rule order alone does not even change the bytes.
      const rulesOnly = parseProfile(JSON.stringify({ ...json, syscalls: shuffle(rng, json.syscalls) }), 'p.json');
      assert.deepEqual(compileProfile(rulesOnly, { supervised: true }).program, compileProfile(original, { supervised: true }).program);
    }
  });
});

test('random profiles decide as their meaning says (reference evaluator)', () => {
  const rng = seeded(5);
  for (let round = 0; round < 150; round++) {
    const p = parseProfile(JSON.stringify(randomProfile(rng, randomNames(rng, 1 + Math.floor(rng() * 12)), 1 + Math.floor(rng() * 20))), 'p.json');
    assertMeaning(p, inputsFor(p, rng, 25));
  }
});

describe('long jumps and the size limit', () => {
  /** n calls, each with its own conditional rule of k `ne` conditions. */
  const bigProfile = (n: number, k: number) =>
    profile({
      defaultAction: 'kill-process',
      syscalls: syscallNames()
        .slice(0, n)
        .map((name, i) => ({
          names: [name],
          action: i % 2 ? 'allow' : 'log',
          args: Array.from({ length: k }, (_, j) => ({ index: j % 6, op: 'ne', value: `${i * 100 + j}` })),
        })),
    });

  test('jumps beyond 255 instructions go through trampolines and still decide right', () => {
    const p = bigProfile(200, 3);
    const c = compileProfile(p, { supervised: true });
    assert.ok(c.instructions > 4 * 256, `${c.instructions} instructions`);
    const code = decode(c.program);
    const trampolines = code.filter((i) => i.code === JA).length;
    assert.ok(trampolines > 0, 'no ja in a program this long');
    checkLikeKernel(c.program);
    assertMeaning(p, inputsFor(p, seeded(6), 6));
  });

  test('a search tree longer than 255 instructions (every call its own range)', () => {
    const names = syscallNames();
    const p = profile({
      defaultAction: 'kill-process',
      syscalls: names.map((name, i) => ({ names: [name], action: ['allow', 'errno', 'log'][i % 3], ...(i % 3 === 1 ? { errno: 'EPERM' } : {}) })),
    });
    const c = compileProfile(p, { supervised: false });
    assert.ok(c.instructions > 300);
    assert.ok(decode(c.program).some((i) => i.code === JA));
    assertMeaning(p, inputsFor(p, seeded(7), 2));
  });

  test('more than 4096 instructions is an error; up to 4096 compiles', () => {
    assert.throws(() => compileProfile(bigProfile(120, 9), { supervised: false }), (e: unknown) => {
      assert.ok(e instanceof ProgramTooLarge);
      assert.ok(e.instructions > 4096);
      assert.match(e.message, /at most 4096/);
      return true;
    });
    const fits = compileProfile(bigProfile(100, 9), { supervised: false });
    assert.ok(fits.instructions <= 4096 && fits.instructions > 3000, `${fits.instructions}`);
    checkLikeKernel(fits.program);
  });
});
