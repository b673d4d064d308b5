// `fnjail cluster config`, run as an operator runs it: what it writes for each
// node (modes, certificates, a config nats-server accepts), what it prints,
// and what it refuses.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliMain, createTestArea, type TestArea } from '../../helpers/environment.js';
import { makeTestPki, type TestPki } from '../../helpers/tls.js';

let area: TestArea;
let pki: TestPki;

before(() => {
  area = createTestArea();
  pki = makeTestPki(path.join(area.root, 'pki'));
});
after(() => area.cleanup());

const fnjail = (...args: string[]) => spawnSync(process.execPath, [cliMain, 'cluster', ...args], { encoding: 'utf8' });
const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('fnjail cluster config', () => {
  it('writes each node its CA, identity and, for a server, its certificate and a config nats-server accepts', () => {
    const out = path.join(area.root, 'cluster');
    const result = fnjail('config', '--nodes', 'alpha=10.9.0.1,beta=beta.example.org,gamma', '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', out, '--conf-dir', `${out}/{node}`, '--days', '2');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^alpha: .*\/cluster\/alpha \(nats-server -c nats\.conf\)$/m);
    assert.match(result.stdout, /^gamma: .*\(no nats-server\)$/m);
    assert.match(result.stdout, /fnjail serve --node-name gamma --nats tls:\/\/10\.9\.0\.1:4222,tls:\/\/beta\.example\.org:4222 --nats-tls-cert .*\/gamma\/node\.pem/);
    assert.equal(mode(out), 0o700);
    assert.deepEqual(fs.readdirSync(path.join(out, 'alpha')).sort(), ['broker.key', 'broker.pem', 'ca.pem', 'nats.conf', 'node.key', 'node.pem']);
    assert.deepEqual(fs.readdirSync(path.join(out, 'gamma')).sort(), ['ca.pem', 'node.key', 'node.pem']);
    for (const key of ['alpha/node.key', 'alpha/broker.key', 'alpha/nats.conf', 'gamma/node.key']) assert.equal(mode(path.join(out, key)), 0o600, key);

    const ca = new X509Certificate(fs.readFileSync(pki.caCert));
    const identity = new X509Certificate(fs.readFileSync(path.join(out, 'gamma', 'node.pem')));
    assert.equal(identity.subject, 'CN=gamma');
    assert.ok(identity.verify(ca.publicKey));
    assert.deepEqual(identity.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'client authentication only');
    const broker = new X509Certificate(fs.readFileSync(path.join(out, 'beta', 'broker.pem')));
    assert.equal(broker.subjectAltName, 'DNS:beta.example.org');
    assert.deepEqual(broker.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'server and client: it dials its peers too');
    assert.equal(new X509Certificate(fs.readFileSync(path.join(out, 'alpha', 'broker.pem'))).subjectAltName, 'IP Address:10.9.0.1');

    const config = JSON.parse(fs.readFileSync(path.join(out, 'alpha', 'nats.conf'), 'utf8'));
    assert.equal(config.tls.cert_file, `${out}/alpha/broker.pem`);
    assert.equal(config.cluster.routes.length, 1, 'alpha routes to beta only (gamma runs no server)');
    // nats-server itself reads it (-t: test the configuration and exit).
    const check = spawnSync('nats-server', ['-t', '-c', path.join(out, 'alpha', 'nats.conf')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr + check.stdout);
  });

  it('refuses to overwrite, and says what is wrong with the command line', () => {
    const out = path.join(area.root, 'again');
    const args = ['config', '--nodes', 'a=127.0.0.1', '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', out];
    assert.equal(fnjail(...args).status, 0);
    const again = fnjail(...args);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /again\/a exists already \[FNJ_CLUSTER_FILES_EXIST\]/);
    const usage = (extra: string[], message: RegExp) => {
      const r = fnjail(...extra);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
    };
    usage(['config', '--nodes', 'a=1.2.3.4', '--ca', pki.caCert, '--out', out], /needs --ca-key/);
    usage(['config', '--nodes', 'Node_A=1.2.3.4', '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', out], /'Node_A' is not a usable node name/);
    usage(['config', '--nodes', 'a', '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', path.join(area.root, 'none')], /no node runs a nats-server/);
    usage(['config', '--nodes', 'a=1.2.3.4', '--ca', pki.caCert, '--ca-key', pki.caKey, '--out', out, '--conf-dir', 'relative'], /--conf-dir must be an absolute path/);
    usage(['join'], /unknown cluster command 'join'/);
    usage([], /expected status or config/);
    const noServer = fnjail('status', '--api-socket', path.join(area.root, 'no-such.sock'));
    assert.equal(noServer.status, 3, 'status without a server: cannot reach it');
    assert.match(noServer.stderr, /cannot reach the fnjail API at .*no-such\.sock.*\[FNJ_CONNECT_FAILED\]/);
    const missing = fnjail('config', '--nodes', 'a=1.2.3.4', '--ca', path.join(area.root, 'nope.pem'), '--ca-key', pki.caKey, '--out', out);
    assert.match(missing.stderr, /nope\.pem is missing \[FNJ_TLS_FAILED\]/);
    assert.match(execFileSync(process.execPath, [cliMain, 'cluster', '--help'], { encoding: 'utf8' }), /usage: fnjail cluster status .*\n +fnjail cluster config --nodes/);
  });
});
