// Finds where a JSON Pointer's value sits in the text it was parsed from, so
// that validation errors can say "file:line:column" and not only a path.

export interface Position {
  line: number;
  column: number;
}

/** Maps every JSON Pointer of a document to the position where its value (or,
 * for object members, its key) starts. Assumes the text parses as JSON. */
export function jsonPositions(text: string): Map<string, Position> {
  const positions = new Map<string, Position>();
  let i = 0;
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === '\n') lineStarts.push(k + 1);
  const at = (offset: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const readString = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
  const value = (pointer: string, keyOffset?: number): void => {
    skip();
    positions.set(pointer, at(keyOffset ?? i));
    const c = text[i];
    if (c === '{') {
      i++;
      skip();
      while (i < text.length && text[i] !== '}') {
        skip();
        const keyStart = i;
        const key = readString();
        skip();
        i++; // ':'
        value(`${pointer}/${escape(key)}`, keyStart);
        skip();
        if (text[i] === ',') i++;
        skip();
      }
      i++;
    } else if (c === '[') {
      i++;
      let index = 0;
      skip();
      while (i < text.length && text[i] !== ']') {
        value(`${pointer}/${index++}`);
        skip();
        if (text[i] === ',') i++;
        skip();
      }
      i++;
    } else if (c === '"') {
      readString();
    } else {
      while (i < text.length && !/[\s,}\]]/.test(text[i]!)) i++;
    }
  };
  value('');
  return positions;
}

/** The position of a JSON.parse syntax error ("... at position 42"), if given. */
export function syntaxErrorPosition(text: string, error: Error): Position | undefined {
  const match = /position (\d+)/.exec(error.message);
  if (!match) return undefined;
  const offset = Number(match[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
