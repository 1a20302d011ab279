import { createHash } from 'node:crypto';
import type { Fs } from './fs.js';
import { chownIfSupported, isRoot } from './fs.js';
import { secondsFromNs } from '../meta/entry.js';

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

/**
 * Copies a stored version (`from`, on the backup drive) to a new file `to` (which must not exist),
 * checking on the way that the bytes are the recorded ones: a stored copy that was damaged or
 * swapped is an error, never restored. The copy gets the recorded mode, mtime and (as root) owner
 * and is flushed before returning, so the caller's rename publishes complete content only.
 * `from` is opened without following a final symlink.
 */
export function copyVerified(fs: Fs, from: string, to: string, want: StoredVersion, buffer: Buffer): void {
  const inFd = fs.openSync(from, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  let outFd: number | undefined;
  try {
    const st = fs.fstatSync(inFd);
    if (!st.isFile()) throw new DamagedCopyError(`${from}: the stored copy is not a regular file`);
    if (st.size !== want.size) throw new DamagedCopyError(`${from}: the stored copy has ${st.size} bytes, the record says ${want.size}`);
    outFd = fs.openSync(to, 'wx', 0o600);
    const hash = createHash('sha256');
    for (;;) {
      const n = fs.readSync(inFd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      const chunk = buffer.subarray(0, n);
      hash.update(chunk);
      let off = 0;
      while (off < n) off += fs.writeSync(outFd, chunk, off, n - off);
    }
    const got = hash.digest('hex');
    if (got !== want.sha256) throw new DamagedCopyError(`${from}: the stored copy does not match its recorded sha256 (damaged)`);
    if (isRoot() && Number.isSafeInteger(want.uid) && want.uid >= 0 && Number.isSafeInteger(want.gid) && want.gid >= 0) {
      const fd = outFd;
      chownIfSupported(() => fs.fchownSync(fd, want.uid, want.gid));
    }
    fs.fchmodSync(outFd, want.mode & 0o7777);
    const t = secondsFromNs(want.mtime_ns);
    fs.futimesSync(outFd, t, t);
    fs.fsyncSync(outFd);
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
