import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCommand, parseRequest } from '../../src/executor/command.js';

describe('parseCommand', () => {
  it('defaults the function to run', () => {
    const parsed = parseCommand('/lib/a.so');
    assert.ok(parsed.ok);
    assert.equal(parsed.command.function, 'run');
    assert.equal(parsed.command.functionGiven, false);
    assert.equal(parsed.command.input, undefined);
    assert.equal(parsed.text, '/lib/a.so');
  });

  it('takes a function and a file, separated by any blanks', () => {
    const parsed = parseCommand('  /lib/a.so \t cat   /in.txt\n');
    assert.ok(parsed.ok);
    assert.deepEqual([parsed.command.library, parsed.command.function, parsed.command.input], ['/lib/a.so', 'cat', '/in.txt']);
    assert.equal(parsed.text, '/lib/a.so cat /in.txt');
  });

  it('refuses empty commands, extra words and NUL bytes with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /^empty command/],
      [' \t ', /^empty command/],
      ['a b c d', /^too many words \(4\)/],
      ['a\0b', /NUL byte/],
      [`/${'x'.repeat(9000)}`, /longer than 8192 bytes/],
    ];
    for (const [raw, reason] of cases) {
      const parsed = parseCommand(raw);
      assert.equal(parsed.ok, false, JSON.stringify(raw));
      if (!parsed.ok) assert.match(parsed.reason, reason);
    }
  });

  it('shows control characters escaped and long commands shortened in error lines', () => {
    const parsed = parseCommand(`a\x01b ${'y'.repeat(400)}`);
    assert.ok(parsed.ok);
    assert.ok(parsed.text.startsWith('a\\x01b yyy'));
    assert.ok(parsed.text.endsWith('...'));
    assert.equal(parsed.text.length, 303);
  });
});

describe('parseRequest', () => {
  it('reads a call by name: a function and a file, or a file alone (a program has no functions)', () => {
    const call = (raw: string) => {
      const parsed = parseRequest(raw);
      assert.ok(parsed.ok && parsed.target.kind === 'function');
      const { name, function: fn, input } = parsed.target.call;
      return [name, fn, input?.kind === 'path' ? input.path : input];
    };
    assert.deepEqual(call('@basic cat /in.txt'), ['basic', 'cat', '/in.txt']);
    assert.deepEqual(call('@basic cat'), ['basic', 'cat', undefined]);
    assert.deepEqual(call('@toupper /in.txt'), ['toupper', undefined, '/in.txt']);
    assert.deepEqual(call('@toupper'), ['toupper', undefined, undefined]);
  });
});
