// The TypeScript side of the launcher protocol must lay out every field where
// sandbox/protocol.h puts it: compile a program that prints the C offsets.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  decodeResult,
  encodeExec,
  EXEC_LAYOUT,
  ExecFlag,
  FrameReader,
  FrameType,
  HEADER_SIZE,
  Outcome,
  Phase,
  READY_LAYOUT,
  RESULT_LAYOUT,
} from '../../src/launcher/protocol.js';
import { packageRoot } from '../../src/paths.js';

function cLayout(struct: string, fields: string[]): Record<string, number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-layout-'));
  try {
    const source = path.join(dir, 'layout.c');
    const lines = fields.map((f) => `printf("\\"${f}\\":%zu,", offsetof(struct ${struct}, ${f}));`);
    fs.writeFileSync(
      source,
      `#include <stddef.h>\n#include <stdio.h>\n#include "protocol.h"\nint main(void){printf("{");${lines.join('')}printf("\\"size\\":%zu}", sizeof(struct ${struct}));return 0;}\n`,
    );
    execFileSync('cc', ['-o', path.join(dir, 'layout'), source, `-I${path.join(packageRoot, 'sandbox')}`]);
    return JSON.parse(execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' })) as Record<string, number>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const fieldsOf = (layout: object) => Object.keys(layout).filter((k) => k !== 'size');

describe('launcher protocol layout', () => {
  for (const [struct, layout] of [['fnj_exec', EXEC_LAYOUT], ['fnj_result', RESULT_LAYOUT], ['fnj_ready', READY_LAYOUT]] as const) {
    it(`struct ${struct} matches sandbox/protocol.h`, () => {
      assert.deepEqual(cLayout(struct, fieldsOf(layout)), { ...layout });
    });
  }

  it('encodes an execution spec with its strings and filter after the fixed part', () => {
    const frame = encodeExec({
      id: 7,
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
