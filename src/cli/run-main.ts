import { describeError, exitCodeFor } from './exit.js';
import type { ExitCode } from '../io/errors.js';

/** The one exit path of both programs: run, then map the outcome (or the thrown error) to an exit code. */
export function runMain(program: string, entry: (argv: string[]) => Promise<ExitCode>): void {
  // `backup-tool search … | head`: the reader went away; that is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
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
