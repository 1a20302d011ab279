import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from '../io/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs with errors that say which program and point at --help (exit 2). */
export function parseCommandLine<O extends Options>(program: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.replace(/^.*?: /, '');
    throw usageError(`${program}: ${msg}`, `run \`${program} --help\` for the options`);
  }
}
