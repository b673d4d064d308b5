// The output directory is created and checked without following links: a
// user who plants a symlink at its path, or above it in a directory they can
// write, gets a refusal, and the link's target is left as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FnjailError } from '../../src/errors.js';
import { prepareOutputDir } from '../../src/server/output-dir.js';
import { createTestArea, type TestArea } from '../helpers/environment.js';

const USER = 4801;

describe('the output directory', () => {
  let area: TestArea;
  let n = 0;
  const fresh = () => path.join(area.root, `case-${++n}`);
  before(() => (area = createTestArea()));
  after(() => area.cleanup());

  const refusal = (dir: string): string => {
    try {
      prepareOutputDir(dir);
    } catch (error) {
      assert.ok(error instanceof FnjailError);
      assert.equal(error.code, 'FNJ_OUTPUT_DIR_FAILED');
      return error.message;
    }
    return assert.fail(`${dir} was accepted`);
  };

  it('is made with its missing parents, root-owned, 0711', () => {
    const dir = path.join(fresh(), 'a', 'output');
    prepareOutputDir(dir);
    const st = fs.lstatSync(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o7777, 0o711);
    fs.chmodSync(dir, 0o777);
    prepareOutputDir(dir);
    assert.equal(fs.lstatSync(dir).mode & 0o7777, 0o711, 'and made 0711 again at every start');
  });

  it('is refused when a user planted a symlink at its path, and the target is left alone', () => {
    const parent = fresh();
    fs.mkdirSync(parent, { mode: 0o1777 });
    fs.chmodSync(parent, 0o1777);
    const victim = path.join(area.root, `victim-${n}`);
    fs.mkdirSync(victim, { mode: 0o750 });
    fs.chownSync(victim, USER, USER);
    const dir = path.join(parent, 'output');
    fs.symlinkSync(victim, dir);
    fs.lchownSync(dir, USER, USER);
    assert.match(refusal(dir), new RegExp(`${dir} is a symbolic link \\(to ${victim}\\)`));
    const st = fs.statSync(victim);
    assert.deepEqual([st.uid, st.mode & 0o7777], [USER, 0o750], 'not chowned, not chmodded');
  });

  it('is refused below a symlink, below a directory anyone can change, or in a directory a user owns', () => {
    const real = fresh();
    fs.mkdirSync(real);
    const link = `${real}-link`;
    fs.symlinkSync(real, link);
    assert.match(refusal(path.join(link, 'output')), /is a symbolic link/);

    const open = fresh();
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    assert.match(refusal(path.join(open, 'output')), /writable by others \(mode 0777\) without the sticky bit/);

    const owned = fresh();
    fs.mkdirSync(owned);
    fs.chownSync(owned, USER, USER);
    assert.match(refusal(path.join(owned, 'output')), new RegExp(`owned by uid ${USER}, not root`));
    assert.match(refusal(owned), new RegExp(`owned by uid ${USER}, not root`));
  });

  it('may be below a sticky directory such as /tmp, made by root', () => {
    const sticky = fresh();
    fs.mkdirSync(sticky);
    fs.chmodSync(sticky, 0o1777);
    const dir = path.join(sticky, 'output');
    prepareOutputDir(dir);
    assert.equal(fs.lstatSync(dir).uid, 0);
  });
});
