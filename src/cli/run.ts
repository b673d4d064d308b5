// fnjail run: ask the server to run a function; print the output file's path,
// its content (--cat) or the server's JSON reply (--json). Every mode sends a
// JSON request, so that the exit status follows the call's outcome and
// paths may hold blanks; --cat gets the content in the reply, so it works
// against a server on another host too.
import path from 'node:path';
import { DEFAULT_OUTPUT_DIR } from '../config/defaults.js';
import { FnjailError } from '../errors.js';
import { parse, usageError } from './args.js';
import { readReplyFile } from './reply-file.js';
import { sendCommand } from './client.js';
import { exitCodeOfOutcome, OUTCOME_EXIT_CODES } from './exit-codes.js';
import { clean as printable } from './stats-format.js';
import { targetFrom, TRANSPORT_HELP, TRANSPORT_OPTIONS, type Target } from './transport.js';

const outcomes = Object.entries(OUTCOME_EXIT_CODES).filter(([, code]) => code !== 0);
/** "10 exit, 11 signal, ..." in lines of at most six. */
const outcomeTable = Array.from({ length: Math.ceil(outcomes.length / 6) }, (_, i) =>
  outcomes
    .slice(i * 6, i * 6 + 6)
    .map(([outcome, code]) => `${code} ${outcome}`)
    .join(', '),
).join(',\n  ');

export const RUN_HELP = `usage: fnjail run [options] <libname> [<funcname> [<filename>]]

Asks the fnjail server to call <funcname> (default: run) from the shared library
<libname>, with <filename> as its argument if given, in a fresh sandbox. Prints
the path of the output file holding what the function printed (followed by
"Error:" and "Reason:" lines if it could not run to completion).

<libname> is an absolute path, a path relative to this directory, or a bare file
name that the server looks up in the library directories its policy allows.
A relative <filename> is made absolute here.

options:
  --cat                print the output's content instead of its path (the
                       server sends it, up to 1 MiB, so this works remotely too;
                       the rest of a larger output is read here, from the socket's
                       server only, and only a file of the output directory owned
                       by you, never a link)
  --output-dir DIR     the server's output directory, for --cat of a larger
                       output (default: ${DEFAULT_OUTPUT_DIR})
  --json               print the server's JSON reply: the output file, the
                       outcome, exit code or signal, reasons and durations
${TRANSPORT_HELP}
  --help               this text

exit status, in every mode: 0 if the call was ok; else one per outcome:
  ${outcomeTable};
  2 wrong command line, 3 server unreachable, 1 other errors (docs/errors.md).
A failed call also prints one line on stderr: its outcome and reasons.
`;

/** What this client reads of a JSON reply (docs/protocol.md). */
interface RunReply {
  output?: string | null;
  outcome?: unknown;
  reasons?: unknown;
  content?: string;
  contentBase64?: string;
  contentTruncated?: boolean;
  contentBytes?: number;
  contentError?: string;
}

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
  const request = {
    library,
    ...(fn !== undefined ? { function: fn } : {}),
    ...(input !== undefined ? { input } : {}),
    ...(values.cat ? { return: 'content' } : {}),
  };
  const line = await sendCommand(target, JSON.stringify(request));
  const reply = readReply(line, target);
  const status = exitCodeOfOutcome(reply.outcome);

  if (values.json) process.stdout.write(`${line}\n`);
  else if (values.cat) writeContent(reply, target, values['output-dir'] ?? DEFAULT_OUTPUT_DIR);
  else if (reply.output) process.stdout.write(`${reply.output}\n`);

  if (status !== 0) {
    const reasons = Array.isArray(reply.reasons) ? reply.reasons.map(String) : [];
    const command = [library, fn, input].filter((w) => w !== undefined).join(' ');
    process.stderr.write(`fnjail: ${printable(command)} could not be executed${reasons.length ? `: ${printable(reasons.join('; '))}` : ''} [${printable(String(reply.outcome))}]\n`);
  }
  return status;
}

function readReply(line: string, target: Target): RunReply {
  let reply: unknown;
  try {
    reply = JSON.parse(line);
  } catch {
    reply = undefined;
  }
  if (typeof reply !== 'object' || reply === null || !('outcome' in reply)) {
    throw new FnjailError('FNJ_BAD_REPLY', `the server at ${target.name} did not answer with a JSON reply: ${printable(line.slice(0, 200))}`, 'is it older than this client? compare fnjail version on both sides');
  }
  return reply as RunReply;
}

/**
 * --cat: the content the reply carries; the rest of a large output from the
 * file, when the server is on this host. Whatever listens on the socket names
 * that file, so it is read only under readReplyFile's rules (a file of the
 * output directory, owned by this user, not a link): a fake server cannot make
 * a root CLI print another user's file.
 */
function writeContent(reply: RunReply, target: Target, outputDir: string): void {
  const output = reply.output ?? undefined;
  if (reply.contentError !== undefined || (reply.content === undefined && reply.contentBase64 === undefined)) {
    if (output === undefined) return; // no output file: the stderr line says why
    throw new FnjailError('FNJ_OUTPUT_UNREADABLE', `the server could not send the output ${output}: ${printable(reply.contentError ?? 'the reply carries no content')}`, 'read the file itself, or ask the admin');
  }
  if (!reply.contentTruncated) {
    process.stdout.write(reply.content ?? Buffer.from(reply.contentBase64!, 'base64'));
    return;
  }
  if (target.kind === 'unix' && output !== undefined) {
    process.stdout.write(readReplyFile(output, outputDir));
    return;
  }
  process.stdout.write(reply.content ?? Buffer.from(reply.contentBase64!, 'base64'));
  throw new FnjailError(
    'FNJ_OUTPUT_TRUNCATED',
    `the output is ${reply.contentBytes} bytes, more than a reply carries: the rest is in ${output} on the server's host`,
    'limit what the function prints, or read the file there',
  );
}
