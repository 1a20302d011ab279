import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import { isCode } from './errors.js';

/**
 * The fs seam: every write on the backup drive and every read of the source goes through an `Fs`
 * passed in by the caller, so a test can make one chosen call fail with a chosen errno
 * (see test/helpers/faulty-fs.ts). Production code uses `realFs`.
 */
export type Fs = typeof nodeFs;
export const realFs: Fs = nodeFs;

/** True when running as root: owner and group are then preserved (SPEC §3). */
const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const isRoot = (): boolean => runningAsRoot;

/**
 * Sets an owner where the destination can hold one. As root, a filesystem without Unix owners (exFAT,
 * FAT, many network shares) answers chown with EPERM or ENOTSUP: not a fault of the file.
 */
export function chownIfSupported(chown: () => void): void {
  try {
    chown();
  } catch (err) {
    if (!isCode(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) throw err;
  }
}

/** A file's text, or undefined when it does not exist (any other error is thrown). */
export function readTextIfExists(fs: Fs, file: string, encoding: BufferEncoding = 'utf8'): string | undefined {
  return readBytesIfExists(fs, file)?.toString(encoding);
}

/** A file's bytes, or undefined when it does not exist (any other error is thrown). */
export function readBytesIfExists(fs: Fs, file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** A file opened for reading, or undefined when it does not exist (any other error is thrown). */
export function openIfExists(fs: Fs, file: string): number | undefined {
  try {
    return fs.openSync(file, 'r');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Removes a file; one that does not exist is no error (any other error is thrown). */
export function unlinkIfExists(fs: Fs, file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
}

/**
 * `p` with every symlink in it resolved, as far as it exists: the real path of its deepest existing
 * folder, with the rest appended. Used where "is inside" must not be fooled by a symlinked path
 * (src inside dist, a restore target inside the backup); config validation compares the paths as
 * written, and these checks repeat it on the real paths when the run or the restore starts.
 */
export function resolvedPath(fs: Fs, p: string): string {
  const rest: string[] = [];
  let cur = nodePath.resolve(p);
  for (;;) {
    try {
      return nodePath.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = nodePath.dirname(cur);
      if (parent === cur) return nodePath.resolve(p);
      rest.push(nodePath.basename(cur));
      cur = parent;
    }
  }
}
