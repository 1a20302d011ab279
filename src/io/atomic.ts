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
 * Atomic replaces of one or more files that become durable together. Each file is written to a temp
 * file beside it (`write`); `commit` then makes the temp files' data durable, renames each over its
 * file and fsyncs their folders. A reader sees each file old or new, never a mix; a crash before the
 * renames leaves temp files only (isAtomicTempName: the next run removes them).
 *
 * `flush`, when given, is a flush that `commit` calls and that makes the temp files' data durable
 * with everything else written to their drive (a backup run's one `sync -f`: io/durability.ts);
 * without it each temp file is fsync'ed as it is written (a streamed one, `stream`, at `commit`). A run ends with the placed versions,
 * increment.json and the manifest: with one flush for all three it waits for one commit of the
 * drive's journal where separate fsyncs waited for three (bench/HISTORY.md, "What changed in session 9").
 * After the flush, `commit` still fsyncs each temp file before any rename: before Linux 5.8,
 * syncfs(2) does not report a failed writeback, and a temp file whose data did not reach the disk
 * must not replace its file. Its data is flushed by then, so that fsync waits for nothing. The temp
 * files stay open from `write` (or `stream`) to `commit` (a handful: increment.json and the manifest or
 * its delta), so their fsync sees a writeback error that happened before it.
 */
export class AtomicWrites {
  /** `fd`: a temp file kept open until commit fsyncs it (with a flush, or streamed); `out`: a streamed one's writer. */
  private readonly pending: { tmp: string; file: string; fd: number | undefined; out?: ChunkedWriter }[] = [];
  private readonly after: (() => void)[] = [];
  constructor(
    private readonly fs: Fs,
    private readonly flush?: () => void,
  ) {}

  /** Writes `data` (text, bytes, or pieces of either: writeChunked) to a new temp file beside `file`. */
  write(file: string, data: string | Uint8Array | Iterable<string | Uint8Array>, mode = 0o644): void {
    const { fs } = this;
    const tmp = tempBeside(file);
    let fd: number | undefined;
    try {
      fd = fs.openSync(tmp, 'wx', mode);
      if (typeof data === 'string' || data instanceof Uint8Array) fs.writeFileSync(fd, data);
      else writeChunked(fs, fd, data);
      if (this.flush === undefined) {
        fs.fsyncSync(fd);
        const open = fd;
        // A close that fails must not be tried again below: that second error would hide the first.
        fd = undefined;
        fs.closeSync(open);
      }
    } catch (err) {
      if (fd !== undefined) closeQuietly(fs, fd);
      unlinkQuietly(fs, tmp);
      throw err;
    }
    this.pending.push({ tmp, file, fd });
  }

  /**
   * A new temp file beside `file`, written piece by piece from now until `commit` (a first run's
   * increment.json, its records appended as they are stored): it is committed and aborted with the
   * others, and `commit` fsyncs it, with or without a flush.
   */
  stream(file: string, mode = 0o644): ChunkedWriter {
    const tmp = tempBeside(file);
    const fd = this.fs.openSync(tmp, 'wx', mode);
    const out = new ChunkedWriter(this.fs, fd);
    this.pending.push({ tmp, file, fd, out });
    return out;
  }

  /** Runs once every file is in place and durable (a removal that must come after them). */
  afterCommit(fn: () => void): void {
    this.after.push(fn);
  }

  /**
   * Flush and fsync each temp file, rename each over its file, in the order written, and fsync their
   * folders (after a rename that fails, those of the renames made before it).
   */
  commit(): void {
    const { fs } = this;
    for (const p of this.pending) p.out?.end();
    this.flush?.();
    // Without a flush, only the streamed files are still open: `write` fsynced the others.
    for (const p of this.pending) {
      if (p.fd === undefined) continue;
      fs.fsyncSync(p.fd);
      const open = p.fd;
      p.fd = undefined;
      p.out?.detach();
      fs.closeSync(open);
    }
    const dirs = new Set<string>();
    try {
      while (this.pending.length > 0) {
        const { tmp, file } = this.pending[0] as { tmp: string; file: string };
        fs.renameSync(tmp, file);
        this.pending.shift();
        dirs.add(dirname(file));
      }
    } catch (err) {
      // The files renamed before the failure stay in place: their folders are fsynced all the same.
      for (const dir of dirs) {
        try {
          fsyncDir(fs, dir);
        } catch {
          // best effort: the rename's error is the one reported
        }
      }
      throw err;
    }
    for (const dir of dirs) fsyncDir(fs, dir);
    for (const fn of this.after.splice(0)) fn();
  }

  /** Removes the temp files not renamed yet (after a failure; best effort). */
  abort(): void {
    for (const { tmp, fd, out } of this.pending.splice(0)) {
      out?.detach();
      if (fd !== undefined) closeQuietly(this.fs, fd);
      unlinkQuietly(this.fs, tmp);
    }
  }
}

const tempBeside = (file: string): string => join(dirname(file), `.${basename(file)}.${tmpName('tmp-')}`);

function closeQuietly(fs: Fs, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // the error that is being reported matters, not this one
  }
}

function unlinkQuietly(fs: Fs, path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // best effort: the temp file may never have been created, and the next run sweeps leftovers
  }
}

/**
 * Atomic replace of one file: a temp file beside it, fsync'ed, renamed over it, the folder fsync'ed
 * (AtomicWrites, for one file).
 */
export function writeFileAtomic(fs: Fs, file: string, data: string | Uint8Array | Iterable<string | Uint8Array>, mode = 0o644): void {
  const writes = new AtomicWrites(fs);
  try {
    writes.write(file, data, mode);
    writes.commit();
  } catch (err) {
    writes.abort();
    throw err;
  }
}

/**
 * Replaces a file that is only a cache (store/manifest-index.ts): a temp file beside it, renamed over
 * it, with no fsync. A crash may leave it old, torn or missing, which its reader must tell; a temp
 * file left over is removed by the next run, as any other (isAtomicTempName).
 */
export function replaceCacheFile(fs: Fs, file: string, data: Uint8Array): void {
  const tmp = tempBeside(file);
  try {
    fs.writeFileSync(tmp, data, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    unlinkQuietly(fs, tmp);
    throw err;
  }
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
export class ChunkedWriter {
  private readonly buf = Buffer.allocUnsafeSlow(WRITE_CHUNK);
  private used = 0;
  constructor(
    private readonly fs: Fs,
    private fd: number,
  ) {}

  write(piece: string | Uint8Array): void {
    const { fs, fd } = this;
    // Its file was committed or aborted: its descriptor may be another file's by now.
    if (fd < 0) throw new Error('write to a temp file already committed or aborted');
    if (typeof piece !== 'string') {
      this.end();
      fs.writeFileSync(fd, piece);
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a piece within that bound fits whole.
    if (this.used + piece.length * 3 > WRITE_CHUNK) this.end();
    if (piece.length * 3 > WRITE_CHUNK) fs.writeFileSync(fd, piece);
    else this.used += this.buf.write(piece, this.used);
  }

  /** Writes what is gathered (the writer may still be written to after). */
  end(): void {
    if (this.used > 0) this.fs.writeFileSync(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }

  /** Its descriptor is closed: any later write throws. */
  detach(): void {
    this.fd = -1;
    this.used = 0;
  }
}

function writeChunked(fs: Fs, fd: number, pieces: Iterable<string | Uint8Array>): void {
  const out = new ChunkedWriter(fs, fd);
  for (const piece of pieces) out.write(piece);
  out.end();
}

/** fsync a folder so renames and links in it survive power loss; not every filesystem allows it (Windows fsyncs no folder). */
export function fsyncDir(fs: Fs, dir: string): void {
  try {
    fsyncAndClose(fs, fs.openSync(dir, 'r'));
  } catch (err) {
    if (!isCode(err, 'EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF')) throw err;
  }
}

/** fsync, then close: closed quietly after a failed fsync (the fsync's error is the one that counts), never twice. */
function fsyncAndClose(fs: Fs, fd: number): void {
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    closeQuietly(fs, fd);
    throw err;
  }
  fs.closeSync(fd);
}

/**
 * fsync a file this program made (a copy), by its path, through a descriptor opened for writing:
 * Windows flushes no read-only one. A copy that its mode makes read-only (a version's recorded
 * mode, without root) is made writable for the open and given its mode back before the fsync,
 * which then flushes that too. Only a filesystem that cannot fsync at all (EINVAL, ENOTSUP) is let
 * be; any other failure is thrown (EIO: the drive failed).
 */
export function fsyncFile(fs: Fs, file: string): void {
  try {
    fsyncAndClose(fs, openForWriting(fs, file));
  } catch (err) {
    if (!isCode(err, 'EINVAL', 'ENOTSUP')) throw err;
  }
}

/** Opens `file` for writing, a read-only one made writable for the open and given its mode back. */
function openForWriting(fs: Fs, file: string): number {
  try {
    return fs.openSync(file, 'r+');
  } catch (err) {
    if (!isCode(err, 'EACCES', 'EPERM')) throw err;
  }
  const mode = fs.statSync(file).mode & 0o7777;
  fs.chmodSync(file, mode | 0o600);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r+');
  } finally {
    try {
      fs.chmodSync(file, mode);
    } catch (err) {
      if (fd !== undefined) closeQuietly(fs, fd);
      throw err;
    }
  }
  return fd;
}
