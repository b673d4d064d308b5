// The exit status of every fnjail command, and of `fnjail run` per outcome of
// the call (as systemd-run --wait and nsjail report what ran): one code per
// kind of failure, documented in docs/errors.md (a test checks they agree).
import type { OutcomeKind } from '../executor/classify.js';
import type { ErrorCode } from '../errors.js';

/** A call's outcome -> the status of `fnjail run` (every mode: path, --cat, --json). */
export const OUTCOME_EXIT_CODES = {
  ok: 0,
  exit: 10,
  signal: 11,
  timeout: 12,
  limit: 13,
  seccomp: 14,
  'load-error': 15,
  'missing-function': 16,
  denied: 17,
  'bad-request': 18,
  busy: 19,
  'server-error': 20,
} as const satisfies Record<OutcomeKind, number>;

/** A failure of fnjail itself that is not listed below. */
export const EXIT_FAILURE = 1;
/** A wrong command line (FNJ_USAGE). */
export const EXIT_USAGE = 2;
/** The server cannot be reached, or closed the connection without a reply. */
export const EXIT_UNREACHABLE = 3;

export function exitCodeOfError(code: ErrorCode): number {
  switch (code) {
    case 'FNJ_USAGE':
      return EXIT_USAGE;
    case 'FNJ_CONNECT_FAILED':
    case 'FNJ_NO_REPLY':
      return EXIT_UNREACHABLE;
    default:
      return EXIT_FAILURE;
  }
}

/** The status for an outcome a server sent; one this client does not know is a failure of its own. */
export function exitCodeOfOutcome(outcome: unknown): number {
  return typeof outcome === 'string' && Object.hasOwn(OUTCOME_EXIT_CODES, outcome) ? OUTCOME_EXIT_CODES[outcome as OutcomeKind] : EXIT_FAILURE;
}
