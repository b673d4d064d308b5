// fnjail config check (like nginx -t): the config file and the policy it
// names, every problem of every kind at once, in the order of the lines; and
// the commands that read the config (policy check and explain, serve) agree on
// which file that is: --config, else FNJAIL_CONFIG, else /etc/fnjail/config.json;
// --no-config: none.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliMain, createTestArea, type TestArea } from '../helpers/environment.js';

function fnjail(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [cliMain, ...args], { encoding: 'utf8', env: { ...process.env, FNJAIL_CONFIG: '', ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fnjail config check', () => {
  let area: TestArea;
  let policy: string;
  before(() => {
    area = createTestArea();
    policy = path.join(area.root, 'policy.json');
  });
  after(() => area.cleanup());

  it('reports every problem of the config and of its policy at once, line by line', () => {
    // In the policy: a tenant the schema refuses (and what else is wrong in it),
    // then problems that only show once the files are read: an unknown user, a name used twice.
    fs.writeFileSync(
      policy,
      `{\n  "tenants": [\n    { "name": "broken", "libraryDirs": ["relative"] },\n    { "name": "alice", "match": { "users": ["no-such-user-here"] } },\n    { "name": "alice", "match": { "uids": [4501] } }\n  ]\n}\n`,
    );
    const config = path.join(area.root, 'config.json');
    fs.writeFileSync(
      config,
      `{\n  "maxConcurent": 3,\n  "retentionMaxSize": 1000,\n  "socketGroup": "no-such-group-here",\n  "auditFsync": true,\n  "listen": ["nonsense"],\n  "idleTimeout": "5 minutes",\n  "policy": "${policy}"\n}\n`,
    );
    const result = fnjail(['config', 'check', config]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      `${config}:2:3: /maxConcurent: unknown property 'maxConcurent'`,
      `${config}:3:3: /retentionMaxSize: '1000' needs a unit: write 1000 B, or use KiB, MiB, GiB (e.g. "4096 B", "512 KiB", "16 MiB", "2 GiB")`,
      `${config}:4:3: /socketGroup: unknown group 'no-such-group-here'`,
      `${config}:5:3: /auditFsync: --audit-fsync (auditFsync) needs --audit-log (auditLog)`,
      `${config}:6:3: /listen: --listen (listen) needs --tls-cert (tlsCert), --tls-key (tlsKey) and --tls-ca (tlsCa): TCP is served with mutual TLS (or --insecure (insecure), on loopback only)`,
      `${config}:6:14: /listen/0: bad listen address "nonsense": "nonsense" is not a port number (expected PORT, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464)`,
      `${config}:7:3: /idleTimeout: '5 minutes' is not a duration: the units are ms, s, m, h and d, not 'minutes' (e.g. 30 (seconds), "500ms", "90s", "15m", "12h", "7d", "1d12h")`,
      `${policy}:3:5: /tenants/0: missing required property 'match'`,
      `${policy}:3:41: /tenants/0/libraryDirs/0: must be an absolute path`,
      `${policy}:4:45: /tenants/1/match/users/0: unknown user 'no-such-user-here'`,
      `${policy}:5:7: /tenants/2/name: tenant 'alice' is defined already in ${policy}`,
      `${config}: invalid: 7 problems in the config, 4 problems in its policy ${policy}`,
    ]);
  });

  it('checks the TLS files: readable, the key the certificate\'s', () => {
    const config = path.join(area.root, 'tls-config.json');
    const cert = path.join(area.root, 'cert.pem');
    fs.writeFileSync(cert, 'not a certificate\n');
    fs.writeFileSync(config, JSON.stringify({ listen: ['127.0.0.1:7443'], tlsCert: cert, tlsKey: path.join(area.root, 'none.key'), tlsCa: cert }, null, 2));
    const result = fnjail(['config', 'check', config]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^${config}:6:3: /tlsKey: cannot be read: ENOENT`, 'm'));
    fs.writeFileSync(path.join(area.root, 'none.key'), 'not a key either\n');
    assert.match(fnjail(['config', 'check', config]).stderr, new RegExp(`^${config}:5:3: /tlsCert: `, 'm'), 'openssl refuses the files');
  });

  it('accepts a valid config and names the policy it checked', () => {
    fs.writeFileSync(policy, JSON.stringify({ defaults: { libraryDirs: [area.libDir] } }));
    const config = path.join(area.root, 'good.json');
    fs.writeFileSync(config, JSON.stringify({ policy, retentionMaxAge: '7d', retentionMaxSize: '10 GiB', shutdownGrace: 30 }));
    const result = fnjail(['config', 'check', config]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${config}: valid\\npolicy ${policy}: valid \\(sha256 [0-9a-f]{12}, 0 tenants and defaults\\)\\n$`));
  });

  it('is the file the server and fnjail policy read: FNJAIL_CONFIG, unless --config or --no-config', () => {
    const other = path.join(area.root, 'other-policy.json');
    fs.writeFileSync(other, JSON.stringify({ defaults: { libraryDirs: [area.root] } }));
    const config = path.join(area.root, 'env.json');
    fs.writeFileSync(config, JSON.stringify({ policy: other }));
    const env = { FNJAIL_CONFIG: config };
    assert.match(fnjail(['config', 'check'], env).stdout, new RegExp(`^policy ${other}: valid`, 'm'));
    assert.match(fnjail(['policy', 'check'], env).stdout, new RegExp(`^${other}: valid`), "policy check checks the config's policy");
    assert.match(fnjail(['policy', 'check', '--config', config]).stdout, new RegExp(`^${other}: valid`));
    assert.doesNotMatch(fnjail(['policy', 'check', '--no-config'], env).stdout, new RegExp(other), '--no-config reads none');
    const missing = fnjail(['serve', '--socket', path.join(area.root, 's.sock')], { FNJAIL_CONFIG: path.join(area.root, 'missing.json') });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read the config file \S+missing\.json: ENOENT.*\[FNJ_CONFIG_UNREADABLE\]/);
  });
});
