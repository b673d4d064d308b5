// Certificates for fnjail's TCP listeners (mutual TLS), made with the openssl
// CLI: a CA, server certificates for host names and addresses, and client
// certificates whose common name is the tenant's identity (docs/policy.md).
// EC P-256 keys, SHA-256 signatures, our own openssl configuration (nothing
// depends on the system's openssl.cnf), private keys mode 0600.
// Used by `fnjail tls` and by the tests' PKI (test/helpers/tls.ts).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface CertAndKey {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** The CA that signs. */
  ca: CertAndKey;
  cn: string;
  /** What the certificate is for: serverAuth or clientAuth (extended key usage). */
  usage: 'server' | 'client';
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost']. */
  altNames?: string[];
  days: number;
  /** Where the certificate and its key are written. */
  cert: string;
  key: string;
}

export class OpensslFailed extends Error {}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (error) {
    const e = error as { stderr?: Buffer; code?: string; message: string };
    if (e.code === 'ENOENT') throw new OpensslFailed('the openssl command is missing (Debian: apt-get install openssl)');
    throw new OpensslFailed(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** A common name openssl's -subj takes as written: no separators, no control characters. */
export function checkCommonName(cn: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/.test(cn) ? undefined : `'${cn}' is not a usable common name: 1 to 64 letters, digits, space . _ @ -, starting with a letter or digit`;
}

/** "localhost" -> DNS:localhost, "127.0.0.1" -> IP:127.0.0.1, "::1" -> IP:::1; undefined if neither. */
export function altName(host: string): string | undefined {
  if (net.isIP(host)) return `IP:${host}`;
  return /^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host) ? `DNS:${host}` : undefined;
}

/** Runs fn with a private scratch directory next to the files, removed after. */
function withScratch<T>(near: string, fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(path.dirname(near), '.fnjail-tls-'));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writePrivate(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
}

const REQ_CONFIG = ['[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ca', '[dn]', 'CN = unused', '[ca]', 'basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash', ''].join('\n');

/** A private key, mode 0600 from its creation on. */
function newKey(file: string, scratch: string): void {
  const tmp = path.join(scratch, 'key.pem');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmp], scratch);
  writePrivate(file, fs.readFileSync(tmp, 'utf8'));
}

/** A self-signed CA certificate and its key. */
export function makeCa(options: { cn: string; days: number; cert: string; key: string }): CertAndKey {
  return withScratch(options.cert, (scratch) => {
    const config = path.join(scratch, 'req.cnf');
    writePrivate(config, REQ_CONFIG);
    newKey(options.key, scratch);
    openssl(['req', '-config', config, '-x509', '-new', '-key', options.key, '-subj', `/CN=${options.cn}`, '-days', String(options.days), '-sha256', '-out', options.cert], scratch);
    return { cert: options.cert, key: options.key };
  });
}

/** A server or client certificate signed by the CA. */
export function issueCertificate(options: IssueOptions): CertAndKey {
  return withScratch(options.cert, (scratch) => {
    const config = path.join(scratch, 'req.cnf');
    const csr = path.join(scratch, 'leaf.csr');
    const ext = path.join(scratch, 'leaf.ext');
    writePrivate(config, REQ_CONFIG);
    newKey(options.key, scratch);
    openssl(['req', '-config', config, '-new', '-key', options.key, '-subj', `/CN=${options.cn}`, '-out', csr], scratch);
    writePrivate(
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
    openssl(['x509', '-req', '-in', csr, '-CA', options.ca.cert, '-CAkey', options.ca.key, '-set_serial', serial, '-days', String(options.days), '-sha256', '-extfile', ext, '-extensions', 'leaf', '-out', options.cert], scratch);
    return { cert: options.cert, key: options.key };
  });
}
