import type net from 'node:net';
import type { CalledFunction } from '../functions/registry.js';

// The classic command: `<libname> [<funcname> [<filename>]]`, words separated
// by blanks. The function defaults to `run`; a filename needs a function name.

export const DEFAULT_FUNCTION = 'run';
export const MAX_COMMAND_BYTES = 8192;

export interface Command {
  /** The command as received, words joined by single spaces (for error lines). */
  text: string;
  library: string;
  function: string;
  /** Whether the function was named (or defaulted to `run`). */
  functionGiven: boolean;
  input: string | undefined;
}

export type ParsedCommand = { ok: true; text: string; command: Command } | { ok: false; text: string; reason: string };

/** Shows a command in an error line: printable, bounded. */
export function displayCommand(raw: string): string {
  const shown = raw.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > 300 ? `${shown.slice(0, 300)}...` : shown;
}

export function parseCommand(raw: string): ParsedCommand {
  const words = raw.split(/[ \t\r\n]+/).filter((w) => w.length > 0);
  const text = displayCommand(words.join(' '));
  if (Buffer.byteLength(raw) > MAX_COMMAND_BYTES) {
    return { ok: false, text, reason: `command is longer than ${MAX_COMMAND_BYTES} bytes` };
  }
  if (raw.includes('\0')) {
    return { ok: false, text, reason: 'command contains a NUL byte' };
  }
  if (words.length === 0) {
    return { ok: false, text, reason: 'empty command; expected <libname> [<funcname> [<filename>]]' };
  }
  if (words.length > 3) {
    return {
      ok: false,
      text,
      reason: `too many words (${words.length}); expected <libname> [<funcname> [<filename>]] (paths with spaces need a JSON request)`,
    };
  }
  const [library, fn, input] = words as [string, string | undefined, string | undefined];
  return {
    ok: true,
    text,
    command: { text, library, function: fn ?? DEFAULT_FUNCTION, functionGiven: fn !== undefined, input },
  };
}

// A call of a registered function by name (docs/protocol.md): `@<name>
// [<funcname> [<filename>]]`. A library path is absolute or a bare file name,
// and a function name (DNS label: lowercase, digits, dashes) cannot start
// with '@', so the two never meet.
export const NAMED_CALL_PREFIX = '@';

/** The input of a call by name: a file the tenant names (checked against its
 * inputDirs), or a request body the server spooled to a file of its own, or
 * a TCP connection accepted for a per-connection program (src/inetd), which
 * becomes its stdin and stdout (idleMs: no data either way this long ends it; 0: never). */
export type CallInput = { kind: 'path'; path: string } | { kind: 'spool'; path: string } | { kind: 'connection'; socket: net.Socket; idleMs: number };

export interface NamedCall {
  /** As an error line shows it: "@name [function [input]]". */
  text: string;
  name: string;
  /** A library's function; undefined: run. */
  function: string | undefined;
  input: CallInput | undefined;
}

/** here: run on this node, whatever the cluster's routing says (a call another node sent);
 * pinned: the version that node resolved (cluster/call-routing.ts). */
export type Target = { kind: 'library'; command: Command } | { kind: 'function'; call: NamedCall; here?: boolean | undefined; pinned?: CalledFunction | undefined };

export type ParsedRequest =
  | { ok: true; text: string; target: Target; id?: string | number; returnContent?: boolean }
  | { ok: false; text: string; reason: string; id?: string | number; returnContent?: boolean };

/** The words of a call by name, as a command line shows them. */
export function namedCallText(name: string, fn: string | undefined, input: CallInput | undefined): string {
  const shownInput = input === undefined ? undefined : input.kind === 'path' ? input.path : input.kind === 'spool' ? '(request body)' : '(connection)';
  return displayCommand([`${NAMED_CALL_PREFIX}${name}`, fn, shownInput].filter((w) => w !== undefined).join(' '));
}

/** A classic command or a call by name (`@name ...`). */
export function parseRequest(raw: string): ParsedRequest {
  const parsed = parseCommand(raw);
  if (!parsed.ok) return parsed;
  const { command } = parsed;
  if (!command.library.startsWith(NAMED_CALL_PREFIX)) return { ok: true, text: parsed.text, target: { kind: 'library', command } };
  const name = command.library.slice(NAMED_CALL_PREFIX.length);
  // `@name /file`: a function's name never starts with '/', so a lone word
  // that does is the input file (what a program, which has no functions, takes).
  const fileOnly = command.functionGiven && command.input === undefined && command.function.startsWith('/');
  const fn = command.functionGiven && !fileOnly ? command.function : undefined;
  const file = fileOnly ? command.function : command.input;
  const input: CallInput | undefined = file === undefined ? undefined : { kind: 'path', path: file };
  return { ok: true, text: parsed.text, target: { kind: 'function', call: { text: parsed.text, name, function: fn, input } } };
}
