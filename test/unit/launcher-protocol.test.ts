// The TypeScript side of the launcher protocol must lay out every field where
// sandbox/protocol.h puts it, and agree on every constant: compile programs
// that print the C offsets and values; a constant of the header that the
// TypeScript side neither mirrors nor declares C-only fails the test.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  BACKSTOP_GRACE_MS,
  decodeResult,
  encodeExec,
  EXEC_LAYOUT,
  ExecFlag,
  Feature,
  FrameReader,
  FrameType,
  HANDOFF_LAYOUT,
  HEADER_SIZE,
  Kind,
  MAX_ARGS,
  MAX_ARGV,
  MAX_ENV,
  MAX_ENV_ENTRIES,
  MAX_HOSTNAME,
  MAX_FILTER,
  MAX_FRAME,
  MAX_FUNCTION,
  MAX_GROUPS,
  MAX_LEARNED,
  MAX_MESSAGE,
  MAX_PATH,
  Outcome,
  Phase,
  PROTOCOL_VERSION,
  QUEUE_DEADLINE_MS,
  READY_LAYOUT,
  RESULT_LAYOUT,
  ResultFlag,
} from '../../src/launcher/protocol.js';
import { packageRoot } from '../../src/paths.js';

const header = path.join(packageRoot, 'sandbox', 'protocol.h');

/** Compiles and runs a program that prints a JSON object with protocol.h included. */
function cJson(printfs: string[]): Record<string, number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-layout-'));
  try {
    const source = path.join(dir, 'layout.c');
    fs.writeFileSync(
      source,
      `#include <stddef.h>\n#include <stdio.h>\n#include "protocol.h"\nint main(void){printf("{");${printfs.join('printf(",");')}printf("}");return 0;}\n`,
    );
    execFileSync('cc', ['-o', path.join(dir, 'layout'), source, `-I${path.dirname(header)}`]);
    return JSON.parse(execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' })) as Record<string, number>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function cLayout(struct: string, fields: string[]): Record<string, number> {
  return cJson([...fields.map((f) => `printf("\\"${f}\\":%zu", offsetof(struct ${struct}, ${f}));`), `printf("\\"size\\":%zu", sizeof(struct ${struct}));`]);
}

/** Every FNJ_ constant of the header: #defines and enum members. */
function cConstantNames(): string[] {
  const text = fs.readFileSync(header, 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(/^#define (FNJ_\w+)\s/gm)) names.add(match[1]!);
  for (const match of text.matchAll(/^\s+(FNJ_\w+)\s*=/gm)) names.add(match[1]!);
  return [...names].sort();
}

/** "NotAFunction" -> "NOT_A_FUNCTION", "CgroupV2" -> "CGROUP_V2". */
const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toUpperCase();
const mirrored = (prefix: string, values: object) =>
  Object.fromEntries(Object.entries(values).filter(([key]) => Number.isNaN(Number(key))).map(([key, value]) => [`${prefix}${snake(key)}`, value as number]));

/** The TypeScript value of each constant of the header, by its C name. */
const TS_CONSTANTS: Record<string, number> = {
  FNJ_PROTOCOL_VERSION: PROTOCOL_VERSION,
  FNJ_MAX_PATH: MAX_PATH,
  FNJ_MAX_FUNCTION: MAX_FUNCTION,
  FNJ_MAX_FILTER: MAX_FILTER,
  FNJ_MAX_MESSAGE: MAX_MESSAGE,
  FNJ_MAX_LEARNED: MAX_LEARNED,
  FNJ_MAX_FRAME: MAX_FRAME,
  FNJ_MAX_GROUPS: MAX_GROUPS,
  FNJ_MAX_ARGV: MAX_ARGV,
  FNJ_MAX_ARGS: MAX_ARGS,
  FNJ_MAX_ENV: MAX_ENV,
  FNJ_MAX_ENV_ENTRIES: MAX_ENV_ENTRIES,
  FNJ_MAX_HOSTNAME: MAX_HOSTNAME,
  FNJ_QUEUE_DEADLINE_MS: QUEUE_DEADLINE_MS,
  FNJ_BACKSTOP_GRACE_MS: BACKSTOP_GRACE_MS,
  ...mirrored('FNJ_FRAME_', FrameType),
  ...mirrored('FNJ_EXEC_', ExecFlag),
  ...mirrored('FNJ_KIND_', Kind),
  ...mirrored('FNJ_FEATURE_', Feature),
  ...mirrored('FNJ_OUTCOME_', Outcome),
  ...mirrored('FNJ_PHASE_', Phase),
  ...mirrored('FNJ_RESULT_', ResultFlag),
};

/** Constants the server never sees, and why. */
const C_ONLY: Record<string, string> = {
  FNJ_SUP_READY: 'launcher <-> supervisor message',
  FNJ_SUP_PREP_FAILED: 'launcher <-> supervisor message',
  FNJ_SUP_SPEC: 'launcher <-> supervisor message',
  FNJ_SUP_REPORT: 'launcher <-> supervisor message',
  FNJ_SPEC_MAX_FDS: 'descriptors passed to a supervisor',
  FNJ_MAX_RESULT_TAIL: 'derived from FNJ_MAX_MESSAGE and FNJ_MAX_LEARNED, which are checked',
};

const fieldsOf = (layout: object) => Object.keys(layout).filter((k) => k !== 'size');

/** A minimal valid program spec. */
function minimalProgram() {
  return {
    id: 1,
    kind: Kind.Program,
    flags: 0,
    limits: { timeoutMs: 1, cpuMs: 0, memoryBytes: 0, maxProcs: 0, maxFiles: 0, outputBytes: 0, tmpBytes: 0 },
    library: '/p',
    function: '',
    input: undefined,
    output: '/o',
    filter: Buffer.alloc(0),
    tenant: { uid: 0, gid: 0, groups: [] },
  };
}

describe('launcher protocol layout', () => {
  for (const [struct, layout] of [['fnj_exec', EXEC_LAYOUT], ['fnj_result', RESULT_LAYOUT], ['fnj_ready', READY_LAYOUT], ['fnj_handoff', HANDOFF_LAYOUT]] as const) {
    it(`struct ${struct} matches sandbox/protocol.h`, () => {
      assert.deepEqual(cLayout(struct, fieldsOf(layout)), { ...layout });
    });
  }

  it('the frame header matches', () => {
    assert.deepEqual(cLayout('fnj_header', ['length', 'type']), { length: 0, type: 4, size: HEADER_SIZE });
  });

  it('every constant of sandbox/protocol.h has the same value here, or is declared C-only', () => {
    const names = cConstantNames();
    const values = cJson(names.map((n) => `printf("\\"${n}\\":%lld", (long long)(${n}));`));
    const unchecked = names.filter((n) => !(n in TS_CONSTANTS) && !(n in C_ONLY));
    assert.deepEqual(unchecked, [], 'constants of protocol.h that TypeScript neither mirrors nor declares C-only');
    const missing = Object.keys(TS_CONSTANTS).filter((n) => !names.includes(n));
    assert.deepEqual(missing, [], 'TypeScript constants with no counterpart in protocol.h');
    for (const [name, value] of Object.entries(TS_CONSTANTS)) assert.equal(value, values[name], name);
    assert.ok(names.length > 40, `${names.length} constants found: is the header parsed?`);
  });

  it('encodes an execution spec with its strings and filter after the fixed part', () => {
    const frame = encodeExec({
      id: 7,
      kind: Kind.Library,
      flags: ExecFlag.StderrToOutput,
      limits: { timeoutMs: 1500, cpuMs: 1, memoryBytes: 2, maxProcs: 3, maxFiles: 4, outputBytes: 5, tmpBytes: 6 },
      library: '/lib/x.so',
      function: 'run',
      input: undefined,
      output: '/out/o',
      filter: Buffer.alloc(16, 0xab),
      tenant: { uid: 1000, gid: 1001, groups: [7, 8] },
    });
    assert.equal(frame.readUInt32LE(0), frame.length - HEADER_SIZE);
    assert.equal(frame.readUInt16LE(4), FrameType.Exec);
    const body = frame.subarray(HEADER_SIZE);
    assert.equal(body.readUInt32LE(EXEC_LAYOUT.timeout_ms), 1500);
    assert.equal(body.readBigUInt64LE(EXEC_LAYOUT.tmp_bytes), 6n);
    assert.equal(body.readUInt16LE(EXEC_LAYOUT.input_len), 0);
    assert.equal(body.toString('utf8', EXEC_LAYOUT.size, EXEC_LAYOUT.size + 9), '/lib/x.so');
    assert.equal(body.readUInt32LE(EXEC_LAYOUT.tenant_gid), 1001);
    assert.equal(body.readUInt16LE(EXEC_LAYOUT.tenant_groups), 2);
    assert.equal(body.length, EXEC_LAYOUT.size + 9 + 3 + 0 + 6 + 16 + 8);
    assert.equal(body.readUInt32LE(body.length - 4), 8, 'the groups come last');
  });

  it('encodes a program: its arguments and environment NUL-terminated, after the paths', () => {
    const frame = encodeExec({
      id: 8,
      kind: Kind.Program,
      flags: ExecFlag.StdinSocket,
      limits: { timeoutMs: 1, cpuMs: 0, memoryBytes: 0, maxProcs: 0, maxFiles: 0, outputBytes: 0, tmpBytes: 0 },
      library: '/b/prog',
      function: '',
      input: undefined,
      output: '/o',
      cwd: '/b',
      bundle: '/b',
      argv: ['prog', 'a b'],
      env: ['X=1'],
      idleMs: 250,
      filter: Buffer.alloc(0),
      tenant: { uid: 0, gid: 0, groups: [] },
    });
    const body = frame.subarray(HEADER_SIZE);
    assert.equal(body.readUInt16LE(EXEC_LAYOUT.kind), Kind.Program);
    assert.equal(body.readUInt32LE(EXEC_LAYOUT.idle_ms), 250);
    assert.equal(body.readUInt16LE(EXEC_LAYOUT.argv_len), 'prog\0a b\0'.length);
    assert.equal(body.readUInt16LE(EXEC_LAYOUT.env_len), 'X=1\0'.length);
    assert.equal(body.subarray(EXEC_LAYOUT.size).toString(), '/b/prog/o/b/bprog\0a b\0X=1\0');
    assert.throws(() => encodeExec({ ...minimalProgram(), argv: ['a\0b'] }), /NUL/);
  });

  it('decodes a result, its message and learned system calls; splits frames across chunks', () => {
    const message = Buffer.from('boom');
    const body = Buffer.alloc(RESULT_LAYOUT.size + message.length + 4);
    body.writeUInt32LE(9, RESULT_LAYOUT.id);
    body.writeUInt32LE(Outcome.Completed, RESULT_LAYOUT.outcome);
    body.writeUInt32LE(Phase.Running, RESULT_LAYOUT.phase);
    body.writeUInt32LE(1, RESULT_LAYOUT.flags);
    body.writeInt32LE(-1, RESULT_LAYOUT.exit_code);
    body.writeInt32LE(11, RESULT_LAYOUT.term_signal);
    body.writeInt32LE(-1, RESULT_LAYOUT.seccomp_nr);
    body.writeBigUInt64LE(0xdeadn, RESULT_LAYOUT.fault_addr);
    body.writeUInt16LE(message.length, RESULT_LAYOUT.message_len);
    body.writeUInt16LE(2, RESULT_LAYOUT.learned_len);
    message.copy(body, RESULT_LAYOUT.size);
    body.writeUInt16LE(0, RESULT_LAYOUT.size + 4);
    body.writeUInt16LE(231, RESULT_LAYOUT.size + 6);
    const header = Buffer.alloc(HEADER_SIZE);
    header.writeUInt32LE(body.length, 0);
    header.writeUInt16LE(FrameType.Result, 4);
    const stream = Buffer.concat([header, body, header, body]);
    const reader = new FrameReader();
    const frames = [...reader.push(stream.subarray(0, 13)), ...reader.push(stream.subarray(13))];
    assert.equal(frames.length, 2);
    const result = decodeResult(frames[1]!.body);
    assert.equal(result.id, 9);
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 11);
    assert.equal(result.faultAddress, 0xdeadn);
    assert.equal(result.seccompNr, null);
    assert.equal(result.message, 'boom');
    assert.deepEqual(result.learned, [0, 231]);
  });
});
