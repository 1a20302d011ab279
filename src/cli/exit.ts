import { EXIT, HardbackError, type ExitCode } from '../io/errors.js';

/**
 * The one place where an outcome becomes an exit code (SPEC §5):
 * 0 success · 1 failure · 2 usage or configuration error · 3 finished with per-file errors.
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof HardbackError) return err.exitCode;
  return EXIT.failure;
}

/** Several profiles or items: a failure outranks per-file errors, which outrank success. */
export function combineExitCodes(codes: readonly ExitCode[]): ExitCode {
  if (codes.includes(EXIT.usage)) return EXIT.usage;
  if (codes.includes(EXIT.failure)) return EXIT.failure;
  if (codes.includes(EXIT.partial)) return EXIT.partial;
  return EXIT.ok;
}

/** Prints a failure the way both programs do: message, then hint; never a stack trace for known errors. */
export function describeError(err: unknown): string {
  if (err instanceof HardbackError) return err.hint === undefined ? err.message : `${err.message}\n  hint: ${err.hint}`;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') return `${e.message}`;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
