// A throwaway PKI for the TCP + mutual TLS tests, made with the openssl CLI: a
// test CA, a server certificate for the loopback addresses and localhost,
// client certificates whose CN is the tenant's identity, and a second,
// unrelated CA for certificates that must be refused. EC P-256, valid 1 day.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface CertAndKey {
  cert: string;
  key: string;
}

export interface IssueOptions {
  cn: string;
  /** What the certificate is for: serverAuth or clientAuth (extended key usage). */
  usage: 'server' | 'client';
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost']. */
  altNames?: string[];
  /** Signed by the foreign CA instead of the test CA. */
  foreign?: boolean;
}

export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  /** CN=fnjail-test-server, for IP:127.0.0.1, IP:::1 and DNS:localhost. */
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the test CA (cached per cn). */
  client(cn: string): CertAndKey;
  /** A client certificate signed by an unrelated CA (cached per cn). */
  foreignClient(cn: string): CertAndKey;
  /** The unrelated CA. */
  foreignCaCert: string;
  /** A server certificate like serverCert's, but signed by the unrelated CA. */
  foreignServer(): CertAndKey;
  /** Any other certificate (cached per options). */
  issue(options: IssueOptions): CertAndKey;
}

export const TEST_SERVER_ALT_NAMES = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost'];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
  }
}

/** A private key, mode 0600 (openssl writes it with the umask's mode). */
function newKey(file: string, dir: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  fs.chmodSync(file, 0o600);
}

/** An RFC 4514-safe CN for -subj: no separators, no control characters. */
function checkCn(cn: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/.test(cn)) throw new Error(`test certificate CN '${cn}': use letters, digits, space . _ @ -`);
}

function writeConfig(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
}

/** Creates the PKI in `dir` (made, mode 0700); removing dir is the caller's job. */
export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  // Our own configuration, so nothing depends on the system's openssl.cnf.
  const reqConfig = path.join(dir, 'req.cnf');
  writeConfig(
    reqConfig,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = ca',
      '[dn]',
      'CN = unused',
      '[ca]',
      'basicConstraints = critical, CA:TRUE, pathlen:0',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );

  const makeCa = (name: string, cn: string): { cert: string; key: string } => {
    const key = path.join(dir, `${name}.key`);
    const cert = path.join(dir, `${name}.crt`);
    newKey(key, dir);
    openssl(['req', '-config', reqConfig, '-x509', '-new', '-key', key, '-subj', `/CN=${cn}`, '-days', '1', '-sha256', '-out', cert], dir);
    return { cert, key };
  };

  const ca = makeCa('ca', 'fnjail-test-ca');
  let foreignCa: { cert: string; key: string } | undefined;
  const foreign = () => (foreignCa ??= makeCa('foreign-ca', 'fnjail-test-foreign-ca'));

  const issued = new Map<string, CertAndKey>();
  let count = 0;
  const issue = (options: IssueOptions): CertAndKey => {
    checkCn(options.cn);
    for (const name of options.altNames ?? []) {
      if (!/^(IP|DNS):[A-Za-z0-9.:*-]+$/.test(name)) throw new Error(`test certificate subjectAltName '${name}': IP:... or DNS:...`);
    }
    const id = JSON.stringify([options.cn, options.usage, options.altNames ?? [], !!options.foreign]);
    const known = issued.get(id);
    if (known) return known;
    const signer = options.foreign ? foreign() : ca;
    const base = path.join(dir, `${options.foreign ? 'foreign-' : ''}${options.usage}-${++count}`);
    const key = `${base}.key`;
    const csr = `${base}.csr`;
    const cert = `${base}.crt`;
    const ext = `${base}.ext`;
    newKey(key, dir);
    openssl(['req', '-config', reqConfig, '-new', '-key', key, '-subj', `/CN=${options.cn}`, '-out', csr], dir);
    writeConfig(
      ext,
      [
        '[leaf]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        `extendedKeyUsage = ${options.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        ...(options.altNames?.length ? [`subjectAltName = ${options.altNames.join(', ')}`] : []),
        '',
      ].join('\n'),
    );
    const serial = `0x${randomBytes(12).toString('hex')}`;
    openssl(
      ['x509', '-req', '-in', csr, '-CA', signer.cert, '-CAkey', signer.key, '-set_serial', serial, '-days', '1', '-sha256', '-extfile', ext, '-extensions', 'leaf', '-out', cert],
      dir,
    );
    fs.rmSync(csr);
    fs.rmSync(ext);
    const result = { cert, key };
    issued.set(id, result);
    return result;
  };

  const server = issue({ cn: 'fnjail-test-server', usage: 'server', altNames: TEST_SERVER_ALT_NAMES });
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    client: (cn) => issue({ cn, usage: 'client' }),
    foreignClient: (cn) => issue({ cn, usage: 'client', foreign: true }),
    get foreignCaCert() {
      return foreign().cert;
    },
    foreignServer: () => issue({ cn: 'fnjail-test-server', usage: 'server', altNames: TEST_SERVER_ALT_NAMES, foreign: true }),
    issue,
  };
}
