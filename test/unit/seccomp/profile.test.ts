import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidJsonFile, type Problem } from '../../../src/config/json-file.js';
import { loadProfile, parseProfile, profilePath, SHIPPED_PROFILES_DIR } from '../../../src/seccomp/profile.js';

function problems(text: string): Problem[] {
  try {
    parseProfile(text, 'p.json');
  } catch (error) {
    assert.ok(error instanceof InvalidJsonFile, String(error));
    return error.problems;
  }
  assert.fail('the profile was accepted');
}

/** The problem at a pointer, with its position. */
function at(list: Problem[], pointer: string): Problem {
  const found = list.find((p) => p.pointer === pointer);
  assert.ok(found, `no problem at ${pointer}; got ${JSON.stringify(list)}`);
  return found;
}

test('a profile resolves names to numbers and values to 64-bit integers', () => {
  const p = parseProfile(
    JSON.stringify({
      defaultAction: 'errno',
      defaultErrno: 'EPERM',
      syscalls: [
        { names: ['read', 'write'], action: 'allow' },
        { names: ['ioctl'], action: 'errno', errno: 'ENOTTY', args: [{ index: 1, op: 'ne', value: 21505 }] },
        {
          names: ['mmap'],
          action: 'kill-process',
          args: [
            { index: 2, op: 'masked-eq', value: '0xFFFFFFFFFFFFFFFF', valueTwo: '18446744073709551615' },
            { index: 5, op: 'gt', value: '9223372036854775808' },
          ],
        },
        { names: ['getpid'], action: 'log', comment: 'why' },
      ],
    }),
    '/x/strict.json',
  );
  assert.equal(p.name, 'strict');
  assert.deepEqual(p.defaultAction, { kind: 'errno', errno: 1 });
  assert.deepEqual(p.rules[0]!.syscalls, [0, 1]);
  assert.deepEqual(p.rules[1]!.action, { kind: 'errno', errno: 25 });
  assert.deepEqual(p.rules[1]!.conditions, [{ index: 1, op: 'ne', value: 0x5401n, valueTwo: 0n }]);
  assert.deepEqual(p.rules[2]!.conditions, [
    { index: 2, op: 'masked-eq', value: (1n << 64n) - 1n, valueTwo: (1n << 64n) - 1n },
    { index: 5, op: 'gt', value: 1n << 63n, valueTwo: 0n },
  ]);
  assert.equal(p.rules[3]!.pointer, '/syscalls/3');
});

test('an unknown system call is an error naming the field, with line and column', () => {
  const text = `{
  "defaultAction": "kill-process",
  "syscalls": [
    { "names": ["read"], "action": "allow" },
    { "names": ["write", "ptarce"], "action": "allow" }
  ]
}`;
  const p = at(problems(text), '/syscalls/1/names/1');
  assert.equal(p.message, "unknown system call 'ptarce'");
  assert.equal(p.line, 5);
  assert.equal(p.column, 26);
  assert.equal(p.file, 'p.json');
});

test('an unknown errno name is an error at its field', () => {
  const text = '{\n"defaultAction": "errno", "defaultErrno": "ENOPE",\n"syscalls": [{ "names": ["read"], "action": "errno", "errno": "EBOGUS" }] }';
  const list = problems(text);
  assert.equal(at(list, '/defaultErrno').message, "unknown errno 'ENOPE'");
  assert.equal(at(list, '/defaultErrno').line, 2);
  assert.equal(at(list, '/syscalls/0/errno').message, "unknown errno 'EBOGUS'");
  assert.equal(at(list, '/syscalls/0/errno').line, 3);
});

test('errno and valueTwo go with their action and op', () => {
  const list = problems(
    JSON.stringify({
      defaultAction: 'errno',
      syscalls: [
        { names: ['read'], action: 'allow', errno: 'EPERM' },
        { names: ['write'], action: 'errno' },
        {
          names: ['ioctl'],
          action: 'allow',
          args: [
            { index: 0, op: 'eq', value: 1, valueTwo: 1 },
            { index: 1, op: 'masked-eq', value: 1 },
            { index: 2, op: 'masked-eq', value: '0xff', valueTwo: '0x100' },
          ],
        },
      ],
    }),
  );
  assert.match(at(list, '/defaultAction').message, /needs the errno.*defaultErrno/);
  assert.match(at(list, '/syscalls/0/errno').message, /only meaningful with action 'errno'/);
  assert.match(at(list, '/syscalls/1/action').message, /needs the errno/);
  assert.match(at(list, '/syscalls/2/args/0/valueTwo').message, /only meaningful with op 'masked-eq'/);
  assert.match(at(list, '/syscalls/2/args/1').message, /needs valueTwo/);
  assert.match(at(list, '/syscalls/2/args/2/valueTwo').message, /never hold/);
});

test('values: safe JSON integers, decimal or hex strings up to 2^64-1', () => {
  const cond = (value: unknown) =>
    JSON.stringify({ defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill-process', args: [{ index: 0, op: 'eq', value }] }] });
  assert.equal(parseProfile(cond('0xffffffffffffffff'), 'p').rules[0]!.conditions[0]!.value, (1n << 64n) - 1n);
  assert.equal(parseProfile(cond(9007199254740991), 'p').rules[0]!.conditions[0]!.value, 9007199254740991n);
  assert.match(at(problems(cond('18446744073709551616')), '/syscalls/0/args/0/value').message, /does not fit in 64 bits/);
  // JSON numbers lose precision above 2^53: they must be strings.
  assert.ok(at(problems(cond(9007199254740993)), '/syscalls/0/args/0/value'));
  for (const bad of [-1, 1.5, '0x', '0x1ffffffffffffffff', '-5', '12a', ' 1']) {
    assert.ok(at(problems(cond(bad)), '/syscalls/0/args/0/value'), `value ${JSON.stringify(bad)}`);
  }
});

test('schema errors are located too', () => {
  const text = `{
  "defaultAction": "deny",
  "syscalls": [
    { "names": [], "action": "allow", "colour": "red" },
    { "names": ["read"], "action": "allow", "args": [{ "index": 6, "op": "like", "value": 1 }] }
  ]
}`;
  const list = problems(text);
  assert.equal(at(list, '/defaultAction').line, 2);
  assert.match(at(list, '/defaultAction').message, /must be one of/);
  assert.equal(at(list, '/syscalls/0/names').line, 4);
  assert.equal(at(list, '/syscalls/0/colour').message, "unknown property 'colour'");
  assert.equal(at(list, '/syscalls/1/args/0/index').line, 5);
  assert.ok(at(list, '/syscalls/1/args/0/op'));
  assert.match(at(problems('{ "syscalls": [] }'), '').message, /defaultAction/);
  assert.match(at(problems('{ "defaultAction": "allow", '), '').message, /not valid JSON/);
});

test('a bare name is a shipped profile; a path is a path', () => {
  assert.equal(profilePath('default'), `${SHIPPED_PROFILES_DIR}/default.json`);
  assert.equal(profilePath('./default'), './default');
  assert.equal(profilePath('/etc/x.json'), '/etc/x.json');
  for (const name of ['default', 'minimal', 'learn']) {
    const p = loadProfile(name);
    assert.equal(p.name, name);
    assert.ok(p.rules.length > 0);
  }
});
