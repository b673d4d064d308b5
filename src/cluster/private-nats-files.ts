// What the private nats-server runs from, in its state directory:
//   nats.conf       its config (0600): loopback only, JetStream, TLS, and the
//                   one user allowed in, by public nkey — no secret in it
//   client.nk       that user's nkey seed (0600): fnjail's credential
//   tls/cert.pem    a self-signed certificate for 127.0.0.1 and localhost,
//   tls/key.pem     and its key (0600): fnjail pins this certificate, so a
//                   local process that grabs the port while the server is
//                   restarting cannot pose as it (it would get our data, and
//                   could feed us a registry of its own)
//   jetstream/      the data, kept across restarts
//   run/            where it writes its ports file
// Credentials and certificate are new at each start of fnjail; nothing of
// them is ever on a command line (ps shows those).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createUser } from '@nats-io/nkeys';
import { FnjailError } from '../errors.js';

const run = promisify(execFile);

export interface PrivateNatsCredentials {
  /** The user's nkey seed ("SU..."): connect with nkeyAuthenticator. */
  nkeySeed: string;
  /** PEM of the server's certificate, the only one trusted for it. */
  caCert: string;
  /** The same, as files (0600 / 0644), for another local root process. */
  seedFile: string;
  caFile: string;
}

export interface PrivateNatsLayout {
  stateDir: string;
  configFile: string;
  jetstreamDir: string;
  portsDir: string;
  tlsDir: string;
  seedFile: string;
  certFile: string;
  keyFile: string;
}

export function privateNatsLayout(stateDir: string): PrivateNatsLayout {
  const tlsDir = path.join(stateDir, 'tls');
  return {
    stateDir,
    configFile: path.join(stateDir, 'nats.conf'),
    jetstreamDir: path.join(stateDir, 'jetstream'),
    portsDir: path.join(stateDir, 'run'),
    tlsDir,
    seedFile: path.join(stateDir, 'client.nk'),
    certFile: path.join(tlsDir, 'cert.pem'),
    keyFile: path.join(tlsDir, 'key.pem'),
  };
}

/** Writes a file that only its owner may read, replacing any, never through a link. */
function writePrivate(file: string, content: string, mode = 0o600): void {
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** A fresh self-signed certificate (EC P-256) for the loopback names, made with the openssl CLI. */
async function newCertificate(layout: PrivateNatsLayout): Promise<void> {
  fs.mkdirSync(layout.tlsDir, { recursive: true, mode: 0o700 });
  fs.rmSync(layout.keyFile, { force: true });
  try {
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', layout.keyFile, '-out', layout.certFile,
        '-subj', '/CN=fnjail private nats-server', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '3650'],
      // The key lands in tls/, 0700: nobody else can read it even before the chmod below.
      { timeout: 60_000 },
    );
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new FnjailError('FNJ_NATS_FAILED', `cannot make the private nats-server's TLS certificate with openssl: ${e.stderr?.trim() || e.message}`, 'is Debian\'s openssl installed (npm install does it)?');
  }
  fs.chmodSync(layout.keyFile, 0o600);
  fs.chmodSync(layout.certFile, 0o644);
}

/** New credentials and certificate: files written, values returned. */
export async function newCredentials(layout: PrivateNatsLayout): Promise<{ credentials: PrivateNatsCredentials; publicKey: string }> {
  await newCertificate(layout);
  const user = createUser();
  const nkeySeed = new TextDecoder().decode(user.getSeed());
  writePrivate(layout.seedFile, `${nkeySeed}\n`);
  return {
    credentials: { nkeySeed, caCert: fs.readFileSync(layout.certFile, 'utf8'), seedFile: layout.seedFile, caFile: layout.certFile },
    publicKey: user.getPublicKey(),
  };
}

export interface JetStreamLimits {
  /** Disk the JetStream file store may use. */
  maxFileBytes: number;
  /** Memory for memory-backed streams. */
  maxMemoryBytes: number;
}

export const DEFAULT_JETSTREAM_LIMITS: JetStreamLimits = { maxFileBytes: 8 * 1024 ** 3, maxMemoryBytes: 256 * 1024 ** 2 };

/** The config, as JSON (which nats-server reads): port 0 lets it pick a free one. */
export function writeConfig(layout: PrivateNatsLayout, publicKey: string, port: number, limits: JetStreamLimits): void {
  const config = {
    listen: `127.0.0.1:${port === 0 ? -1 : port}`,
    server_name: 'fnjail-private',
    ports_file_dir: layout.portsDir,
    // No monitoring port, no cluster, no leaf nodes: one loopback client port only.
    jetstream: { store_dir: layout.jetstreamDir, max_file_store: limits.maxFileBytes, max_memory_store: limits.maxMemoryBytes },
    tls: { cert_file: layout.certFile, key_file: layout.keyFile },
    authorization: { users: [{ nkey: publicKey }] },
  };
  writePrivate(layout.configFile, JSON.stringify(config, null, 2) + '\n');
}
