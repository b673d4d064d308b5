// The state directories take the library rule (src/policy/file-trust.ts):
// refused when anyone but root could change what is in them, with the same two
// harmless kinds of writable directory above them, and none for themselves.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareStateDir } from '../../../src/config/state-dir.js';
import { FnjailError } from '../../../src/errors.js';
import { createTestArea, requireRoot, type TestArea } from '../../helpers/environment.js';

const RATIONALE = 'what is kept there must be changed by nobody but root';
const DAEMON = 1; // Debian's daemon group: its member is not root

let area: TestArea;
before(() => {
  requireRoot();
  area = createTestArea();
  fs.chmodSync(area.root, 0o755);
});
after(() => area.cleanup());

let count = 0;
function parent(mode: number, gid = 0): string {
  const dir = path.join(area.root, `parent-${++count}`);
  fs.mkdirSync(dir);
  fs.chownSync(dir, 0, gid);
  fs.chmodSync(dir, mode);
  return dir;
}

function problem(dir: string): string | undefined {
  try {
    prepareStateDir(dir, 0o700, 'state directory');
    return undefined;
  } catch (error) {
    assert.ok(error instanceof FnjailError && error.code === 'FNJ_STATE_DIR_UNSAFE', String(error));
    return error.message;
  }
}

describe('state directories', () => {
  it('are made below a directory writable only through root\'s group, or a sticky one', () => {
    for (const above of [parent(0o775), parent(0o1777)]) {
      const dir = path.join(above, 'state');
      assert.equal(problem(dir), undefined, above);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    }
  });

  it('are refused below a directory writable through another group or by others without the sticky bit', () => {
    for (const [above, who, mode] of [[parent(0o775, DAEMON), 'its group', '0775'], [parent(0o777), 'others', '0777']] as const) {
      const dir = path.join(above, 'state');
      assert.equal(problem(dir), `directory ${above} above state directory ${dir} is writable by ${who} (mode ${mode}): ${RATIONALE}`);
    }
  });

  it('get no such exception themselves', () => {
    const dir = path.join(parent(0o755), 'state');
    fs.mkdirSync(dir, { mode: 0o775 });
    fs.chmodSync(dir, 0o775);
    assert.equal(problem(dir), `state directory ${dir} is writable by its group (mode 0775): ${RATIONALE}`);
    fs.chmodSync(dir, 0o1777);
    assert.equal(problem(dir), `state directory ${dir} is writable by others (mode 01777): ${RATIONALE}`);
  });
});
