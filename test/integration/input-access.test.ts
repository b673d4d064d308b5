// The input file is opened with the tenant's own credentials (no confused
// deputy), and shown to the sandbox read-only even when only the tenant may
// read it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callAs, installClient } from '../helpers/as-user.js';
import { writeData } from '../helpers/environment.js';
import { readOutput, startServer, type TestServer } from '../helpers/server.js';

const ANA = { uid: 4301, gid: 4301 };
const BOB = { uid: 4302, gid: 4302, groups: [4400] };

describe('input files and the tenant\'s credentials', () => {
  let server: TestServer;
  let client: string;
  let cat: (user: typeof ANA | typeof BOB, file: string) => string;

  before(async () => {
    server = await startServer();
    fs.chmodSync(server.area.root, 0o755);
    client = installClient(server.area);
    cat = (user, file) => readOutput(callAs(client, server.socket, user, [path.join(server.area.libDir, 'libbasic.so'), 'cat', file]));
  });
  after(() => server.stop());

  const owned = (name: string, mode: number, uid: number, gid: number) => {
    const file = writeData(server.area, name, `secret of ${name}\n`, mode);
    fs.chownSync(file, uid, gid);
    return file;
  };

  it('refuses a file the tenant cannot read, although the server could', () => {
    const file = owned('root-only.txt', 0o600, 0, 0);
    assert.match(cat(ANA, file), /^Error: \S+ cat \S+ could not be executed\.\nReason: uid 4301 cannot read input file \S+root-only\.txt: Permission denied\n$/);
  });

  it("shows the sandbox a file only its owner (the tenant) may read, read-only", () => {
    const file = owned('ana-only.txt', 0o600, ANA.uid, ANA.gid);
    assert.equal(cat(ANA, file), 'secret of ana-only.txt\n');
    assert.match(cat(BOB, file), /Reason: uid 4302 cannot read input file \S+ana-only\.txt: Permission denied\n$/);
  });

  it('lets a tenant read through a supplementary group', () => {
    const file = owned('group-only.txt', 0o640, 0, 4400);
    assert.equal(cat(BOB, file), 'secret of group-only.txt\n');
    assert.match(cat(ANA, file), /cannot read input file/);
  });

  it('needs nothing special for a file anyone may read', () => {
    const file = owned('public.txt', 0o644, 0, 0);
    assert.equal(cat(ANA, file), 'secret of public.txt\n');
  });

  it('checks the directories on the way with the tenant\'s credentials too', () => {
    const dir = path.join(server.area.dataDir, 'closed');
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, 'inside.txt');
    fs.writeFileSync(file, 'inside\n', { mode: 0o644 });
    assert.match(cat(ANA, file), /Reason: uid 4301 cannot read input file \S+inside\.txt: Permission denied\n$/);
  });
});
