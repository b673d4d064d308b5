// Runs a function of fixtures/build/libsyscalls.so under a compiled program on
// the real kernel, through run-filtered.c (no launcher involved).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../../src/paths.js';
import { buildHelper } from './native.js';

export const syscallsLibrary = path.join(packageRoot, 'fixtures', 'build', 'libsyscalls.so');

export interface Run {
  /** What the function printed. */
  stdout: string;
  exitCode: number | undefined;
  signal: number | undefined;
  /** The number of the refused call (mode 'refusals'). */
  refused: number | undefined;
  /** The distinct calls the supervisor recorded (mode 'logs'). */
  learned: number[];
  /** The harness's report, for assertion messages. */
  report: string;
}

export function runFiltered(mode: 'plain' | 'refusals' | 'logs', program: Buffer, fn: string): Run {
  const harness = buildHelper('run-filtered');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-seccomp-'));
  try {
    const file = path.join(dir, 'program.bpf');
    fs.writeFileSync(file, program);
    const r = spawnSync(harness, [mode, file, syscallsLibrary, fn], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`run-filtered failed (${r.status ?? r.signal}): ${r.stderr}`);
    const line = (word: string) => r.stderr.split('\n').find((l) => l.startsWith(`${word} `) || l === word)?.slice(word.length).trim();
    const number = (word: string) => {
      const text = line(word);
      return text === undefined ? undefined : Number(text);
    };
    return {
      stdout: r.stdout,
      exitCode: number('exit'),
      signal: number('signal'),
      refused: number('refused'),
      learned: (line('learned') ?? '').split(' ').filter(Boolean).map(Number),
      report: r.stderr.trim(),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
