#!/usr/bin/env node
// fnjail: the command line. Subcommands live in their own files.
import { FnjailError } from '../errors.js';
import { clusterCommand } from './cluster.js';
import { fnjailVersion } from '../paths.js';
import { policyCommand } from './policy.js';
import { run } from './run.js';
import { seccompCommand } from './seccomp.js';
import { serve } from './serve.js';
import { statsCommand } from './stats.js';
import { topCommand } from './top.js';

const HELP = `usage: fnjail <command> [options]

Runs functions from untrusted shared libraries, each call in a fresh sandbox.

commands:
  serve     run the server (as root)                 fnjail serve --help
  run       run a function through the server        fnjail run --help
  policy    check a policy, explain its decisions    fnjail policy --help
  seccomp   compile or check a seccomp profile       fnjail seccomp --help
  stats     show the server's counters and latency   fnjail stats --help
  top       watch running executions live            fnjail top --help
  cluster   set up a cluster's NATS system           fnjail cluster --help
  help      this text
  version   print the version
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve':
      await serve(args);
      return -1; // keeps running until a signal
    case 'run':
      return run(args);
    case 'policy':
      return policyCommand(args);
    case 'seccomp':
      return seccompCommand(args);
    case 'stats':
      return statsCommand(args);
    case 'top':
      return topCommand(args);
    case 'cluster':
      return clusterCommand(args);
    case 'version':
    case '--version': {
      process.stdout.write(`fnjail ${fnjailVersion()}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`fnjail: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

// `fnjail seccomp compile default | head` closes the pipe early: not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof FnjailError) process.stderr.write(`${error.format()}\n`);
    else process.stderr.write(`fnjail: ${(error as Error).stack ?? String(error)}\n`);
    // 2 for a wrong command line, as for an unknown command; 1 for everything else.
    process.exitCode = error instanceof FnjailError && error.code === 'FNJ_USAGE' ? 2 : 1;
    if (process.argv[2] === 'serve') process.exit(process.exitCode);
  },
);
