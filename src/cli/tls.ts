// fnjail tls: the certificates fnjail serve --listen needs (mutual TLS), in
// three steps: a CA, the server's certificate, a certificate per client (its
// common name names the tenant in the policy). Files are never overwritten.
import fs from 'node:fs';
import path from 'node:path';
import { FnjailError } from '../errors.js';
import { altName, checkCommonName, issueCertificate, makeCa, OpensslFailed } from '../tls/certificates.js';
import { parse, parseInteger, usageError } from './args.js';

export const DEFAULT_TLS_DIR = '/etc/fnjail/tls';

export const TLS_HELP = `usage: fnjail tls ca [--cn NAME] [--dir DIR] [--days N]
       fnjail tls server --host NAME|IP [--host ...] [--dir DIR] [--days N]
       fnjail tls client --name NAME [--dir DIR] [--days N]

Makes the certificates of fnjail serve --listen (TCP with mutual TLS), with the
openssl command: EC P-256 keys (mode 0600), SHA-256. One CA signs both the
server's certificate and the clients'.

commands:
  ca       DIR/ca.pem and DIR/ca.key: the CA (keep ca.key private)
  server   DIR/server.pem and DIR/server.key, signed by DIR/ca.*, for each
           --host (a DNS name or an IP address clients connect to)
  client   DIR/clients/NAME.pem and NAME.key, signed by DIR/ca.*; NAME is the
           client's identity: list it in a tenant's match.tlsClients

options:
  --dir DIR     where the files are (default: ${DEFAULT_TLS_DIR})
  --days N      validity (default: 3650 for the CA, 825 for the others)
  --cn NAME     the CA's common name (default: fnjail CA)
  --help        this text

Then:
  fnjail serve --listen 0.0.0.0:7443 --tls-cert DIR/server.pem --tls-key DIR/server.key --tls-ca DIR/ca.pem
  fnjail run --connect HOST:7443 --tls-cert DIR/clients/NAME.pem --tls-key DIR/clients/NAME.key --tls-ca DIR/ca.pem libbasic.so
`;

export async function tlsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('tls', args, {
    dir: { type: 'string' },
    days: { type: 'string' },
    cn: { type: 'string' },
    host: { type: 'string', multiple: true },
    name: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(TLS_HELP);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (rest.length) throw usageError('tls', `unexpected argument '${rest[0]}'`);
  const dir = path.resolve(values.dir ?? DEFAULT_TLS_DIR);
  const days = (fallback: number) => (values.days === undefined ? fallback : parseInteger('tls', 'days', values.days, 1, 36500));
  const only = (allowed: string[]) => {
    const extra = (['cn', 'host', 'name'] as const).find((o) => values[o] !== undefined && !allowed.includes(o));
    if (extra) throw usageError('tls', `--${extra} is not an option of tls ${command}`);
  };
  const ca = { cert: path.join(dir, 'ca.pem'), key: path.join(dir, 'ca.key') };
  switch (command) {
    case 'ca': {
      only(['cn']);
      const cn = values.cn ?? 'fnjail CA';
      refuseBadName(checkCommonName(cn), '--cn');
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      refuseExisting([ca.cert, ca.key]);
      make(() => makeCa({ cn, days: days(3650), ...ca }));
      done([`CA: ${ca.cert} (give it to servers as --tls-ca, to clients as --tls-ca)`, `its key: ${ca.key} (keep it private: it makes certificates)`]);
      return 0;
    }
    case 'server': {
      only(['host']);
      const hosts = values.host ?? [];
      if (!hosts.length) throw usageError('tls', 'tls server needs --host NAME|IP (the names or addresses clients connect to), e.g. --host fnjail.example.org --host 192.0.2.10');
      const altNames: string[] = [];
      for (const host of hosts) {
        const name = altName(host);
        if (name === undefined) throw usageError('tls', `--host: '${host}' is neither a DNS name nor an IP address`);
        altNames.push(name);
      }
      requireCa(ca);
      const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
      refuseExisting([files.cert, files.key]);
      make(() => issueCertificate({ ca, cn: hosts[0]!, usage: 'server', altNames, days: days(825), ...files }));
      done([`server certificate: ${files.cert} for ${hosts.join(', ')}`, `its key: ${files.key}`, `fnjail serve --listen 0.0.0.0:7443 --tls-cert ${files.cert} --tls-key ${files.key} --tls-ca ${ca.cert}`]);
      return 0;
    }
    case 'client': {
      only(['name']);
      const name = values.name;
      if (name === undefined) throw usageError('tls', "tls client needs --name NAME: the client's identity, as the policy's match.tlsClients names it");
      refuseBadName(checkCommonName(name), '--name');
      requireCa(ca);
      const clients = path.join(dir, 'clients');
      fs.mkdirSync(clients, { recursive: true, mode: 0o755 });
      const files = { cert: path.join(clients, `${name}.pem`), key: path.join(clients, `${name}.key`) };
      refuseExisting([files.cert, files.key]);
      make(() => issueCertificate({ ca, cn: name, usage: 'client', days: days(825), ...files }));
      done([
        `client certificate: ${files.cert} (common name ${name}: list it in a tenant's match.tlsClients)`,
        `its key: ${files.key} (give both, and ${ca.cert}, to that client only)`,
        `fnjail run --connect HOST:7443 --tls-cert ${files.cert} --tls-key ${files.key} --tls-ca ${ca.cert} libbasic.so`,
      ]);
      return 0;
    }
    default:
      throw usageError('tls', command === undefined ? 'expected ca, server or client' : `unknown tls command '${command}'`);
  }
}

function refuseBadName(problem: string | undefined, option: string): void {
  if (problem !== undefined) throw usageError('tls', `${option}: ${problem}`);
}

function refuseExisting(files: string[]): void {
  const existing = files.find((f) => fs.existsSync(f));
  if (existing) throw new FnjailError('FNJ_TLS_EXISTS', `${existing} exists already`, 'certificates are never overwritten: remove it first, or choose another --dir');
}

function requireCa(ca: { cert: string; key: string }): void {
  for (const file of [ca.cert, ca.key]) {
    if (!fs.existsSync(file)) throw new FnjailError('FNJ_TLS_FAILED', `${file} is missing`, `make the CA first: fnjail tls ca --dir ${path.dirname(file)}`);
  }
}

function make(step: () => unknown): void {
  try {
    step();
  } catch (error) {
    if (error instanceof OpensslFailed) throw new FnjailError('FNJ_TLS_FAILED', error.message);
    throw error;
  }
}

function done(lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}
