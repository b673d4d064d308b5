// fnjail run: ask the server to run a function; print the output file's path.
import fs from 'node:fs';
import path from 'node:path';
import { defaultSocket } from '../config/defaults.js';
import { parse, usageError } from './args.js';
import { sendCommand } from './client.js';

export const RUN_HELP = `usage: fnjail run [--socket PATH] [--cat] <libname> [<funcname> [<filename>]]

Asks the fnjail server to call <funcname> (default: run) from the shared library
<libname>, with <filename> as its argument if given, in a fresh sandbox. Prints
the path of the output file holding what the function printed (followed by
"Error:" and "Reason:" lines if it could not run to completion).

<libname> is an absolute path, a path relative to this directory, or a bare file
name that the server looks up in the library directories its policy allows.
A relative <filename> is made absolute here.

options:
  --socket PATH   the server's socket (default: $FNJAIL_SOCKET, else /run/fnjail/fnjail.sock)
  --cat           print the output file's content instead of its path
  --help          this text
`;

/** Paths relative to the caller's directory mean nothing to the server: resolve them here. */
export function absolutize(word: string, bareAllowed: boolean): string {
  if (path.isAbsolute(word) || (bareAllowed && !word.includes('/'))) return word;
  return path.resolve(word);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse('run', args, {
    socket: { type: 'string' },
    cat: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 3) {
    throw usageError('run', 'expected <libname> [<funcname> [<filename>]]');
  }
  const words = positionals.map((word, i) => (i === 1 ? word : absolutize(word, i === 0)));
  if (words.some((w) => /\s/.test(w))) {
    throw usageError('run', 'a path with blanks cannot be sent in a classic command');
  }
  const reply = await sendCommand(values.socket ?? defaultSocket(), words.join(' '));
  if (reply.startsWith('Error:')) {
    process.stderr.write(`${reply}\n`);
    return 1;
  }
  if (values.cat) process.stdout.write(fs.readFileSync(reply));
  else process.stdout.write(`${reply}\n`);
  return 0;
}
