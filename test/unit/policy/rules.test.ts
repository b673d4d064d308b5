// The compiled policy rules (src/policy/rules.ts): an allowed directory covers
// itself and everything below it and nothing that merely shares a prefix; a
// directory's name is literal text, never a regex; function globs know only
// * and ?, and match the whole name; functionRuleFor picks the most specific
// entry (a file over a directory, a deeper directory over a shallower one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dirRule, functionRule, functionRuleFor } from '../../../src/policy/rules.js';

const dir = (d: string) => dirRule('defaults.libraryDirs[0]', 'policy.json', d);
const fileFunctions = (library: string, allow: string[], rule = 'defaults.functions[0]') => functionRule(rule, 'policy.json', library, false, allow);
const dirFunctions = (library: string, allow: string[], rule = 'defaults.functions[0]') => functionRule(rule, 'policy.json', library, true, allow);

describe('directory rules', () => {
  it('allow the directory itself and everything below it', () => {
    const lib = dir('/opt/lib');
    for (const p of ['/opt/lib', '/opt/lib/x.so', '/opt/lib/sub/y.so']) assert.equal(lib.contains(p), true, p);
  });

  it('never allow a sibling sharing a prefix, the parent, or a relative path', () => {
    const lib = dir('/opt/lib');
    for (const p of ['/opt/library', '/opt/library/x.so', '/opt/li', '/opt/libx.so', '/opt', '/', 'opt/lib/x.so', '']) {
      assert.equal(lib.contains(p), false, p);
    }
  });

  it("'/' allows every absolute path and no relative one", () => {
    const root = dir('/');
    for (const p of ['/', '/x', '/opt/lib/sub/y.so']) assert.equal(root.contains(p), true, p);
    assert.equal(root.contains('x/y'), false);
  });

  it('take regex specials in a directory name literally', () => {
    assert.equal(dir('/a.b').contains('/a.b/f'), true);
    assert.equal(dir('/a.b').contains('/axb/f'), false);
    assert.equal(dir('/a+b').contains('/aab/f'), false);
    assert.equal(dir('/a+b').contains('/a+b/f'), true);
    assert.equal(dir('/a*').contains('/aaa/f'), false);
    assert.equal(dir('/x(y|z)').contains('/xy/f'), false);
    assert.equal(dir('/x(y|z)').contains('/x(y|z)/f'), true);
    assert.equal(dir('/[ab]').contains('/a/f'), false);
    assert.equal(dir('/$x^').contains('/$x^/f'), true);
    assert.equal(dir('/a\\d').contains('/a1/f'), false);
  });

  it('keep where they are written', () => {
    assert.deepEqual({ ...dir('/opt/lib'), contains: undefined }, {
      rule: 'defaults.libraryDirs[0]',
      source: 'policy.json',
      dir: '/opt/lib',
      contains: undefined,
    });
  });
});

describe('function globs', () => {
  const allows = (patterns: string[], fn: string) => fileFunctions('/opt/lib/x.so', patterns).allows(fn);

  it('allow exact names only', () => {
    assert.equal(allows(['run'], 'run'), true);
    assert.equal(allows(['run'], 'runs'), false);
    assert.equal(allows(['run'], 'rerun'), false);
    assert.equal(allows(['run'], 'Run'), false);
  });

  it('take * as any characters, over the whole name', () => {
    assert.equal(allows(['up*'], 'upper'), true);
    assert.equal(allows(['up*'], 'up'), true);
    assert.equal(allows(['up*'], 'xup'), false);
    assert.equal(allows(['up*'], 'xupper'), false);
    assert.equal(allows(['*er'], 'upper'), true);
    assert.equal(allows(['*er'], 'errand'), false);
    assert.equal(allows(['*'], 'anything_at_all'), true);
  });

  it('take ? as exactly one character', () => {
    assert.equal(allows(['u?'], 'up'), true);
    assert.equal(allows(['u?'], 'u'), false);
    assert.equal(allows(['u?'], 'upp'), false);
    assert.equal(allows(['f??_x'], 'foo_x'), true);
    assert.equal(allows(['f??_x'], 'fo_x'), false);
  });

  it("take '.' and '$' literally", () => {
    assert.equal(allows(['a.b'], 'a.b'), true);
    assert.equal(allows(['a.b'], 'axb'), false);
    assert.equal(allows(['f$'], 'f$'), true);
    assert.equal(allows(['f$'], 'f'), false);
    assert.equal(allows(['a$b'], 'a$b'), true);
    assert.equal(allows(['a$b'], 'ab'), false);
  });

  it('allow a name any of the patterns allows', () => {
    assert.equal(allows(['run', 'cat*'], 'catalog'), true);
    assert.equal(allows(['run', 'cat*'], 'run'), true);
    assert.equal(allows(['run', 'cat*'], 'dog'), false);
  });
});

describe('which function rule applies', () => {
  it('a file rule applies to that file only; a directory rule to what is below it', () => {
    assert.equal(fileFunctions('/opt/lib/x.so', ['run']).applies('/opt/lib/x.so'), true);
    assert.equal(fileFunctions('/opt/lib/x.so', ['run']).applies('/opt/lib/x.so.1'), false);
    assert.equal(fileFunctions('/opt/lib/x.so', ['run']).applies('/opt/lib/y.so'), false);
    assert.equal(dirFunctions('/opt/lib', ['run']).applies('/opt/lib/sub/y.so'), true);
    assert.equal(dirFunctions('/opt/lib', ['run']).applies('/opt/library/y.so'), false);
  });

  it('a rule naming the file wins over a directory rule, in either order', () => {
    const byDir = dirFunctions('/opt/lib', ['*'], 'defaults.functions[0]');
    const byFile = fileFunctions('/opt/lib/x.so', ['run'], 'defaults.functions[1]');
    assert.equal(functionRuleFor([byDir, byFile], '/opt/lib/x.so')?.rule, 'defaults.functions[1]');
    assert.equal(functionRuleFor([byFile, byDir], '/opt/lib/x.so')?.rule, 'defaults.functions[1]');
    assert.equal(functionRuleFor([byFile, byDir], '/opt/lib/y.so')?.rule, 'defaults.functions[0]');
  });

  it('a deeper directory wins over a shallower one, in either order', () => {
    const shallow = dirFunctions('/opt', ['*'], 'tenants[0].functions[0]');
    const deep = dirFunctions('/opt/lib', ['run'], 'tenants[0].functions[1]');
    assert.equal(functionRuleFor([shallow, deep], '/opt/lib/sub/y.so')?.rule, 'tenants[0].functions[1]');
    assert.equal(functionRuleFor([deep, shallow], '/opt/lib/sub/y.so')?.rule, 'tenants[0].functions[1]');
    assert.equal(functionRuleFor([deep, shallow], '/opt/library/y.so')?.rule, 'tenants[0].functions[0]');
  });

  it('none when no rule applies', () => {
    const rules = [dirFunctions('/opt/lib', ['*']), fileFunctions('/srv/x.so', ['run'])];
    assert.equal(functionRuleFor(rules, '/opt/library/x.so'), undefined);
    assert.equal(functionRuleFor(rules, '/srv/y.so'), undefined);
    assert.equal(functionRuleFor([], '/opt/lib/x.so'), undefined);
  });
});
