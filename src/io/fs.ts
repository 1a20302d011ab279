import * as nodeFs from 'node:fs';

/**
 * The fs seam: every write on the backup drive and every read of the source goes through an `Fs`
 * passed in by the caller, so a test can make one chosen call fail with a chosen errno
 * (see test/helpers/faulty-fs.ts). Production code uses `realFs`.
 */
export type Fs = typeof nodeFs;
export const realFs: Fs = nodeFs;

/** True when running as root: owner and group are then preserved (SPEC §3). */
export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;
