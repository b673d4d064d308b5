// fnjail serve: run the server in the foreground.
import {
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_OUTPUT_DIR,
  DEFAULT_OUTPUT_TEMPLATE,
  DEFAULT_PREPARED,
  DEFAULT_SANDBOX_REUSE,
  DEFAULT_SOCKET,
  DEFAULT_UID_RANGE,
  defaultPolicyPath,
  defaultSocket,
} from '../config/defaults.js';
import { createLogger } from '../log.js';
import { launcherBinary } from '../paths.js';
import { FnjailServer } from '../server/server.js';
import { parse, parseInteger, seccompOption, usageError } from './args.js';

export const SERVE_HELP = `usage: fnjail serve [options]

Runs the fnjail server in the foreground: tenants connect to its UNIX socket and
send "<libname> [<funcname> [<filename>]]"; each call runs in a fresh sandbox and
the reply is the path of a file holding what the function printed.
Must run as root. Logs JSON lines on stdout. Stops on SIGTERM or SIGINT.

options:
  --socket PATH          UNIX socket to listen on (default: $FNJAIL_SOCKET, else
                         ${DEFAULT_SOCKET}); mode 0666: the policy decides
                         what each connecting user may run
  --output-dir DIR       where output files are created (default ${DEFAULT_OUTPUT_DIR});
                         made root-owned 0711: tenants open their own files, list nothing
  --policy PATH          the policy: a file, or a directory of *.json files
                         (docs/policy.md); default: the first that exists of
                         /etc/fnjail/policy.d, /etc/fnjail/policy.json, the shipped
                         policies/default-policy.json. Reloaded when it changes
  --allow-dir DIR        a directory whose libraries and input files every tenant may
                         use, on top of the policy (repeatable)
  --compat classic       byte-exact classic error files: "Error: <command> could not
                         be executed." alone when the function did not run, nothing
                         added when it did
  --uid-range FIRST-LAST uids/gids given to sandboxes (default ${DEFAULT_UID_RANGE.first}-${DEFAULT_UID_RANGE.last})
  --max-concurrent N     calls running at once; more wait in line (default ${DEFAULT_MAX_CONCURRENT})
  --prepared N           sandboxes kept prepared while idle (default ${DEFAULT_PREPARED})
  --seccomp PROFILE      the seccomp profile of every call, replacing the policy's:
                         default, minimal, learn (allows all, logs what a profile
                         would need), a profile file, or none (no filter)
  --netns MODE           auto (default): one empty network namespace shared by all
                         sandboxes when the seccomp profile refuses socket(), else
                         one per call; fresh: one per call always; shared: never
  --sandbox-reuse N      calls a sandbox serves one after the other, everything reset
                         in between (SECURITY.md), before it is replaced (default
                         ${DEFAULT_SANDBOX_REUSE}; 1: new namespaces for every call, slower)
  --help                 this text
`;

export async function serve(args: string[]): Promise<void> {
  const { values, positionals } = parse('serve', args, {
    socket: { type: 'string' },
    'output-dir': { type: 'string' },
    policy: { type: 'string' },
    'allow-dir': { type: 'string', multiple: true },
    compat: { type: 'string' },
    'uid-range': { type: 'string' },
    'max-concurrent': { type: 'string' },
    prepared: { type: 'string' },
    netns: { type: 'string' },
    seccomp: { type: 'string' },
    'sandbox-reuse': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (positionals.length) throw usageError('serve', `unexpected argument '${positionals[0]}'`);
  if (values.compat !== undefined && values.compat !== 'classic') {
    throw usageError('serve', `--compat accepts only 'classic', not '${values.compat}'`);
  }
  if (values.netns !== undefined && !['auto', 'fresh', 'shared'].includes(values.netns)) {
    throw usageError('serve', `--netns accepts auto, fresh or shared, not '${values.netns}'`);
  }
  let uidRange = DEFAULT_UID_RANGE;
  if (values['uid-range'] !== undefined) {
    const match = /^(\d+)-(\d+)$/.exec(values['uid-range']);
    const first = Number(match?.[1]);
    const last = Number(match?.[2]);
    if (!match || first < 1 || last < first || last >= 0xffffffff) {
      throw usageError('serve', `--uid-range must be FIRST-LAST with 0 < FIRST <= LAST, not '${values['uid-range']}'`);
    }
    uidRange = { first, last };
  }
  const policyFile = values.policy ?? defaultPolicyPath();
  const logger = createLogger();
  const server = new FnjailServer({
    socket: values.socket ?? defaultSocket(),
    socketMode: 0o666,
    outputDir: values['output-dir'] ?? DEFAULT_OUTPUT_DIR,
    outputTemplate: DEFAULT_OUTPUT_TEMPLATE,
    policyFile,
    allowDirs: values['allow-dir'] ?? [],
    compat: values.compat as 'classic' | undefined,
    uidRange,
    maxConcurrent: values['max-concurrent'] ? parseInteger('serve', 'max-concurrent', values['max-concurrent'], 1, 4096) : DEFAULT_MAX_CONCURRENT,
    prepared: values.prepared ? parseInteger('serve', 'prepared', values.prepared, 0, 64) : DEFAULT_PREPARED,
    netns: (values.netns as 'auto' | 'fresh' | 'shared' | undefined) ?? 'auto',
    seccomp: seccompOption('serve', values.seccomp),
    sandboxReuse: values['sandbox-reuse'] ? parseInteger('serve', 'sandbox-reuse', values['sandbox-reuse'], 1, 100000) : DEFAULT_SANDBOX_REUSE,
    launcherBinary,
    logger,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing running calls');
    server.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await server.start();
  const socket = values.socket ?? defaultSocket();
  logger.info(
    { socket, policy: policyFile, outputDir: values['output-dir'] ?? DEFAULT_OUTPUT_DIR, compat: values.compat ?? 'none' },
    `fnjail listening on ${socket}; try: npx fnjail run --cat /opt/fnlib/libbasic.so`,
  );
}
