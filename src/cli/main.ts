#!/usr/bin/env node
// fnjail: the command line. Subcommands live in their own files and are
// imported only when asked for: `fnjail run` loads the client, never the
// server, the policy compiler or the log machinery (bench/startup.ts measures it).
import { FnjailError } from '../errors.js';
import { EXIT_FAILURE, EXIT_USAGE, exitCodeOfError } from './exit-codes.js';

const HELP = `usage: fnjail <command> [options]

Runs functions from untrusted shared libraries, each call in a fresh sandbox.

commands:
  serve     run the server (as root)                       fnjail serve --help
  run       run a function through the server              fnjail run --help
  deploy    deploy a function (a bundle: directory, .tar.gz) fnjail deploy --help
  functions list, show or remove registered functions      fnjail functions --help
  call      call a registered function by name             fnjail call --help
  jobs      submit asynchronous jobs, wait, retrieve        fnjail jobs --help
  policy    check a policy, explain its decisions          fnjail policy --help
  config    check the server's config file and its policy  fnjail config --help
  seccomp   compile or check a seccomp profile             fnjail seccomp --help
  stats     show the server's counters and latency         fnjail stats --help
  top       watch running executions live                  fnjail top --help
  dashboard open the live dashboard in a browser on this host fnjail dashboard --help
  tls       make a CA, server and client certificates      fnjail tls --help
  token     make a bearer token for the HTTP API           fnjail token --help
  install   install the systemd unit and logrotate file    fnjail install --help
  cluster   set up a cluster's NATS system, see its nodes fnjail cluster --help
  help      this text
  version   print the version

Exit status: 0 on success, 2 for a wrong command line, 3 when the server
cannot be reached, 1 for other errors; fnjail run and fnjail call have one
per outcome of the call (fnjail run --help, docs/errors.md).
`;

type Command = (args: string[]) => Promise<number>;

/** Each subcommand's module, loaded on demand. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  run: async () => (await import('./run.js')).run,
  deploy: async () => (await import('./deploy.js')).deployCommand,
  functions: async () => (await import('./functions.js')).functionsCommand,
  call: async () => (await import('./call.js')).callCommand,
  jobs: async () => (await import('./jobs.js')).jobsCommand,
  policy: async () => (await import('./policy.js')).policyCommand,
  config: async () => (await import('./config.js')).configCommand,
  seccomp: async () => (await import('./seccomp.js')).seccompCommand,
  stats: async () => (await import('./stats.js')).statsCommand,
  top: async () => (await import('./top.js')).topCommand,
  dashboard: async () => (await import('./dashboard.js')).dashboardCommand,
  tls: async () => (await import('./tls.js')).tlsCommand,
  token: async () => (await import('./token.js')).tokenCommand,
  install: async () => (await import('./install.js')).installCommand,
  cluster: async () => (await import('./cluster.js')).clusterCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const load = command === undefined ? undefined : COMMANDS[command];
  if (load) return (await load())(args);
  switch (command) {
    case 'version':
    case '--version': {
      const { fnjailVersion } = await import('../paths.js');
      process.stdout.write(`fnjail ${fnjailVersion()}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? EXIT_USAGE : 0;
    default:
      process.stderr.write(`fnjail: unknown command '${command}'\n\n${HELP}`);
      return EXIT_USAGE;
  }
}

/** One line (and a hint) for a person, never a stack trace unless FNJAIL_DEBUG asks for it. */
function report(error: unknown): number {
  if (error instanceof FnjailError) {
    process.stderr.write(`${error.format()}\n`);
    return exitCodeOfError(error.code);
  }
  const debug = process.env.FNJAIL_DEBUG === '1';
  const message = error instanceof Error ? error.message : String(error);
  const internal = new FnjailError('FNJ_INTERNAL', `unexpected error: ${message.split('\n')[0]}`, debug ? undefined : 'FNJAIL_DEBUG=1 shows where it happened; please report it');
  process.stderr.write(`${internal.format()}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return EXIT_FAILURE;
}

// `fnjail seccomp compile default | head` closes the pipe early: not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a server, which keeps running until a signal.
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error);
    // A server that failed while starting may hold listeners and timers: stop now.
    if (process.argv[2] === 'serve') process.exit(process.exitCode);
  },
);
