import { createHash } from 'node:crypto';
import { constants as realConstants } from 'node:fs';
import type { Fs } from './fs.js';
import { chownIfSupported, isRoot } from './fs.js';
import { secondsFromNs } from '../meta/entry.js';
import { fstatFor } from './stat.js';

/** One buffer per concurrent copy; 1 MiB keeps syscalls few for large files without bloating RSS. */
const CHUNK = 1 << 20;

export interface CopyExpect {
  size: number;
  mtime_ns: string;
  mode: number;
  uid: number;
  gid: number;
}

export type CopyFault = 'vanished' | 'changed' | 'not-a-file';

export class SourceChangedError extends Error {
  readonly code = 'ECHANGED';
  readonly fault: CopyFault;
  constructor(fault: CopyFault, path: string) {
    super(
      fault === 'vanished'
        ? `${path}: vanished during the backup`
        : fault === 'not-a-file'
          ? `${path}: is no longer a regular file`
          : `${path}: changed while it was being copied`,
    );
    this.fault = fault;
  }
}

/**
 * Copies `src` to a new file `dest` (which must not exist), hashing the bytes as they pass, and gives
 * the copy the recorded mode, mtime and (as root) owner. Checks that the source is still the version
 * that was scanned: a file that changed, vanished or is no longer a file is an error, never half a
 * version. The check is made once, after the copy, on the descriptor the bytes were read from: a
 * version the scan did not see shows there whenever it came (before the open or during the copy),
 * and a second fstat before the copy cost a syscall and a BigInt stat object per file on the
 * copying threads (~0.2 s of their time in a 100k-file first run) to find nothing more.
 * `fsyncData`: flush the copy's data before returning (the caller renames it into place next).
 */
export async function copyAndHash(
  fs: Fs,
  src: string,
  dest: string,
  expect: CopyExpect,
  opts: { fsyncData: boolean; buffer: Buffer; newFileOwner?: { uid: number; gid: number } },
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let inFd: number | undefined;
  let outFd: number | undefined;
  let bytes = 0;
  try {
    try {
      inFd = openToRead(fs, src);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SourceChangedError('vanished', src);
      throw err;
    }
    outFd = fs.openSync(dest, 'wx', 0o600);
    const buf = opts.buffer;
    // Read exactly the scanned size: a file that grew or shrank meanwhile is caught by the fstat
    // after the copy, so no extra read to see EOF. Small files (most of a tree) are copied with
    // synchronous calls: a round trip through libuv's threadpool costs more than the syscall itself.
    const small = expect.size <= buf.length;
    try {
      while (bytes < expect.size) {
        const want = Math.min(buf.length, expect.size - bytes);
        const n = small ? fs.readSync(inFd, buf, 0, want, null) : await readAsync(fs, inFd, buf, want);
        if (n === 0) break;
        const chunk = n === buf.length ? buf : buf.subarray(0, n);
        hash.update(chunk);
        let off = 0;
        while (off < n) off += small ? fs.writeSync(outFd, chunk, off, n - off) : await writeAsync(fs, outFd, chunk, off, n - off);
        bytes += n;
      }
    } catch (err) {
      // A folder opened where the file was (O_NOFOLLOW refuses only a symlink).
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new SourceChangedError('not-a-file', src);
      throw err;
    }
    const after = fstatFor(fs)(inFd);
    if ((after.mode & S_IFMT) !== S_IFREG) throw new SourceChangedError('not-a-file', src);
    if (bytes !== expect.size || after.size !== expect.size || after.mtimeNs !== expect.mtime_ns) {
      throw new SourceChangedError('changed', src);
    }
    const fd = outFd;
    const owner = opts.newFileOwner;
    const ownerOk = owner !== undefined && owner.uid === expect.uid && owner.gid === expect.gid;
    if (isRoot() && !ownerOk) chownIfSupported(() => fs.fchownSync(fd, expect.uid, expect.gid));
    fs.fchmodSync(outFd, expect.mode);
    const t = secondsFromNs(expect.mtime_ns);
    fs.futimesSync(outFd, t, t);
    if (opts.fsyncData) await fsyncAsync(fs, outFd);
    return { sha256: hash.digest('hex'), bytes };
  } catch (err) {
    if (outFd !== undefined) {
      fs.closeSync(outFd);
      outFd = undefined;
      try {
        fs.unlinkSync(dest);
      } catch {
        // best effort: the sweep at the next start removes leftovers
      }
    }
    throw err;
  } finally {
    if (inFd !== undefined) fs.closeSync(inFd);
    if (outFd !== undefined) fs.closeSync(outFd);
  }
}

/**
 * sha256 of a file's content (for --checksum, a move's check, restore's and verify --data's). It reads
 * to the first read that returns nothing or, given the size the file is expected to have, to a read
 * that returns less than asked once that much was read and the file (fstat) holds no more: a
 * regular file ends there, and the read that would see its end again was a round trip of the thread
 * pool per file (W1's 100,000 files on the ext4 image, a `--checksum` run with nothing changed,
 * twice 3 alternating rounds: warm 7.3–8.8 s → 6.2–7.1 s, caches dropped 14.6–16.7 s →
 * 12.9–15.2 s; with the fstat, 3 more: warm 8.1–8.6 s → 6.9–7.7 s; session 19). A short read
 * before the expected size (FUSE with direct I/O may give one) is read on, and so is a file that
 * has grown past what was read: a hash of its first part could otherwise match the version
 * recorded before it grew.
 *
 * Never through a symlink (O_NOFOLLOW), and never on past the expected size in what is not a regular
 * file: a file swapped after the scan for a link to /dev/zero, or for the device itself, would
 * otherwise be read for ever, the run holding its lock. Both are a SourceChangedError ('not-a-file'),
 * as in copyAndHash.
 */
export async function hashFile(fs: Fs, path: string, buffer: Buffer = Buffer.allocUnsafe(CHUNK), expectedSize?: number): Promise<string> {
  const hash = createHash('sha256');
  const fd = openToRead(fs, path);
  try {
    for (let total = 0, looked = false; ; ) {
      const n = await readAsync(fs, fd, buffer);
      if (n === 0) break;
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
      total += n;
      if (n < buffer.length && expectedSize !== undefined && total >= expectedSize && fs.fstatSync(fd).size <= total) break;
      // More than expected: a regular file that grew, or a device that would never end (/dev/zero).
      if (!looked && expectedSize !== undefined && total > expectedSize) {
        looked = true;
        if (!fs.fstatSync(fd).isFile()) throw new SourceChangedError('not-a-file', path);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

export const newCopyBuffer = (): Buffer => Buffer.allocUnsafe(CHUNK);

/**
 * How a file to be read is opened. O_NONBLOCK changes nothing for a regular file, but a file that
 * was made a FIFO after the scan would otherwise block the open until something wrote into it: the
 * whole thread stopped, the run holding its lock, for good. Opened this way, its reads find nothing
 * and the checks after them name it as no longer a file (or its hash differs).
 */
const READ_FLAGS = realConstants.O_RDONLY | (realConstants.O_NONBLOCK ?? 0);
const { S_IFMT, S_IFREG } = realConstants;

/** Opens a file to read it (READ_FLAGS), never through a symlink: one is a SourceChangedError ('not-a-file'). */
function openToRead(fs: Fs, path: string): number {
  try {
    return fs.openSync(path, READ_FLAGS | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new SourceChangedError('not-a-file', path);
    throw err;
  }
}

function readAsync(fs: Fs, fd: number, buf: Buffer, length = buf.length): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}
function writeAsync(fs: Fs, fd: number, buf: Buffer, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));
}
function fsyncAsync(fs: Fs, fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}
