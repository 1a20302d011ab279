import * as crypto from 'node:crypto';
import type { Fs } from './fs.js';
import { chownIfSupported, isRoot } from './fs.js';
import { secondsFromNs } from '../meta/entry.js';
import { fstatFor } from './stat.js';

/** One buffer reused for every copy of a restore; 1 MiB keeps syscalls few for large files. */
const CHUNK = 1 << 20;
export const newRestoreBuffer = (): Buffer => Buffer.allocUnsafe(CHUNK);

export interface StoredVersion {
  size: number;
  sha256: string;
  mtime_ns: string;
  mode: number;
  uid: number;
  gid: number;
}

export class DamagedCopyError extends Error {
  readonly code = 'EDAMAGED';
}

export interface CopyOptions {
  /** Flush the copy before returning (default); false when the caller flushes the whole filesystem at once. */
  fsync?: boolean;
  /**
   * The process's umask, when the copy may be created with its final permission bits (it is written
   * where nobody else looks, e.g. a staging folder): no fchmod when the umask lets them through.
   * Without it the copy is created 0600 and given its mode when complete.
   */
  umask?: number;
  /** The owner every new file gets here anyway (root, writing into folders it made): no fchown for it. */
  defaultOwner?: { uid: number; gid: number };
}

/** One-shot sha256 where Node has it (20.12+): no Hash object per small file. */
const hashOnce: ((data: Uint8Array) => string) | undefined =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash(alg: string, data: Uint8Array, enc: 'hex'): string }).hash('sha256', data, 'hex')
    : undefined;

/**
 * Copies a stored version (`from`, on the backup drive) to a new file `to` (which must not exist),
 * checking on the way that the bytes are the recorded ones: a stored copy that was damaged or
 * swapped is an error, never restored. The copy gets the recorded mode, mtime and (as root) owner
 * and is flushed before returning (unless the caller flushes), so the caller publishes complete
 * content only. `from` is opened without following a final symlink and without blocking on a FIFO.
 *
 * Per file it costs two opens, an fstat (its raw values: src/io/stat.ts), one read and one write
 * per MiB, a futimes and two closes; fchmod and fchown only where the mode or owner would
 * otherwise be wrong (100,000 files: every syscall saved is noticeable next to `cp -a`).
 */
export function copyVerified(fs: Fs, from: string, to: string, want: StoredVersion, buffer: Buffer, opts: CopyOptions = {}): void {
  const c = fs.constants;
  const inFd = fs.openSync(from, c.O_RDONLY | (c.O_NOFOLLOW ?? 0) | (c.O_NONBLOCK ?? 0));
  let outFd: number | undefined;
  try {
    const st = fstatFor(fs)(inFd);
    if ((st.mode & c.S_IFMT) !== c.S_IFREG) throw new DamagedCopyError(`${from}: the stored copy is not a regular file`);
    if (st.size !== want.size) throw new DamagedCopyError(`${from}: the stored copy has ${st.size} bytes, the record says ${want.size}`);
    const perm = want.mode & 0o7777;
    const finalMode = opts.umask !== undefined && ((perm & 0o777 & ~opts.umask) === perm);
    outFd = fs.openSync(to, c.O_WRONLY | c.O_CREAT | c.O_EXCL, finalMode ? perm : 0o600);
    const got = copyHashing(fs, inFd, outFd, want.size, buffer);
    if (got !== want.sha256) throw new DamagedCopyError(`${from}: the stored copy does not match its recorded sha256 (damaged)`);
    const owner = opts.defaultOwner;
    if (isRoot() && Number.isSafeInteger(want.uid) && want.uid >= 0 && Number.isSafeInteger(want.gid) && want.gid >= 0 && (owner === undefined || owner.uid !== want.uid || owner.gid !== want.gid)) {
      const fd = outFd;
      chownIfSupported(() => fs.fchownSync(fd, want.uid, want.gid));
    }
    // After a chown (it clears set-id bits) and after the writes (a non-root write clears them too).
    if (!finalMode || (perm & 0o6000) !== 0) fs.fchmodSync(outFd, perm);
    const t = secondsFromNs(want.mtime_ns);
    fs.futimesSync(outFd, t, t);
    if (opts.fsync !== false) fs.fsyncSync(outFd);
  } catch (err) {
    if (outFd !== undefined) {
      fs.closeSync(outFd);
      outFd = undefined;
      try {
        fs.unlinkSync(to);
      } catch {
        // best effort: a later run of the same restore removes leftover temp files
      }
    }
    throw err;
  } finally {
    fs.closeSync(inFd);
    if (outFd !== undefined) fs.closeSync(outFd);
  }
}

/** Copies exactly `size` bytes from inFd to outFd, returning their sha256 (hex). */
function copyHashing(fs: Fs, inFd: number, outFd: number, size: number, buffer: Buffer): string {
  if (size <= buffer.length) {
    let n = 0;
    while (n < size) {
      const r = fs.readSync(inFd, buffer, n, size - n, null);
      if (r === 0) break;
      n += r;
    }
    const data = buffer.subarray(0, n);
    writeAll(fs, outFd, data);
    return hashOnce !== undefined ? hashOnce(data) : crypto.createHash('sha256').update(data).digest('hex');
  }
  const hash = crypto.createHash('sha256');
  for (let left = size; left > 0; ) {
    const n = fs.readSync(inFd, buffer, 0, Math.min(buffer.length, left), null);
    if (n === 0) break;
    const chunk = buffer.subarray(0, n);
    hash.update(chunk);
    writeAll(fs, outFd, chunk);
    left -= n;
  }
  return hash.digest('hex');
}

function writeAll(fs: Fs, fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}
