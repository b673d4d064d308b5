// A structured request: one line of JSON (policies/request.schema.json)
// instead of the classic words, so that paths may hold spaces, and the reply
// is JSON with the authoritative outcome (server/replies.ts).
import { InvalidJsonFile, parseValidated } from '../config/json-file.js';
import { DEFAULT_FUNCTION, displayCommand, namedCallText, type ParsedRequest } from './command.js';

export const MAX_JSON_REQUEST_BYTES = 16 * 1024;

/** A request is one flat object; deeper nesting is refused before any parser (or validator) recurses into it. */
export const MAX_JSON_DEPTH = 8;

/** Whether the JSON text opens more than `limit` arrays and objects inside each other (brackets inside strings do not count). */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

interface JsonRequest {
  /** A library, or (name) a registered function: one of the two (the schema says so). */
  library?: string;
  name?: string;
  function?: string;
  input?: string;
  id?: string | number;
  return?: 'path' | 'content';
}

/** Whether a line is a JSON request rather than classic words. */
export function isJsonRequest(line: string): boolean {
  return line.trimStart().startsWith('{');
}

/** Parses and validates; the id is what the client wants echoed, if it could be read. */
export function parseJsonRequest(raw: string): ParsedRequest {
  if (Buffer.byteLength(raw) > MAX_JSON_REQUEST_BYTES) {
    return { ok: false, text: displayCommand(raw), reason: `JSON request is longer than ${MAX_JSON_REQUEST_BYTES} bytes` };
  }
  if (nestedDeeperThan(raw, MAX_JSON_DEPTH)) {
    return { ok: false, text: displayCommand(raw), reason: `JSON request is nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let request: JsonRequest;
  try {
    request = parseValidated<JsonRequest>(raw, 'request', 'request');
  } catch (error) {
    if (!(error instanceof InvalidJsonFile)) throw error;
    const problems = error.problems.map((p) => `${p.pointer || '(top level)'}: ${p.message}`).join('; ');
    return { ok: false, text: displayCommand(raw), reason: `invalid JSON request: ${problems} (policies/request.schema.json)` };
  }
  const asked = {
    ...(request.id !== undefined ? { id: request.id } : {}),
    ...(request.return === 'content' ? { returnContent: true } : {}),
  };
  if (request.name !== undefined) {
    const input = request.input === undefined ? undefined : ({ kind: 'path', path: request.input } as const);
    const text = namedCallText(request.name, request.function, input);
    return { ok: true, text, target: { kind: 'function', call: { text, name: request.name, function: request.function, input } }, ...asked };
  }
  const library = request.library!;
  const fn = request.function ?? DEFAULT_FUNCTION;
  const text = displayCommand([library, fn, request.input].filter((w) => w !== undefined).join(' '));
  return {
    ok: true,
    text,
    target: { kind: 'library', command: { text, library, function: fn, functionGiven: request.function !== undefined, input: request.input } },
    ...asked,
  };
}
