import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileProfile } from '../../../src/seccomp/compile.js';
import { decode, encode } from '../../../src/seccomp/bpf.js';
import { describeReturn, disassemble } from '../../../src/seccomp/disassemble.js';
import { loadProfile, parseProfile } from '../../../src/seccomp/profile.js';

const listing = (json: object, supervised = false) =>
  disassemble(compileProfile(parseProfile(JSON.stringify(json), 'p.json'), { supervised }).program);

test('the listing names fields, architectures, system calls and actions', () => {
  const text = listing({
    defaultAction: 'kill-process',
    syscalls: [
      { names: ['ptrace'], action: 'errno', errno: 'EPERM' },
      { names: ['clone3'], action: 'errno', errno: 'ENOSYS' },
      { names: ['clone'], action: 'allow', args: [{ index: 0, op: 'masked-eq', value: '0x7e020000', valueTwo: 0 }] },
    ],
  });
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0]!, /^0000: ld +\[4\] +; arch$/);
  assert.match(lines[1]!, /^0001: jeq +#0xc000003e +jt 0003 +jf 0002 +; AUDIT_ARCH_X86_64$/);
  assert.match(lines[2]!, /^0002: ret +KILL_PROCESS$/);
  assert.match(lines[3]!, /^0003: ld +\[0\] +; nr$/);
  assert.match(lines[4]!, /; x32 ABI$/);
  assert.match(text, /#101 .*; ptrace\n/);
  assert.match(text, /#435 .*; clone3\n/);
  assert.match(text, /ret +ERRNO\(EPERM\)/);
  assert.match(text, /ret +ERRNO\(ENOSYS\)/);
  assert.match(text, /ld +\[16\] +; args\[0\] low/);
  assert.match(text, /and +#0x7e020000/);
  const count = lines.length - 1;
  assert.equal(lines.at(-1), `${count} instructions, ${count * 8} bytes`);
});

test('jump targets in the listing are absolute and match the encoding', () => {
  const { program } = compileProfile(loadProfile('default'), { supervised: true });
  const code = decode(program);
  const lines = disassemble(program).split('\n');
  code.forEach((insn, i) => {
    const m = /jt (\d+) +jf (\d+)/.exec(lines[i]!);
    if ((insn.code & 0x07) === 0x05 && insn.code !== 0x05) {
      assert.ok(m, lines[i]);
      assert.equal(Number(m[1]), i + 1 + insn.jt);
      assert.equal(Number(m[2]), i + 1 + insn.jf);
    }
  });
  assert.match(disassemble(program), /ret +USER_NOTIF/);
});

test('return values are spelled out', () => {
  assert.equal(describeReturn(0x80000000), 'KILL_PROCESS');
  assert.equal(describeReturn(0), 'KILL_THREAD');
  assert.equal(describeReturn(0x00030000), 'TRAP');
  assert.equal(describeReturn(0x00050026), 'ERRNO(ENOSYS)');
  assert.equal(describeReturn(0x00050fff), 'ERRNO(4095)');
  assert.equal(describeReturn(0x7fc00000), 'USER_NOTIF');
  assert.equal(describeReturn(0x7ff00005), 'TRACE(5)');
  assert.equal(describeReturn(0x7ffc0000), 'LOG');
  assert.equal(describeReturn(0x7fff0000), 'ALLOW');
  assert.equal(describeReturn(0x12345678), '0x12345678');
});

test('any classic BPF decodes, including what fnjail never emits', () => {
  const text = disassemble(
    encode([
      { code: 0x00, jt: 0, jf: 0, k: 7 }, // ld #7
      { code: 0x02, jt: 0, jf: 0, k: 1 }, // st M[1]
      { code: 0x61, jt: 0, jf: 0, k: 1 }, // ldx M[1]
      { code: 0x1d, jt: 0, jf: 0, k: 0 }, // jeq x
      { code: 0x87, jt: 0, jf: 0, k: 0 }, // txa
      { code: 0x05, jt: 0, jf: 0, k: 0 }, // ja +0
      { code: 0x16, jt: 0, jf: 0, k: 0 }, // ret a
    ]),
  );
  assert.match(text, /0000: ld +#7/);
  assert.match(text, /0001: st +M\[1\]/);
  assert.match(text, /0002: ldx +M\[1\]/);
  assert.match(text, /0003: jeq +x +jt 0004 +jf 0004/);
  assert.match(text, /0004: txa/);
  assert.match(text, /0005: ja +0006/);
  assert.match(text, /0006: ret +a/);
  assert.throws(() => disassemble(Buffer.alloc(12)), /multiple of 8/);
});
