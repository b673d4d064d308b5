import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { appendLines, createOutputFile, randomName, replaceContent } from '../../src/executor/output-file.js';

describe('output files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnjail-out-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('names files from the template with a random suffix', () => {
    const names = new Set(Array.from({ length: 200 }, () => randomName('out-XXXXXX')));
    assert.ok(names.size > 195);
    for (const name of names) assert.match(name, /^out-[A-Za-z0-9]{6}$/);
  });

  it('creates a new 0600 file owned by the given user', async () => {
    const file = createOutputFile(dir, 'out-XXXXXX', 4242, 4343);
    const stat = fs.statSync(file);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(stat.uid, 4242);
    assert.equal(stat.gid, 4343);
    assert.equal(stat.size, 0);
  });

  it('never reuses or follows an existing name: a template without X fails after retries', async () => {
    fs.symlinkSync('/etc/passwd', path.join(dir, 'fixed'));
    assert.throws(() => createOutputFile(dir, 'fixed', 0, 0), /no free output file name/);
    assert.equal(fs.readlinkSync(path.join(dir, 'fixed')), '/etc/passwd');
  });

  it('appends error lines on a line of their own, and replaces content for classic files', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'partial');
    appendLines(file, ['Error: x could not be executed.', 'Reason: y']);
    assert.equal(fs.readFileSync(file, 'utf8'), 'partial\nError: x could not be executed.\nReason: y\n');
    replaceContent(file, ['Error: x could not be executed.']);
    assert.equal(fs.readFileSync(file, 'utf8'), 'Error: x could not be executed.\n');
  });
});
