// The test hosts (test/helpers/netns-hosts.ts) that the cluster's tests stand
// on: each host has its own address and host name and reaches the others
// over the bridge; its processes are in its own cgroup; destroy() leaves
// nothing behind, and what a dead test run left behind is removed by the next.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { createHosts, type NetnsNetwork } from '../../helpers/netns-hosts.js';

const networks: NetnsNetwork[] = [];
after(() => {
  for (const network of networks) network.destroy();
});

const SERVER = `
const net = require('node:net');
const os = require('node:os');
net.createServer((socket) => socket.end(os.hostname() + ' ' + socket.remoteAddress)).listen(7000, process.argv[1], () => console.log('listening'));
`;
const CLIENT = `
const net = require('node:net');
const socket = net.connect(7000, process.argv[1]);
let text = '';
socket.on('data', (d) => (text += d)).on('end', () => console.log(text));
`;

function netnsList(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

describe('test hosts in network namespaces', () => {
  it('each host has its own address and name, reaches the others, and runs in its own cgroup', async () => {
    const network = createHosts(['alpha', 'beta']);
    networks.push(network);
    const [alpha, beta] = network.hosts as [typeof network.hosts[0], typeof network.hosts[0]];
    assert.match(alpha.address, /^10\.231\.\d+\.1$/);
    assert.equal(beta.address, `${network.subnet}.2`);
    const server = alpha.spawn([process.execPath, '-e', SERVER, alpha.address]);
    await once(server.stdout!, 'data');
    const answer = beta.run([process.execPath, '-e', CLIENT, alpha.address]).trim();
    assert.equal(answer, `alpha ${beta.address}`);
    assert.equal(beta.run(['hostname']).trim(), 'beta');
    // The test process itself reaches the hosts through the bridge's address.
    const fromHere = execFileSync(process.execPath, ['-e', CLIENT, alpha.address], { encoding: 'utf8' }).trim();
    assert.equal(fromHere, `alpha ${network.bridgeAddress}`);
    if (alpha.cgroupDir) {
      assert.ok(fs.readFileSync(`${alpha.cgroupDir}/cgroup.procs`, 'utf8').split('\n').includes(String(server.pid)), 'the server is in alpha\'s cgroup');
    }
    network.destroy();
    await once(server, 'exit');
    assert.doesNotMatch(netnsList(), new RegExp(network.prefix));
    assert.doesNotMatch(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }), new RegExp(`${network.prefix}b`));
    if (alpha.cgroupDir) assert.equal(fs.existsSync(alpha.cgroupDir), false);
  });

  it('removes what a test process that died left behind', async () => {
    // A child test process makes hosts, then is killed before it can clean up.
    const script = `
      import('${new URL('../../helpers/netns-hosts.js', import.meta.url).href}').then(({ createHosts }) => {
        const network = createHosts(['gamma']);
        process.removeAllListeners('exit');
        console.log(network.prefix);
        setInterval(() => {}, 1000);
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const prefix = chunk.toString().trim();
    assert.match(netnsList(), new RegExp(`${prefix}-gamma`));
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.match(netnsList(), new RegExp(`${prefix}-gamma`), 'left behind by the killed run');
    networks.push(createHosts(['delta']));
    assert.doesNotMatch(netnsList(), new RegExp(`${prefix}-gamma`));
  });
});
