import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Fs } from './fs.js';
import { isCode } from './errors.js';

/** Random per process (two machines sharing a stick may have equal pids), then a counter: cheap per file. */
const processToken = `${process.pid.toString(36)}-${randomBytes(4).toString('hex')}`;
let counter = 0;

/** A temp-file name unique across processes and hosts sharing a drive. */
export function tmpName(prefix: string): string {
  return `${prefix}${processToken}-${(counter++).toString(36)}`;
}

/** A temp-file name writeFileAtomic (or a lock takeover) made: what a crash can leave beside a file. */
export const isAtomicTempName = (name: string): boolean => /^(\..+\.tmp-|\.lock-)[0-9a-z]+-[0-9a-z-]+$/.test(name);

/**
 * Atomic replace: write a temp file beside `file`, fsync it, rename it over `file`, fsync the folder.
 * `data` may be an iterable of pieces (text or bytes), written as they come (writeChunked).
 * A reader sees the old content or the new one, never a mix; the temp file is removed if the rename
 * never happened.
 */
export function writeFileAtomic(fs: Fs, file: string, data: string | Uint8Array | Iterable<string | Uint8Array>, mode = 0o644): void {
  const tmp = join(dirname(file), `.${basename(file)}.${tmpName('tmp-')}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    if (typeof data === 'string' || data instanceof Uint8Array) fs.writeFileSync(fd, data);
    else writeChunked(fs, fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      // best effort: the temp file may never have been created
    }
    throw err;
  }
  fsyncDir(fs, dirname(file));
}

/** Bytes gathered before each write(2) when the content comes in pieces. */
const WRITE_CHUNK = 1 << 20;

/**
 * Writes text given in pieces (a large increment.json or manifest, line by line) about a MiB at a time,
 * so the whole text is never held in memory at once. Each piece is encoded straight into one buffer,
 * reused: gathering the strings and joining them made a MiB string per write, and kept every piece
 * alive until then (a W1 move run joined ~40 MB of them). A piece of bytes is written as it is.
 * Each string piece is encoded on its own, so it must be whole UTF-16 (a surrogate pair cut between
 * two pieces would become two U+FFFD): every producer yields whole lines or JSON values.
 */
function writeChunked(fs: Fs, fd: number, pieces: Iterable<string | Uint8Array>): void {
  const buf = Buffer.allocUnsafeSlow(WRITE_CHUNK);
  let used = 0;
  const flush = (): void => {
    if (used > 0) fs.writeFileSync(fd, buf.subarray(0, used));
    used = 0;
  };
  for (const piece of pieces) {
    if (typeof piece !== 'string') {
      flush();
      fs.writeFileSync(fd, piece);
      continue;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a piece within that bound fits whole.
    if (used + piece.length * 3 > WRITE_CHUNK) flush();
    if (piece.length * 3 > WRITE_CHUNK) fs.writeFileSync(fd, piece);
    else used += buf.write(piece, used);
  }
  flush();
}

/** fsync a folder so renames and links in it survive power loss; not every filesystem allows it. */
export function fsyncDir(fs: Fs, dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    if (!isCode(err, 'EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
