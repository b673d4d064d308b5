// Command-line parsing: node:util parseArgs, with errors that say what to type.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FnjailError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<T extends Options>(command: string, args: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new FnjailError('FNJ_USAGE', (error as Error).message.replace(/\. To specify a positional.*$/s, ''), `see fnjail ${command} --help`);
  }
}

export function usageError(command: string, message: string): FnjailError {
  return new FnjailError('FNJ_USAGE', message, `see fnjail ${command} --help`);
}

export function parseInteger(command: string, option: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw usageError(command, `--${option} must be an integer from ${min} to ${max}, not '${text}'`);
  }
  return value;
}
