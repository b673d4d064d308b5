// fnjail jobs submit|status|wait|output|retrieve|list|cancel|close: jobs
// through the server's API (docs/jobs.md). submit prints the ticket at once;
// wait returns once the job has ended (exit 0 COMPLETED, 1 INVALID);
// retrieve writes each replica's output to a file, prints the Reason lines
// of those that failed, and closes the ticket.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Client } from '../client/client.js';
import { parseDuration } from '../config/duration.js';
import { FnjailError } from '../errors.js';
import { readBundleDirectory } from '../functions/bundle-directory.js';
import { compressBundle } from '../functions/bundle.js';
import type { JobView } from '../jobs/job-view.js';
import { API_HELP, API_OPTIONS, apiClient } from './api-socket.js';
import { parse, parseInteger, usageError } from './args.js';
import { EXIT_FAILURE } from './exit-codes.js';
import { clean } from './stats-format.js';

export const JOBS_HELP = `usage: fnjail jobs submit NAME [--function F] [--input FILE|-] [--replicas N] [--timeout DURATION]
       fnjail jobs submit --bundle PATH [--replicas N] [--timeout DURATION]
       fnjail jobs status TICKET [--json]
       fnjail jobs wait TICKET [--json]
       fnjail jobs output TICKET [--replica N]
       fnjail jobs retrieve TICKET [--out DIR]
       fnjail jobs list [--all] [--json]
       fnjail jobs cancel TICKET
       fnjail jobs close TICKET

Asynchronous runs (docs/jobs.md). submit queues a job and prints its ticket at
once: the registered function NAME run on the input (each replica a separate
sandboxed run), or a bundle (a directory or .tar.gz with a Makefile) whose
\`make run\` builds and runs a program. Jobs start in the order they were
submitted, when a node has a free job slot. A job is WAITING, RUNNING,
COMPLETED (every replica completed) or INVALID (a replica failed: the
others are stopped; its Reason lines say why).

  status    the job and its replicas, with every transition
  wait      returns once the job has ended: exit 0 if COMPLETED, 1 if INVALID
  output    a replica's output (default replica 1) to standard output
  retrieve  each replica's output to DIR/replica-N.out (default: the current
            directory), the reasons of those that failed, then closes the ticket
  list      your jobs (--all: every one's, for root and the policy's admins)
  cancel    stops the job: waiting replicas leave the queue, running ones stop
  close     frees the job's storage (cancels it first if it has not ended)

options:
  --function F         for a library: the function to call (default: run)
  --input FILE|-       the input: a file of yours (read here and sent), - for stdin
  --bundle PATH        a bundle directory or .tar.gz to build and run (make run)
  --replicas N         separate runs of it (default 1)
  --timeout DURATION   each replica's wall-clock limit, when tighter than the policy's
  --replica N          for output: which replica (default 1)
  --out DIR            for retrieve: where to write the outputs
  --all                for list: every one's jobs
  --json               print the server's JSON
${API_HELP}
  --help               this text
`;

const OPTIONS = {
  ...API_OPTIONS,
  function: { type: 'string' },
  input: { type: 'string' },
  bundle: { type: 'string' },
  replicas: { type: 'string' },
  timeout: { type: 'string' },
  replica: { type: 'string' },
  out: { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** One request of `wait` waits this long on the server, then asks again. */
const WAIT_STEP_MS = 30_000;

export async function jobsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse('jobs', args, OPTIONS);
  if (values.help) {
    process.stdout.write(JOBS_HELP);
    return 0;
  }
  const [action, operand, ...rest] = positionals;
  if (rest.length) throw usageError('jobs', `unexpected argument '${rest[0]}'`);
  const client = apiClient(values);
  const out = (text: string) => process.stdout.write(text);
  const ticket = () => {
    if (operand === undefined) throw usageError('jobs', `${action} needs a TICKET (fnjail jobs list shows yours)`);
    return operand;
  };
  switch (action) {
    case 'submit': {
      const view = await client.submitJob(await submission(values, operand));
      out(values.json ? `${JSON.stringify(view)}\n` : `${view.ticket}\n`);
      return 0;
    }
    case 'status': {
      const view = await client.job(ticket());
      out(values.json ? `${JSON.stringify(view)}\n` : describe(view));
      return 0;
    }
    case 'wait': {
      const view = await waitFor(client, ticket());
      out(values.json ? `${JSON.stringify(view)}\n` : describe(view));
      return view.state === 'COMPLETED' ? 0 : EXIT_FAILURE;
    }
    case 'output': {
      const replica = values.replica === undefined ? 1 : parseInteger('jobs', 'replica', values.replica, 1, 100);
      const found = await client.jobOutput(ticket(), replica);
      await pipeline(found.output, process.stdout, { end: false });
      return 0;
    }
    case 'retrieve':
      return retrieve(client, ticket(), values.out ?? '.');
    case 'list': {
      if (operand !== undefined) throw usageError('jobs', `unexpected argument '${operand}'`);
      const views = await client.jobs(values.all ?? false);
      out(values.json ? `${JSON.stringify(views)}\n` : table(views));
      return 0;
    }
    case 'cancel': {
      const { cancelled, job } = await client.cancelJob(ticket());
      out(values.json ? `${JSON.stringify(job)}\n` : `${job.ticket}: ${cancelled ? 'cancelled' : `not cancelled: it had ended (${job.state})`}\n`);
      return 0;
    }
    case 'close': {
      const closed = await client.closeJob(ticket());
      out(values.json ? `${JSON.stringify(closed)}\n` : `${closed.ticket}: closed (it was ${closed.state}); its outputs are removed\n`);
      return 0;
    }
    case undefined:
      throw usageError('jobs', 'expected an action: submit, status, wait, output, retrieve, list, cancel or close');
    default:
      throw usageError('jobs', `unknown action '${action}' (submit, status, wait, output, retrieve, list, cancel, close)`);
  }
}

type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'];

async function submission(values: Values, name: string | undefined): Promise<Parameters<Client['submitJob']>[0]> {
  if ((values.bundle === undefined) === (name === undefined)) throw usageError('jobs', 'submit takes a function NAME or --bundle PATH, one of them');
  const replicas = values.replicas === undefined ? undefined : parseInteger('jobs', 'replicas', values.replicas, 1, 100);
  const timeoutMs = values.timeout === undefined ? undefined : timeout(values.timeout);
  const common = { ...(replicas !== undefined ? { replicas } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
  if (values.bundle !== undefined) {
    if (values.input !== undefined || values.function !== undefined) throw usageError('jobs', '--input and --function are for a function job, not a bundle');
    return { bundle: await bundleBytes(values.bundle), ...common };
  }
  // The input is read here, with this user's rights, and sent: the server never opens the file.
  const input = values.input === undefined ? undefined : values.input === '-' ? await readAll(process.stdin) : readFile(values.input);
  return { name: name!, ...(values.function !== undefined ? { function: values.function } : {}), ...(input ? { input } : {}), ...common };
}

function timeout(text: string): number {
  try {
    const ms = parseDuration(text);
    if (ms >= 1) return ms;
  } catch {
    // said below
  }
  throw usageError('jobs', `--timeout must be a duration of at least 1ms ("500ms", "30s", "5m"), not '${text}'`);
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new FnjailError('FNJ_USAGE', `cannot read ${file}: ${(error as Error).message}`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** A directory is packed here, as fnjail deploy packs one; a file is sent as it is. */
async function bundleBytes(source: string): Promise<Buffer> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (error) {
    throw new FnjailError('FNJ_BUNDLE_INVALID', `cannot read ${source}: ${(error as Error).message}`);
  }
  return stat.isDirectory() ? compressBundle(readBundleDirectory(source)) : readFile(source);
}

async function waitFor(client: Client, ticket: string): Promise<JobView> {
  for (;;) {
    const view = await client.job(ticket, WAIT_STEP_MS);
    if (view.state === 'COMPLETED' || view.state === 'INVALID') return view;
  }
}

async function retrieve(client: Client, ticket: string, dir: string): Promise<number> {
  const view = await client.job(ticket);
  if (view.state !== 'COMPLETED' && view.state !== 'INVALID') {
    throw new FnjailError('FNJ_JOB_NOT_DONE', `job ${ticket} is ${view.state}: its outputs are there once it has ended`, `fnjail jobs wait ${ticket}`);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const r of view.replicas) {
    const file = path.join(dir, `replica-${r.replica}.out`);
    const found = await client.jobOutput(ticket, r.replica);
    await pipeline(found.output, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    const how = r.state === 'COMPLETED' ? 'COMPLETED' : `INVALID (${r.outcome ?? '?'}): ${r.reasons.join('; ')}`;
    process.stdout.write(`replica ${r.replica}: ${clean(how)} -> ${file}\n`);
  }
  await client.closeJob(ticket);
  process.stdout.write(`${ticket}: ${view.state}; closed\n`);
  return view.state === 'COMPLETED' ? 0 : EXIT_FAILURE;
}

function describe(view: JobView): string {
  const what = view.kind === 'function' ? `function ${view.function}${view.entry ? ` (${view.entry})` : ''}` : `bundle ${view.bundle?.hash.slice(0, 12)}`;
  const lines = [`${view.ticket}: ${view.state}`, `  ${what}, ${view.replicas.length} replica${view.replicas.length === 1 ? '' : 's'}, submitted ${view.submittedAt} by ${view.submittedBy}${view.endedAt ? `, ended ${view.endedAt}` : ''}`];
  for (const r of view.replicas) {
    const where = r.node ? ` on ${r.node}` : '';
    const why = r.state === 'INVALID' ? ` (${r.outcome ?? '?'}): ${r.reasons.join('; ')}` : '';
    lines.push(`  replica ${r.replica}: ${r.state}${where}${r.attempts > 1 ? `, attempt ${r.attempts}` : ''}${why}`);
  }
  return lines.map(clean).join('\n') + '\n';
}

function table(views: JobView[]): string {
  if (!views.length) return 'no jobs (fnjail jobs submit NAME submits one)\n';
  const rows = [
    ['TICKET', 'STATE', 'WHAT', 'REPLICAS', 'SUBMITTED'],
    ...views.map((v) => [v.ticket, v.state, v.kind === 'function' ? v.function! : 'bundle', `${v.replicas.filter((r) => r.state === 'COMPLETED').length}/${v.replicas.length}`, v.submittedAt]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => clean(row[i]!).length)));
  return rows.map((row) => row.map((cell, i) => clean(cell).padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
