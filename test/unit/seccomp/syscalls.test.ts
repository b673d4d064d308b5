import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errnoName, errnoNumber } from '../../../src/seccomp/errno.js';
import { syscallName, syscallNames, syscallNumber } from '../../../src/seccomp/syscalls.js';

test('syscall numbers come from the generated x86_64 table', () => {
  assert.equal(syscallNumber('read'), 0);
  assert.equal(syscallNumber('ptrace'), 101);
  assert.equal(syscallNumber('clone'), 56);
  assert.equal(syscallNumber('clone3'), 435);
  assert.equal(syscallNumber('exit_group'), 231);
  assert.ok(syscallNames().length >= 300);
});

test('unknown names and numbers give undefined, not a guess', () => {
  assert.equal(syscallNumber('ptarce'), undefined);
  assert.equal(syscallNumber('toString'), undefined, 'no Object.prototype leak');
  assert.equal(syscallNumber('__proto__'), undefined);
  assert.equal(syscallName(100000), undefined);
  assert.equal(syscallName(-1), undefined);
});

test('name -> number -> name round-trips for every call', () => {
  for (const name of syscallNames()) assert.equal(syscallName(syscallNumber(name)!), name);
});

test('errno names map to Linux numbers', () => {
  assert.equal(errnoNumber('EPERM'), 1);
  assert.equal(errnoNumber('ENOSYS'), 38);
  assert.equal(errnoNumber('ENOTTY'), 25);
  assert.equal(errnoNumber('EBOGUS'), undefined);
  assert.equal(errnoNumber('constructor'), undefined);
  assert.equal(errnoName(38), 'ENOSYS');
});
