/**
 * The one user-facing error type and the helpers for Node's errno codes.
 * Core code throws HardbackError (or lets a NodeJS.ErrnoException through); only src/cli maps
 * an outcome to an exit code (see cli/exit.ts).
 */

/** Exit codes of both programs (SPEC §5). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type HardbackErrorKind =
  | 'usage' // wrong flags or arguments: exit 2
  | 'config' // configuration error: exit 2, nothing touched
  | 'failure'; // runtime failure: exit 1, backup as consistent as before

export class HardbackError extends Error {
  readonly kind: HardbackErrorKind;
  readonly hint: string | undefined;
  constructor(kind: HardbackErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HardbackError';
    this.kind = kind;
    this.hint = options.hint;
  }
  get exitCode(): ExitCode {
    return this.kind === 'failure' ? EXIT.failure : EXIT.usage;
  }
}

export const usageError = (message: string, hint?: string): HardbackError =>
  new HardbackError('usage', message, hint === undefined ? {} : { hint });
export const configError = (message: string, hint?: string): HardbackError =>
  new HardbackError('config', message, hint === undefined ? {} : { hint });
export const failure = (message: string, options: { hint?: string; cause?: unknown } = {}): HardbackError =>
  new HardbackError('failure', message, options);

/** The errno code of an error thrown by node:fs, or undefined. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isCode(err: unknown, ...codes: string[]): boolean {
  const code = errorCode(err);
  return code !== undefined && codes.includes(code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The drive is full, gone or read-only: going on could only make things worse, so a run stops
 * (exit 1) instead of recording a per-file fault.
 */
const DRIVE_FAILURE_CODES = ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'ENODEV', 'ENXIO', 'ESTALE', 'ENOTCONN'];
export const isDriveFailure = (err: unknown): boolean => isCode(err, ...DRIVE_FAILURE_CODES);

/** What link(2) answers on a filesystem without hard links (FAT, exFAT, some network shares). */
export const NO_HARDLINK_CODES = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'];
export const isNoHardlink = (err: unknown): boolean => isCode(err, ...NO_HARDLINK_CODES);
