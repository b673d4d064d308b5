// fnjail install: the command on the PATH, the systemd unit and the logrotate
// file, written below a root of the test's own (never the host's /etc).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliAs } from '../helpers/as-user.js';
import { cliMain, createTestArea, type TestArea } from '../helpers/environment.js';

const exec = promisify(execFile);

describe('fnjail install', () => {
  let area: TestArea;
  before(() => {
    area = createTestArea();
  });
  after(() => area.cleanup());

  it('links the command into bin, writes the unit and the logrotate file', async () => {
    const root = path.join(area.root, 'root');
    const { stdout } = await exec(process.execPath, [cliMain, 'install', '--root', root]);
    const link = path.join(root, 'usr/local/bin/fnjail');
    assert.equal(fs.realpathSync(link), fs.realpathSync(cliMain));
    assert.match(stdout, new RegExp(`${link} -> `));
    // The link runs: the #! line and the mode.
    assert.match(spawnSync(link, ['version'], { encoding: 'utf8' }).stdout, /^fnjail \d+\.\d+\.\d+\n$/);
    const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/fnjail.service'), 'utf8');
    for (const line of ['Type=notify', 'KillMode=mixed', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=full', 'Delegate=yes', `ExecStart=${process.execPath} ${fs.realpathSync(cliMain)} serve`]) {
      assert.ok(unit.split('\n').includes(line), `the unit has ${line}`);
    }
    const logrotate = fs.readFileSync(path.join(root, 'etc/logrotate.d/fnjail'), 'utf8');
    assert.match(logrotate, /^\/var\/log\/fnjail\/\*\.log \{$/m);
    assert.match(logrotate, /systemctl kill --kill-whom=main --signal=HUP fnjail\.service/);
    // Again: the link is replaced, not refused; a file that is not a link is someone else's.
    await exec(process.execPath, [cliMain, 'install', '--root', root, '--command-only']);
    fs.rmSync(link);
    fs.writeFileSync(link, '#!/bin/sh\n');
    const refused = await exec(process.execPath, [cliMain, 'install', '--root', root, '--command-only']).then(
      () => assert.fail('replaced a file that is not a link'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /exists and is not a link \[FNJ_INSTALL_FAILED\]/);
  });

  it('writes a unit that systemd accepts, every directive known', (t) => {
    const dir = path.join(area.root, 'verify');
    fs.mkdirSync(dir);
    const printed = spawnSync(process.execPath, [cliMain, 'install', '--print'], { encoding: 'utf8' });
    assert.equal(printed.status, 0, printed.stderr);
    const unit = /\[Unit\][\s\S]*?WantedBy=multi-user\.target\n/.exec(printed.stdout)?.[0];
    assert.ok(unit, printed.stdout);
    fs.writeFileSync(path.join(dir, 'fnjail.service'), unit);
    const verify = spawnSync('systemd-analyze', ['verify', path.join(dir, 'fnjail.service')], { encoding: 'utf8' });
    if (verify.error) {
      // Said loudly: this host has no systemd-analyze to check the unit with.
      t.diagnostic(`probed: systemd-analyze is missing (${verify.error.message}); the unit's directives are not checked here`);
      assert.equal((verify.error as NodeJS.ErrnoException).code, 'ENOENT');
      return;
    }
    assert.equal(verify.stderr, '', 'systemd-analyze verify has nothing to say');
    assert.equal(verify.status, 0);
  });

  it('needs root, and says what --print shows instead', () => {
    const [command, ...args] = cliAs({ uid: 4567, gid: 4567 }, ['install']);
    const result = spawnSync(command!, args, { encoding: 'utf8' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /needs root \[FNJ_NOT_ROOT\]\n {2}hint: .*fnjail install --print/);
  });
});
