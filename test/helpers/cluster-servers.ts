// Real `fnjail serve` nodes in the hosts of a cluster lab (cluster-lab.ts):
// each in its network namespace, beside its nats-server, joined with the
// files `fnjail cluster config` wrote for it (its certificate, the CA), the
// three servers' URLs (its own first), three replicas; and the program
// bundles the cluster tests deploy.
import fs from 'node:fs';
import path from 'node:path';
import { BROKER_FILES } from '../../src/cluster/broker-config.js';
import type { ClusterLab } from './cluster-lab.js';
import type { TestArea } from './environment.js';
import { startServer, type StartOptions, type TestServer } from './server.js';

/** Starts node `name` of the lab; `args` are added to the cluster's own. */
export function startClusterNode(lab: ClusterLab, name: string, policy: StartOptions['policy'], args: string[]): Promise<TestServer> {
  const files = path.join(lab.configDir, name);
  const own = `tls://${lab.network.host(name).address}:4222`;
  return startServer({
    ...(policy ? { policy } : {}),
    wrapper: lab.network.host(name).command([]),
    args: [
      '--node-name', name,
      '--nats', [own, ...lab.urls.filter((u) => u !== own)].join(','),
      '--nats-tls-cert', path.join(files, BROKER_FILES.nodeCert),
      '--nats-tls-key', path.join(files, BROKER_FILES.nodeKey),
      '--nats-tls-ca', path.join(files, BROKER_FILES.ca),
      '--nats-replicas', '3',
      ...args,
    ],
  });
}

/** A per-request program function running `script` (sh), as a bundle directory to deploy. */
export function programBundle(area: TestArea, name: string, script: string): string {
  const dir = path.join(area.root, 'bundles', name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'fnjail.json'), JSON.stringify({ name, kind: 'program', mode: 'per-request', entry: 'main.sh' }), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'main.sh'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return dir;
}
