import { describeError, exitCodeFor } from './exit.js';
import type { ExitCode } from '../io/errors.js';

/** The one exit path of both programs: run, then map the outcome (or the thrown error) to an exit code. */
export function runMain(program: string, entry: (argv: string[]) => Promise<ExitCode>): void {
  entry(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${program}: error: ${describeError(err)}\n`);
      process.exitCode = exitCodeFor(err);
    },
  );
}
