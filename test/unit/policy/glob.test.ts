// Function-name globs: what they match, and the bound on the work a match
// does whatever name a tenant sends (the regex they replaced backtracked:
// `*_*_*_done` against 2400 underscores held the event loop for seconds).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globMatcher, lastMatchSteps } from '../../../src/policy/glob.js';
import { functionRule } from '../../../src/policy/rules.js';

/** The obvious recursive definition, exponential but exact: the reference on small inputs. */
function reference(glob: string, name: string): boolean {
  if (glob === '') return name === '';
  if (glob[0] === '*') return reference(glob.slice(1), name) || (name !== '' && reference(glob, name.slice(1)));
  return name !== '' && (glob[0] === '?' || glob[0] === name[0]) && reference(glob.slice(1), name.slice(1));
}

describe('function globs', () => {
  it('match as globs do: * any characters, ? one, everything else itself', () => {
    const cases: Array<[string, string, boolean]> = [
      ['run', 'run', true],
      ['run', 'runs', false],
      ['*', '', true],
      ['get_*', 'get_x', true],
      ['get_*', 'get', false],
      ['?at', 'cat', true],
      ['?at', 'at', false],
      ['a.b', 'axb', false],
      ['*_*_*_done', 'a_b_c_done', true],
      ['*_*_*_done', '___done', true],
      ['*_*_*_done', '__done', false],
      ['[x]', '[x]', true],
      ['é*', 'été', true],
    ];
    for (const [glob, name, expected] of cases) assert.equal(globMatcher(glob)(name), expected, `${glob} ~ ${name}`);
  });

  it('agree with the reference definition on every small glob and name', () => {
    const alphabet = ['a', 'b', '*', '?'];
    const words = (max: number, letters: string[]) => {
      const out = [''];
      for (let length = 1; length <= max; length++) for (const w of out.filter((x) => x.length === length - 1)) for (const c of letters) out.push(w + c);
      return out;
    };
    const globs = words(4, alphabet);
    const names = words(5, ['a', 'b']);
    for (const glob of globs) {
      const match = globMatcher(glob);
      for (const name of names) assert.equal(match(name), reference(glob, name), `${glob} ~ ${name}`);
    }
  });

  it('compare at most (name + 1) x (glob + 1) characters on hostile names', () => {
    for (const glob of ['*_*_*_done', '*a*a*a*a*a*b', '*?*?*?*x']) {
      const match = globMatcher(glob);
      for (const length of [2400, 8191]) {
        for (const name of ['_'.repeat(length) + 'x', 'a'.repeat(length), '_'.repeat(length)]) {
          match(name);
          assert.ok(lastMatchSteps <= (name.length + 1) * (glob.length + 1), `${glob} against ${length} characters: ${lastMatchSteps} comparisons`);
        }
      }
    }
    // For the reported glob the work is in fact linear: a few passes over the name, not its cube (2400^3 / 6 = 2.3e9).
    globMatcher('*_*_*_done')('_'.repeat(2400) + 'x');
    assert.ok(lastMatchSteps < 4 * 2401, `${lastMatchSteps} comparisons`);
  });

  it('decide a policy rule the same way', () => {
    const rule = functionRule('tenants[0].functions[0]', 'p.json', '/opt/lib', true, ['*_*_*_done', 'run']);
    assert.equal(rule.allows('a_b_c_done'), true);
    assert.equal(rule.allows('run'), true);
    assert.equal(rule.allows('_'.repeat(8000) + 'x'), false);
  });
});
