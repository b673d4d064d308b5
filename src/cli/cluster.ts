// fnjail cluster: set up the NATS system a cluster of fnjail nodes shares.
// `config` writes, for each node, its certificates and its nats-server's
// config (src/cluster/broker-setup.ts, broker-config.ts).
import fs from 'node:fs';
import path from 'node:path';
import { BROKER_DEFAULTS, BROKER_FILES, type BrokerNode } from '../cluster/broker-config.js';
import { writeBrokerSetup } from '../cluster/broker-setup.js';
import { checkNodeName } from '../cluster/subjects.js';
import { FnjailError } from '../errors.js';
import { parse, parseInteger, usageError } from './args.js';
import { API_HELP, API_OPTIONS, apiClient } from './api-socket.js';
import { formatMemberTable } from './cluster-format.js';

export const CLUSTER_HELP = `usage: fnjail cluster status [--json] [--api-socket PATH]
       fnjail cluster config --nodes NAME=HOST[,NAME=HOST|NAME...] --ca CA.pem --ca-key CA.key --out DIR [options]

status: the member table as the server sees it (GET /cluster on its API
socket): each node's state, the age of its last heartbeat, its CPU (the
machine's, and the node's own in parentheses), memory, running calls, free
slots, queue and version; the coordinator is marked *.
  --json              print the server's JSON
${API_HELP}

config:
Writes what each machine of a cluster needs, in DIR/NAME/, to copy to its
--conf-dir (docs/cluster.md):
  ${BROKER_FILES.ca}                  the CA (only certificates it signed get in)
  ${BROKER_FILES.nodeCert}, ${BROKER_FILES.nodeKey}      the node's identity (common name NAME): fnjail serve
                          --nats-tls-cert/--nats-tls-key
  ${BROKER_FILES.config}                its nats-server's config: client port with mutual TLS,
                          each node's certificate mapped to a user that may
                          publish only under its own name; routes to the other
                          servers over TLS; JetStream on
  ${BROKER_FILES.brokerCert}, ${BROKER_FILES.brokerKey}  that nats-server's certificate, for HOST

NAME=HOST: node NAME runs a nats-server on HOST (an IP address or a DNS name;
servers listen on that address, or on all when it is a name). NAME alone: a
node without a server of its own. Three servers keep JetStream's replicated
buckets working when one is down.

options:
  --nodes LIST        the nodes (names: lowercase letters, digits, dashes)
  --ca FILE           the cluster's CA certificate (e.g. fnjail tls ca)
  --ca-key FILE       its key
  --out DIR           where to write (a node's directory must not exist)
  --conf-dir DIR      where the files will be on each machine ({node} is the
                      node's name; default ${BROKER_DEFAULTS.confDir})
  --store-dir DIR     JetStream's data (default ${BROKER_DEFAULTS.storeDir})
  --run-dir DIR       nats-server's ports file (default ${BROKER_DEFAULTS.runDir})
  --cluster-name NAME (default ${BROKER_DEFAULTS.clusterName})
  --client-port N     (default ${BROKER_DEFAULTS.clientPort})
  --cluster-port N    (default ${BROKER_DEFAULTS.clusterPort})
  --days N            validity of the certificates (default 825)
  --help              this text
`;

export async function clusterCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('cluster', args, {
    nodes: { type: 'string' },
    ca: { type: 'string' },
    'ca-key': { type: 'string' },
    out: { type: 'string' },
    'conf-dir': { type: 'string' },
    'store-dir': { type: 'string' },
    'run-dir': { type: 'string' },
    'cluster-name': { type: 'string' },
    'client-port': { type: 'string' },
    'cluster-port': { type: 'string' },
    days: { type: 'string' },
    json: { type: 'boolean' },
    ...API_OPTIONS,
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command !== 'config' && command !== 'status') throw usageError('cluster', command === undefined ? 'expected status or config' : `unknown cluster command '${command}'`);
  if (rest.length) throw usageError('cluster', `unexpected argument '${rest[0]}'`);
  if (command === 'status') {
    const reply = await apiClient(values).cluster();
    if (values.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
    else if (!reply.joined) process.stdout.write(`${reply.node} is in no cluster (fnjail serve --nats URL joins one: docs/cluster.md)\n`);
    else process.stdout.write(`${[`node ${reply.node}, balance ${reply.balance}`, ...formatMemberTable(reply.members, Date.now(), process.stdout.columns ?? Infinity)].join('\n')}\n`);
    return 0;
  }
  const required = (option: 'nodes' | 'ca' | 'ca-key' | 'out') => {
    const value = values[option];
    if (value === undefined) throw usageError('cluster', `cluster config needs --${option}`);
    return value;
  };
  const nodes = parseNodes(required('nodes'));
  const ca = { cert: path.resolve(required('ca')), key: path.resolve(required('ca-key')) };
  for (const file of [ca.cert, ca.key]) {
    if (!fs.existsSync(file)) throw new FnjailError('FNJ_TLS_FAILED', `${file} is missing`, 'make the CA first (fnjail tls ca, or openssl)');
  }
  const absolute = (option: 'conf-dir' | 'store-dir' | 'run-dir') => {
    const value = values[option];
    if (value !== undefined && !path.isAbsolute(value)) throw usageError('cluster', `--${option} must be an absolute path (it is written into the configs)`);
    return value;
  };
  const port = (option: 'client-port' | 'cluster-port') => (values[option] === undefined ? undefined : parseInteger('cluster', option, values[option]!, 1, 65535));
  const clusterName = values['cluster-name'];
  if (clusterName !== undefined) checkNodeName(clusterName, 'cluster name');
  const made = writeBrokerSetup({
    spec: {
      nodes,
      ...(clusterName !== undefined ? { clusterName } : {}),
      ...(port('client-port') !== undefined ? { clientPort: port('client-port') } : {}),
      ...(port('cluster-port') !== undefined ? { clusterPort: port('cluster-port') } : {}),
      ...(absolute('conf-dir') !== undefined ? { confDir: absolute('conf-dir') } : {}),
      ...(absolute('store-dir') !== undefined ? { storeDir: absolute('store-dir') } : {}),
      ...(absolute('run-dir') !== undefined ? { runDir: absolute('run-dir') } : {}),
    },
    ca,
    out: path.resolve(required('out')),
    days: values.days === undefined ? 825 : parseInteger('cluster', 'days', values.days, 1, 36500),
  });
  const lines: string[] = [];
  for (const node of made) {
    lines.push(`${node.name}: ${node.dir}${node.server ? ` (nats-server -c ${BROKER_FILES.config})` : ' (no nats-server)'}`, `  fnjail serve ${node.serveOptions.join(' ')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** "a=10.0.0.1,b=host.example,c" → nodes; names checked, each once. */
export function parseNodes(text: string): BrokerNode[] {
  const nodes: BrokerNode[] = [];
  for (const item of text.split(',')) {
    const [name, host, extra] = item.trim().split('=');
    if (extra !== undefined || host === '') throw usageError('cluster', `--nodes: '${item}' is not NAME or NAME=HOST`);
    checkNodeName(name!);
    if (nodes.some((n) => n.name === name)) throw usageError('cluster', `--nodes: ${name} is listed twice`);
    nodes.push(host === undefined ? { name: name! } : { name: name!, host });
  }
  return nodes;
}
