// A throwaway PKI for the TCP + mutual TLS tests, made as `fnjail tls` makes
// one (src/tls/certificates.ts): a test CA, a server certificate for the loopback addresses and localhost,
// client certificates whose CN is the tenant's identity, and a second,
// unrelated CA for certificates that must be refused. EC P-256, valid 1 day.
import fs from 'node:fs';
import path from 'node:path';
import { checkCommonName, issueCertificate, makeCa as makeCertificateAuthority, type CertAndKey } from '../../src/tls/certificates.js';

export type { CertAndKey };

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

/** Creates the PKI in `dir` (made, mode 0700); removing dir is the caller's job. */
export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const makeCa = (name: string, cn: string): CertAndKey => makeCertificateAuthority({ cn, days: 1, cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });

  const ca = makeCa('ca', 'fnjail-test-ca');
  let foreignCa: { cert: string; key: string } | undefined;
  const foreign = () => (foreignCa ??= makeCa('foreign-ca', 'fnjail-test-foreign-ca'));

  const issued = new Map<string, CertAndKey>();
  let count = 0;
  const issue = (options: IssueOptions): CertAndKey => {
    const badCn = checkCommonName(options.cn);
    if (badCn) throw new Error(`test certificate: ${badCn}`);
    for (const name of options.altNames ?? []) {
      if (!/^(IP|DNS):[A-Za-z0-9.:*-]+$/.test(name)) throw new Error(`test certificate subjectAltName '${name}': IP:... or DNS:...`);
    }
    const id = JSON.stringify([options.cn, options.usage, options.altNames ?? [], !!options.foreign]);
    const known = issued.get(id);
    if (known) return known;
    const base = path.join(dir, `${options.foreign ? 'foreign-' : ''}${options.usage}-${++count}`);
    const { cert, key } = issueCertificate({
      ca: options.foreign ? foreign() : ca,
      cn: options.cn,
      usage: options.usage,
      ...(options.altNames ? { altNames: options.altNames } : {}),
      days: 1,
      cert: `${base}.crt`,
      key: `${base}.key`,
    });
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
