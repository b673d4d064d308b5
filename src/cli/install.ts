// fnjail install: the fnjail command on the PATH (a link in /usr/local/bin,
// also made by npm install), a systemd unit that runs the server, and a
// logrotate file for its log files; or, with --print, what it would write.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FnjailError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { parse, usageError } from './args.js';

export const INSTALL_HELP = `usage: fnjail install [--print] [--command-only] [--root DIR]

Installs, as root:
  /usr/local/bin/fnjail               a link to this fnjail (npm install makes it too)
  /etc/systemd/system/fnjail.service  the server as a service: Type=notify (ready
                                      once it serves), KillMode=mixed (SIGTERM to
                                      the server, which lets running calls finish
                                      within --shutdown-grace), restarted on failure,
                                      hardened; settings in /etc/fnjail/config.json
  /etc/logrotate.d/fnjail             rotates /var/log/fnjail/*.log (for auditLog and
                                      logFile there), then SIGHUP reopens them
then reloads systemd. Start it with: systemctl enable --now fnjail

options:
  --print          print the unit and the logrotate file; change nothing
  --command-only   only the link in /usr/local/bin
  --root DIR       install below DIR instead of / (packaging); no reload
  --help           this text
`;

const mainScript = () => path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** The systemd unit, for this fnjail and this node. */
export function systemdUnit(node = process.execPath, main = mainScript()): string {
  return `# fnjail: written by fnjail install; settings belong in /etc/fnjail/config.json
[Unit]
Description=fnjail: functions from untrusted shared libraries, each call in a sandbox
Documentation=file://${packageRoot}/README.md
After=local-fs.target network.target
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
# READY=1 once the socket, the policy and the sandbox launcher serve calls.
Type=notify
NotifyAccess=main
ExecStart=${node} ${main} serve
# SIGHUP reopens the log files and reloads the policy.
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM to the server only: it stops accepting, lets running calls finish
# within --shutdown-grace (5s) and answers them; its launcher and sandboxes
# are killed only after that (final SIGKILL to the rest of the cgroup).
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
# /run/fnjail (the socket; clients must reach it), /var/lib/fnjail (outputs),
# /var/log/fnjail (for auditLog and logFile).
RuntimeDirectory=fnjail
RuntimeDirectoryMode=0755
StateDirectory=fnjail
StateDirectoryMode=0755
LogsDirectory=fnjail
LogsDirectoryMode=0700
LimitNOFILE=65536
# The launcher makes cgroups for its sandboxes below its own.
Delegate=yes
# Hardening that leaves what the sandbox needs (root, namespaces, mounts,
# uid switching, cgroups, reading tenants' input files).
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=read-only
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0022

[Install]
WantedBy=multi-user.target
`;
}

export const LOGROTATE = `# fnjail: written by fnjail install. The server reopens its log files on SIGHUP.
/var/log/fnjail/*.log {
    daily
    rotate 14
    maxsize 100M
    missingok
    notifempty
    compress
    delaycompress
    create 0600 root root
    sharedscripts
    postrotate
        systemctl kill --kill-whom=main --signal=HUP fnjail.service >/dev/null 2>&1 || true
    endscript
}
`;

export async function installCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('install', args, {
    print: { type: 'boolean' },
    'command-only': { type: 'boolean' },
    root: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(INSTALL_HELP);
    return 0;
  }
  if (positionals.length) throw usageError('install', `unexpected argument '${positionals[0]}'`);
  if (values.print) {
    if (values['command-only'] || values.root !== undefined) throw usageError('install', '--print changes nothing: it takes no other option');
    process.stdout.write(`# /etc/systemd/system/fnjail.service\n${systemdUnit()}\n# /etc/logrotate.d/fnjail\n${LOGROTATE}`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    throw new FnjailError('FNJ_NOT_ROOT', 'fnjail install writes to /usr/local/bin and /etc: it needs root', 'run it as root, or see what it writes with: fnjail install --print');
  }
  const root = path.resolve(values.root ?? '/');
  const at = (file: string) => path.join(root, file);
  const done: string[] = [linkCommand(at('/usr/local/bin/fnjail'))];
  if (!values['command-only']) {
    done.push(writeFile(at('/etc/systemd/system/fnjail.service'), systemdUnit()));
    done.push(writeFile(at('/etc/logrotate.d/fnjail'), LOGROTATE));
    if (values.root === undefined) done.push(reloadSystemd());
  }
  const warning = unreachableBy(mainScript());
  process.stdout.write(`${done.join('\n')}\n${warning ? `warning: ${warning}\n` : ''}`);
  if (!values['command-only'] && values.root === undefined) process.stdout.write('start it with: systemctl enable --now fnjail\n');
  return 0;
}

/** The link on the PATH; an existing file that is not a link is someone else's: left alone. */
function linkCommand(link: string): string {
  const target = mainScript();
  fs.mkdirSync(path.dirname(link), { recursive: true, mode: 0o755 });
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(link);
  } catch {
    // none yet
  }
  if (existing && !existing.isSymbolicLink()) {
    throw new FnjailError('FNJ_INSTALL_FAILED', `${link} exists and is not a link`, 'it is not fnjail\'s: remove it, or run fnjail from where it is');
  }
  fs.chmodSync(target, 0o755);
  const tmp = `${link}.fnjail-${process.pid}`;
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
  return `${link} -> ${target}`;
}

function writeFile(file: string, content: string): string {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const tmp = `${file}.fnjail-${process.pid}`;
    fs.writeFileSync(tmp, content, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (error) {
    throw new FnjailError('FNJ_INSTALL_FAILED', `cannot write ${file}: ${(error as Error).message}`);
  }
  return `wrote ${file}`;
}

/** systemctl daemon-reload, when systemd runs this machine. */
function reloadSystemd(): string {
  if (!fs.existsSync('/run/systemd/system')) return 'systemd is not running here: nothing reloaded';
  const result = spawnSync('systemctl', ['daemon-reload'], { encoding: 'utf8' });
  if (result.status !== 0) throw new FnjailError('FNJ_INSTALL_FAILED', `systemctl daemon-reload failed: ${(result.stderr || result.error?.message || '').trim()}`);
  return 'systemd reloaded';
}

/** Whether every user can reach the file (fnjail run is for every user): says which directory stops them. */
export function unreachableBy(file: string): string | undefined {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) return `${dir} (mode 0${(mode & 0o777).toString(8)}) keeps users other than its owner from running ${file}: install fnjail where everyone can read it (e.g. /opt/fnjail)`;
    if (dir === path.dirname(dir)) return undefined;
  }
}
