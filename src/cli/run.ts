// fnjail run: ask the server to run a function; print the output file's path.
import path from 'node:path';
import { DEFAULT_OUTPUT_DIR } from '../config/defaults.js';
import { parse, usageError } from './args.js';
import { readReplyFile } from './reply-file.js';
import { sendCommand } from './client.js';
import { targetFrom, TRANSPORT_HELP, TRANSPORT_OPTIONS } from './transport.js';

export const RUN_HELP = `usage: fnjail run [options] <libname> [<funcname> [<filename>]]

Asks the fnjail server to call <funcname> (default: run) from the shared library
<libname>, with <filename> as its argument if given, in a fresh sandbox. Prints
the path of the output file holding what the function printed (followed by
"Error:" and "Reason:" lines if it could not run to completion).

<libname> is an absolute path, a path relative to this directory, or a bare file
name that the server looks up in the library directories its policy allows.
A relative <filename> is made absolute here.

options:
  --json               send a JSON request and print the server's JSON reply: the
                       output file, the outcome, exit code or signal, reasons and
                       durations (paths may then hold spaces); exit 0 only if the
                       outcome is ok
  --cat                print the output file's content instead of its path (only a
                       file of the output directory owned by you, never a link)
  --output-dir DIR     the server's output directory, for --cat (default:
                       ${DEFAULT_OUTPUT_DIR})
${TRANSPORT_HELP}
  --help               this text
`;

/** Paths relative to the caller's directory mean nothing to the server: resolve them here. */
export function absolutize(word: string, bareAllowed: boolean): string {
  if (path.isAbsolute(word) || (bareAllowed && !word.includes('/'))) return word;
  return path.resolve(word);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse('run', args, {
    ...TRANSPORT_OPTIONS,
    json: { type: 'boolean' },
    cat: { type: 'boolean' },
    'output-dir': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 3) {
    throw usageError('run', 'expected <libname> [<funcname> [<filename>]]');
  }
  if (values.cat && values.json) throw usageError('run', '--cat and --json exclude each other');
  const target = targetFrom('run', values);
  const [library, fn, input] = positionals.map((word, i) => (i === 1 ? word : absolutize(word, i === 0)));
  if (values.json) {
    const reply = await sendCommand(target, JSON.stringify({ library, ...(fn !== undefined ? { function: fn } : {}), ...(input !== undefined ? { input } : {}) }));
    let outcome: unknown;
    try {
      ({ outcome } = JSON.parse(reply) as { outcome?: unknown });
    } catch {
      process.stderr.write(`fnjail: the server did not answer with JSON (is it older than this client?): ${reply}\n`);
      return 1;
    }
    process.stdout.write(`${reply}\n`);
    return outcome === 'ok' ? 0 : 1;
  }
  const words = [library, fn, input].filter((w) => w !== undefined);
  if (words.some((w) => /\s/.test(w))) {
    throw usageError('run', 'a path with blanks cannot be sent in a classic command: use --json');
  }
  const reply = await sendCommand(target, words.join(' '));
  if (reply.startsWith('Error:')) {
    process.stderr.write(`${reply}\n`);
    return 1;
  }
  if (values.cat) process.stdout.write(readReplyFile(reply, values['output-dir'] ?? DEFAULT_OUTPUT_DIR));
  else process.stdout.write(`${reply}\n`);
  return 0;
}
