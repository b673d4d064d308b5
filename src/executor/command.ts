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
