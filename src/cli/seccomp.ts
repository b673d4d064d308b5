// fnjail seccomp: compile a seccomp profile and show the program, or check one.
import { formatProblem, InvalidJsonFile } from '../config/json-file.js';
import { compileProfile, ProgramTooLarge, type Compiled } from '../seccomp/compile.js';
import { disassemble } from '../seccomp/disassemble.js';
import { withBaseline } from '../seccomp/baseline.js';
import { loadProfile, profilePath, shippedProfiles, type Profile } from '../seccomp/profile.js';
import { parse, usageError } from './args.js';

/** The shipped profiles are listed as the directory holds them: the help never misses one. */
export const seccompHelp = () => `usage: fnjail seccomp compile [--supervised] <profile>
       fnjail seccomp check <profile>

Seccomp profiles say which system calls a sandboxed function (or a program,
a build) may make. <profile> is a JSON file (policies/seccomp-profile.schema.json)
or the name of a shipped profile: ${shippedProfiles().join(', ')}
(policies/seccomp/<name>.json; program: for program functions and builds,
docs/programs.md).

commands:
  compile   print the BPF program the profile compiles to, and its size
  check     validate the profile (exit 0 if valid, 1 if not)

options:
  --supervised   compile as the launcher installs it: with the baseline rules
                 every sandbox gets (no disk reserved past a file's end, no
                 file locks), and refused calls (or, in a profile that logs,
                 logged calls) notify the supervisor
  --help         this text
`;

export async function seccompCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('seccomp', args, {
    supervised: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(seccompHelp());
    return 0;
  }
  const [command, profileArg, ...rest] = positionals;
  if (command !== 'compile' && command !== 'check') {
    throw usageError('seccomp', command === undefined ? 'expected compile or check' : `unknown seccomp command '${command}'`);
  }
  if (profileArg === undefined || rest.length) throw usageError('seccomp', `expected one profile: fnjail seccomp ${command} <profile>`);
  if (command === 'check' && values.supervised) throw usageError('seccomp', '--supervised is an option of compile');

  const loaded = load(profileArg, values.supervised ?? false);
  if (!loaded) return 1;
  const { profile, compiled } = loaded;
  if (command === 'compile') {
    process.stdout.write(disassemble(compiled.program, profile.arch));
    process.stdout.write(`profile '${profile.name}' (${profile.file}): notify ${compiled.notify}\n`);
  } else {
    process.stdout.write(
      `${profile.file}: valid: ${profile.rules.length} rule${profile.rules.length === 1 ? '' : 's'}, ${compiled.instructions} instructions (${compiled.program.length} bytes)\n`,
    );
  }
  return 0;
}

/** Reads, validates and compiles; prints what is wrong and returns undefined if anything is. */
function load(nameOrPath: string, supervised: boolean): { profile: Profile; compiled: Compiled } | undefined {
  try {
    const profile = loadProfile(nameOrPath);
    return { profile, compiled: compileProfile(supervised ? withBaseline(profile) : profile, { supervised }) };
  } catch (error) {
    if (error instanceof InvalidJsonFile) {
      for (const problem of error.problems) process.stderr.write(`${formatProblem(problem)}\n`);
    } else if (error instanceof ProgramTooLarge) {
      process.stderr.write(`fnjail: ${profilePath(nameOrPath)}: ${error.message}\n`);
    } else if ((error as NodeJS.ErrnoException).code !== undefined) {
      process.stderr.write(`fnjail: cannot read seccomp profile ${profilePath(nameOrPath)}: ${(error as Error).message}\n`);
    } else {
      throw error;
    }
    return undefined;
  }
}
