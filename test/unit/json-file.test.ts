import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InvalidJsonFile, parseValidated, schemaValidator } from '../../src/config/json-file.js';
import { jsonPositions, syntaxErrorOffset } from '../../src/config/json-position.js';
import { familyHash, SCHEMAS, schemaFamily } from '../../src/config/schema-options.js';
import { packageRoot, policiesDir } from '../../src/paths.js';

describe('JSON files people edit', () => {
  it('maps JSON pointers to lines and columns', () => {
    const positions = jsonPositions('{\n  "a": [1, {"b": "x"}],\n  "c/d": true\n}');
    assert.deepEqual(positions.get('/a/1/b'), { line: 2, column: 13 });
    assert.deepEqual(positions.get('/c~1d'), { line: 3, column: 3 });
    assert.deepEqual(positions.get(''), { line: 1, column: 1 });
  });

  it('locates every schema problem of a policy', () => {
    const text = '{\n  "defaults": {\n    "libraryDirs": ["ok/relative", 3],\n    "extra": 1\n  }\n}';
    try {
      parseValidated(text, 'p.json', 'policy');
      assert.fail('accepted an invalid policy');
    } catch (error) {
      assert.ok(error instanceof InvalidJsonFile);
      const lines = error.message.split('\n');
      assert.ok(lines.includes('p.json:3:21: /defaults/libraryDirs/0: must be an absolute path'), error.message);
      assert.ok(lines.includes('p.json:3:36: /defaults/libraryDirs/1: must be string'), error.message);
      assert.ok(lines.includes("p.json:4:5: /defaults/extra: unknown property 'extra'"), error.message);
    }
  });

  it('locates a syntax error', () => {
    assert.throws(() => parseValidated('{\n  "defaults": {,}\n}', 'p.json', 'policy'), /^InvalidJsonFile: p\.json:2:16: \(top level\): not valid JSON/);
  });

  it('locates syntax errors whose message gives no position (a trailing comma in a list)', () => {
    assert.throws(() => parseValidated('{\n  "tenants": [\n    {},\n  ]\n}', 'p.json', 'policy'), /^InvalidJsonFile: p\.json:4:3: \(top level\): not valid JSON: Unexpected token '\]'$/);
    assert.equal(syntaxErrorOffset('{"a": tru}'), 6);
    assert.equal(syntaxErrorOffset('"x\\q"'), 3);
    assert.equal(syntaxErrorOffset('{"a": [1, {"b": null}], "c": -1.5e3, "d": "\\u00e9"}'), undefined);
  });

  it('finds a syntax error where V8 says it is, when V8 says', () => {
    const broken = ['{"a":1,}', '{"a" 1}', '{"a":1', '[1 2]', '{"a":1}}', '{"a":"x\n"}', '[01]', '{"a":.5}', '', '  '];
    for (const text of broken) {
      let message = '';
      try {
        JSON.parse(text);
        assert.fail(`${JSON.stringify(text)} parsed`);
      } catch (error) {
        message = (error as Error).message;
      }
      const v8 = /position (\d+)/.exec(message);
      if (v8) assert.equal(syntaxErrorOffset(text), Number(v8[1]), `${JSON.stringify(text)}: ${message}`);
      else assert.notEqual(syntaxErrorOffset(text), undefined, `${JSON.stringify(text)}: ${message}`);
    }
  });
});

describe('precompiled validators', () => {
  it('every schema in policies/ is precompiled at build time, from its current text, and used', () => {
    const schemas = fs.readdirSync(policiesDir).filter((f) => f.endsWith('.schema.json')).map((f) => f.slice(0, -'.schema.json'.length));
    assert.deepEqual([...SCHEMAS].sort(), schemas.sort(), 'SCHEMAS lists them all');
    const require = createRequire(import.meta.url);
    for (const name of schemas) {
      const compiled = require(path.join(packageRoot, 'dist', 'validators', `${name}.cjs`)) as { default: unknown; schemaHash: string };
      const family = schemaFamily(name, (member) => fs.readFileSync(path.join(policiesDir, `${member}.schema.json`), 'utf8'));
      assert.equal(compiled.schemaHash, familyHash(family, createHash), `${name}: built from the schema and the siblings it refers to as they are`);
      assert.equal(schemaValidator(name), compiled.default, `${name}: no schema compiled at run time`);
    }
  });
});
