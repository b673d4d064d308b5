// fnjail call NAME [--function F] [--input FILE|-]: calls a registered
// function through the server's API and prints its output. The exit status
// follows the call's outcome, as for fnjail run (exit-codes.ts); a failed call
// prints what the function printed before it failed, and its Reason lines on
// stderr.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { API_HELP, API_OPTIONS, apiClient } from './api-socket.js';
import { parse, usageError } from './args.js';
import { exitCodeOfOutcome } from './exit-codes.js';
import { clean } from './stats-format.js';

export const CALL_HELP = `usage: fnjail call [options] NAME

Calls the registered function NAME (fnjail functions lists them) in a fresh
sandbox and prints its output. Its input is the file given with --input (a
library function gets it as its input file; - reads standard input); without
--input it is called without one.

options:
  --function F         for a library: the function to call, one its manifest lists
                       (default: run)
  --input FILE|-       the input: a file of yours, sent to the server, or -
                       for standard input
  --json               print the outcome as JSON (request, outcome, reasons,
                       duration) after the output, instead of the stderr line
${API_HELP}
  --help               this text

exit status: 0 if the call was ok; else one per outcome, as for fnjail run
(fnjail run --help, docs/errors.md). A failed call prints what the function
printed before it failed, then one line on stderr: its outcome and reasons.
`;

export async function callCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('call', args, { ...API_OPTIONS, function: { type: 'string' }, input: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(CALL_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw usageError('call', 'expected one function NAME');
  const name = positionals[0]!;
  // The file is read here, with this user's rights, and sent: the server never opens it.
  const input: Readable | undefined = values.input === undefined ? undefined : values.input === '-' ? process.stdin : fs.createReadStream(values.input);
  const result = await apiClient(values).run(name, { ...(values.function !== undefined ? { function: values.function } : {}), ...(input ? { input } : {}) });
  if (result.ok) {
    await pipeline(result.output, process.stdout, { end: false });
  } else {
    const { problem } = result;
    if (problem.output !== undefined) process.stdout.write(problem.output);
    else if (problem.outputBase64 !== undefined) process.stdout.write(Buffer.from(problem.outputBase64, 'base64'));
  }
  const reasons = result.ok ? [] : result.problem.reasons;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ request: result.request, outcome: result.outcome, reasons, durationMs: result.durationMs })}\n`);
  } else if (!result.ok) {
    const command = ['@' + name, values.function].filter((w) => w !== undefined).join(' ');
    process.stderr.write(`fnjail: ${clean(command)} could not be executed${reasons.length ? `: ${clean(reasons.join('; '))}` : ''} [${clean(result.outcome)}]\n`);
  }
  return exitCodeOfOutcome(result.outcome);
}
