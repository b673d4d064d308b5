// Writes what each machine of a cluster needs, one directory per node, to be
// copied to its --conf-dir: the CA's certificate, the node's identity
// (node.pem/node.key, CN = its name) and, for a node with a nats-server, that
// server's certificate (for its host, usable on both ends of a route) and its
// config (brokerConfigs). Keys and configs (the route password) are 0600.
// Nothing is overwritten: a directory that exists already is refused.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FnjailError } from '../errors.js';
import { altName, issueCertificate, OpensslFailed, type CertAndKey } from '../tls/certificates.js';
import { BROKER_DEFAULTS, BROKER_FILES, brokerCommonName, brokerConfigs, clientUrls, type BrokerSpec } from './broker-config.js';

export interface BrokerSetupOptions {
  spec: Omit<BrokerSpec, 'routePassword'>;
  /** The cluster's CA: it signs every certificate, and only its certificates get in. */
  ca: CertAndKey;
  /** One directory per node is made below it. */
  out: string;
  /** Validity of the certificates made. */
  days: number;
}

export interface NodeSetup {
  name: string;
  /** Its directory below out. */
  dir: string;
  /** Whether it runs a nats-server. */
  server: boolean;
  /** The options of its fnjail serve, with the files at their installed place. */
  serveOptions: string[];
}

export function writeBrokerSetup(options: BrokerSetupOptions): NodeSetup[] {
  const { spec, ca, out, days } = options;
  const full: BrokerSpec = { ...spec, routePassword: randomBytes(24).toString('base64url') };
  for (const node of spec.nodes) {
    if (node.host !== undefined && altName(node.host) === undefined) {
      throw new FnjailError('FNJ_USAGE', `node ${node.name}: '${node.host}' is neither a DNS name nor an IP address`);
    }
  }
  const configs = brokerConfigs(full);
  const urls = clientUrls(full);
  if (!urls.length) throw new FnjailError('FNJ_USAGE', 'no node runs a nats-server: give at least one as NAME=HOST');
  for (const node of spec.nodes) {
    const dir = path.join(out, node.name);
    if (fs.existsSync(dir)) throw new FnjailError('FNJ_CLUSTER_FILES_EXIST', `${dir} exists already`, 'nothing is overwritten: remove it first, or choose another --out');
  }
  const caPem = fs.readFileSync(ca.cert, 'utf8');
  fs.mkdirSync(out, { recursive: true, mode: 0o700 });
  const made: NodeSetup[] = [];
  for (const node of spec.nodes) {
    const dir = path.join(out, node.name);
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = (name: string) => path.join(dir, name);
    fs.writeFileSync(file(BROKER_FILES.ca), caPem, { mode: 0o644 });
    certificate(() => issueCertificate({ ca, cn: node.name, usage: 'client', days, cert: file(BROKER_FILES.nodeCert), key: file(BROKER_FILES.nodeKey) }));
    const config = configs.get(node.name);
    if (config) {
      certificate(() =>
        issueCertificate({ ca, cn: brokerCommonName(node.name), usage: 'server-and-client', altNames: [altName(node.host!)!], days, cert: file(BROKER_FILES.brokerCert), key: file(BROKER_FILES.brokerKey) }),
      );
      fs.writeFileSync(file(BROKER_FILES.config), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    }
    const installed = (spec.confDir ?? BROKER_DEFAULTS.confDir).replaceAll('{node}', node.name);
    made.push({
      name: node.name,
      dir,
      server: config !== undefined,
      serveOptions: [
        `--node-name ${node.name}`,
        `--nats ${urls.join(',')}`,
        `--nats-tls-cert ${installed}/${BROKER_FILES.nodeCert}`,
        `--nats-tls-key ${installed}/${BROKER_FILES.nodeKey}`,
        `--nats-tls-ca ${installed}/${BROKER_FILES.ca}`,
        // Three servers or more: the shared buckets on three, so that one server may be lost.
        ...(urls.length >= 3 ? ['--nats-replicas 3'] : []),
      ],
    });
  }
  return made;
}

function certificate(make: () => unknown): void {
  try {
    make();
  } catch (error) {
    if (error instanceof OpensslFailed) throw new FnjailError('FNJ_TLS_FAILED', error.message);
    throw error;
  }
}
