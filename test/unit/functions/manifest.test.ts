// The manifest fnjail.json (src/functions/manifest.ts, policies/manifest.schema.json):
// what it means once read (kind, entry, build, limits), every mistake located
// as file:line:column: /pointer, the manifest checked against its bundle, and
// effectiveLimits: the stricter of policy and manifest, per field, saying which.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeBundle } from '../../../src/functions/bundle.js';
import { BundleError } from '../../../src/functions/bundle-error.js';
import { manifestOf } from '../../../src/functions/bundle-manifest.js';
import { effectiveLimits } from '../../../src/functions/effective-limits.js';
import { FUNCTION_NAME } from '../../../src/functions/function-name.js';
import { InvalidManifest, parseManifest } from '../../../src/functions/manifest.js';
import { DEFAULT_LIMITS } from '../../../src/policy/policy.js';
import { schemaValidator } from '../../../src/config/json-file.js';

function problems(text: string): string[] {
  try {
    parseManifest(text, 'fnjail.json');
  } catch (error) {
    assert.ok(error instanceof InvalidManifest, String(error));
    assert.equal(error.code, 'FNJ_MANIFEST_INVALID');
    return error.message.split('\n');
  }
  assert.fail('the manifest was accepted');
}

describe('the manifest', () => {
  it('reads a library: its functions, no build, limits in bytes', () => {
    const manifest = parseManifest(
      JSON.stringify({ name: 'basic', kind: 'library', functions: ['run', 'cat'], entry: 'lib/libbasic.so', limits: { memory: '64 MiB', timeoutMs: 500 } }),
      'fnjail.json',
    );
    assert.equal(manifest.kind, 'library');
    assert.deepEqual(manifest.kind === 'library' && manifest.functions, ['run', 'cat']);
    assert.equal(manifest.entry, 'lib/libbasic.so');
    assert.equal(manifest.build, undefined);
    assert.deepEqual(manifest.limits, { memoryBytes: 64 * 1024 * 1024, timeoutMs: 500 });
  });

  it('reads a program with each form of build: true is make, a string a shell command, an array an argv, false none', () => {
    const program = (build: unknown) => parseManifest(JSON.stringify({ name: 'toupper', kind: 'program', mode: 'per-connection', entry: 'toupper', build }), 'fnjail.json');
    assert.deepEqual(program(true).build, ['make']);
    assert.deepEqual(program('make toupper CFLAGS=-O2').build, ['/bin/sh', '-c', 'make toupper CFLAGS=-O2']);
    assert.deepEqual(program(['make', 'all']).build, ['make', 'all']);
    assert.equal(program(false).build, undefined);
    assert.equal(program(undefined).build, undefined);
    const toupper = program(true);
    assert.equal(toupper.kind === 'program' && toupper.mode, 'per-connection');
  });

  it('locates every mistake: line, column, pointer, message', () => {
    const text = [
      '{',
      '  "name": "Hello_World",',
      '  "kind": "library",',
      '  "mode": "per-request",',
      '  "entry": "../libx.so",',
      '  "build": 3,',
      '  "limits": { "memory": "lots" },',
      '  "color": "blue"',
      '}',
    ].join('\n');
    const lines = problems(text);
    // As a person reads the file: top to bottom.
    assert.deepEqual(lines.map((l) => Number(l.split(':')[1])), [1, 2, 5, 6, 7, 8]);
    assert.ok(lines.includes('fnjail.json:2:3: /name: must be a lowercase letter or digit, then lowercase letters, digits and dashes (at most 63, no dash at the end), like a DNS label: it appears in URLs (/run/NAME) and host names.'), lines.join('\n'));
    assert.ok(lines.includes("fnjail.json:1:1: (top level): missing required property 'functions'"), lines.join('\n'));
    assert.ok(lines.includes('fnjail.json:5:3: /entry: must be a path inside the bundle: relative, without . or .. segments, empty segments or a trailing /'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('fnjail.json:6:3: /build: must be how the bundle is built')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('fnjail.json:7:15: /limits/memory: must be a size in bytes')), lines.join('\n'));
    assert.ok(lines.includes("fnjail.json:8:3: /color: unknown property 'color'"), lines.join('\n'));
  });

  it("names a field of the other kind as such (a library's mode, a program's functions)", () => {
    assert.deepEqual(problems('{"name": "x", "kind": "library", "functions": ["run"], "mode": "per-request", "entry": "x.so"}'), [
      "fnjail.json:1:56: /mode: 'mode' is for programs; a library lists its 'functions'",
    ]);
    assert.deepEqual(problems('{"name": "x", "kind": "program", "mode": "per-request",\n "functions": ["run"], "entry": "x"}'), [
      "fnjail.json:2:2: /functions: 'functions' is for libraries; a program has a 'mode'",
    ]);
  });

  it('refuses entries that are absolute or leave the bundle', () => {
    for (const entry of ['/bin/sh', '../x', 'a/../../x', './x', 'a//b', 'a/./b', 'bin/', '..', '.']) {
      const lines = problems(JSON.stringify({ name: 'x', kind: 'program', mode: 'per-request', entry }));
      assert.ok(lines.some((l) => l.includes('/entry: must be a path inside the bundle')), `${entry}: ${lines.join('\n')}`);
    }
  });

  it('locates a syntax error', () => {
    assert.deepEqual(problems('{\n  "name": "x",\n  "kind": "program"\n  "entry": "x"\n}'), ["fnjail.json:4:3: (top level): not valid JSON: Expected ',' or '}' after property value"]);
  });

  it('the function-name rule in code is the schema\'s', () => {
    const validate = schemaValidator('manifest');
    for (const name of ['a', 'hello', 'to-upper2', '0x', 'a'.repeat(63), 'A', '-a', 'a-', 'a_b', 'a'.repeat(64), '']) {
      const schemaSays = validate({ name, kind: 'program', mode: 'per-request', entry: 'x' });
      assert.equal(FUNCTION_NAME.test(name), schemaSays, name);
    }
  });
});

describe('the manifest in its bundle', () => {
  const manifest = (fields: object) => ({ path: 'fnjail.json', type: 'file' as const, mode: 0o644, data: Buffer.from(JSON.stringify(fields)) });

  it('must be there', () => {
    assert.throws(() => manifestOf(makeBundle([{ path: 'run.sh', type: 'file', mode: 0o755, data: Buffer.from('') }])), (e: unknown) => e instanceof BundleError && e.rule === 'no-manifest');
  });

  it('names an entry the bundle holds (through its links), unless the bundle is built', () => {
    const program = { name: 'p', kind: 'program', mode: 'per-request', entry: 'bin/p' };
    assert.throws(() => manifestOf(makeBundle([manifest(program)])), (e: unknown) => e instanceof BundleError && e.rule === 'missing-entry' && e.entry === 'bin/p');
    assert.equal(manifestOf(makeBundle([manifest({ ...program, build: true })])).entry, 'bin/p');
    const linked = makeBundle([manifest(program), { path: 'bin', type: 'symlink', target: 'out' }, { path: 'out/p', type: 'file', mode: 0o755, data: Buffer.from('') }]);
    assert.equal(manifestOf(linked).name, 'p');
    const dir = makeBundle([manifest(program), { path: 'bin/p', type: 'directory' }]);
    assert.throws(() => manifestOf(dir), (e: unknown) => e instanceof BundleError && e.rule === 'missing-entry');
  });
});

describe('effective limits', () => {
  it('takes the stricter value of each field and says where it came from', () => {
    const { limits, source } = effectiveLimits(DEFAULT_LIMITS, { timeoutMs: 100, memoryBytes: DEFAULT_LIMITS.memoryBytes * 2, maxProcs: DEFAULT_LIMITS.maxProcs });
    assert.equal(limits.timeoutMs, 100);
    assert.equal(source.timeoutMs, 'manifest');
    assert.equal(limits.memoryBytes, DEFAULT_LIMITS.memoryBytes, 'a manifest never loosens the policy');
    assert.equal(source.memoryBytes, 'policy');
    assert.equal(source.maxProcs, 'policy', 'a tie is the policy');
    assert.deepEqual({ ...limits, timeoutMs: DEFAULT_LIMITS.timeoutMs }, DEFAULT_LIMITS);
    for (const field of Object.keys(DEFAULT_LIMITS)) assert.ok(field in source, field);
  });

  it('with a manifest that sets nothing, is the policy', () => {
    const { limits, source } = effectiveLimits(DEFAULT_LIMITS, {});
    assert.deepEqual(limits, DEFAULT_LIMITS);
    assert.ok(Object.values(source).every((s) => s === 'policy'));
  });
});
