import { createHash } from 'node:crypto';
import { openIfExists, type Fs } from '../io/fs.js';
import { linePieces, piecesLines } from '../io/line-pieces.js';
import { isCode } from '../io/errors.js';
import { asciiJson } from '../meta/ascii-json.js';
import type { StateEntry } from '../meta/entry.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { isIncrementId } from './ids.js';
import { TMP_PREFIX } from './layout.js';
import { failure } from '../io/errors.js';
import { checkRecord } from '../meta/increment.js';
import type { Layout } from './layout.js';

/**
 * Write-ahead journal of the run in progress (.hardback/journal.jsonl). Each line is
 * `<8 hex of fnv1a32(json)> <json>`, so a torn or damaged line is recognised and dropped; the json
 * is ASCII (lineJson).
 * The first line is the header; every other line announces one change to the mirror BEFORE it is
 * made. After a crash, `happened` decides from the disk which announced changes happened.
 */

export interface JournalHeader {
  journal: 1;
  id: string;
  profile: string;
  source: string;
  started: string;
  link_mode: 'hardlink' | 'copy';
}

export type JournalOp =
  /** A file or symlink version: `tmp` (in .hardback/tmp) is renamed to mirror/<path>; tracked ones are linked into files/ first. */
  | { op: 'put'; kind: 'new' | 'changed'; entry: StateEntry; tmp: string; moved_from?: string }
  | { op: 'mkdir'; entry: StateEntry }
  /** A folder's mode (or tracked flag) changed. */
  | { op: 'dirmode'; entry: StateEntry }
  /** The entry leaves the mirror; tracked files are linked into deleted/ first. */
  | { op: 'del'; entry: StateEntry };

/**
 * FNV-1a (32 bits) over the UTF-16 code units of `text`: the check of a journal line, as a reader
 * takes it (the writer takes the same over the line's bytes: fnv1a32Bytes). It only has to catch a
 * torn or damaged line, not an adversary (the contents are validated anyway), and a sha256 per line
 * was a tenth of the main thread's time in a 100k-file run.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** fnv1a32 over bytes: over the UTF-8 of a text, the same number as over the text when it is ASCII. */
export function fnv1a32Bytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const hex8 = (check: number): string => check.toString(16).padStart(8, '0');
const lineCheck = (json: string): string => hex8(fnv1a32(json));

/** All of `bytes`, however many write(2) calls it takes (a short write is rare, but allowed). */
function writeAll(fs: Fs, fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) {
    const n = fs.writeSync(fd, bytes, off, bytes.length - off);
    if (n <= 0) throw Object.assign(new Error('the journal could not be written (write returned 0)'), { code: 'EIO' });
    off += n;
  }
}

/**
 * The JSON of a journal line, in ASCII (every other character escaped as \uXXXX, as in the manifest):
 * its check is then the same over its text and over its bytes, and the writer takes it over the
 * bytes it has just written (over the text's code units: ~0.1 s more per 100k lines, alone). An
 * op's JSON is made by hand, its fields in newEntry's order: the generic JSON.stringify of the same
 * object took twice as long.
 */
export function lineJson(value: JournalHeader | JournalOp): string {
  if (!('op' in value)) return asciiJson(value);
  let s = `{"op":"${value.op}"`;
  if (value.op === 'put') s += `,"kind":"${value.kind}"`;
  s += `,"entry":${entryJson(value.entry)}`;
  if (value.op === 'put') {
    s += `,"tmp":${asciiJson(value.tmp)}`;
    if (value.moved_from !== undefined) s += `,"moved_from":${asciiJson(value.moved_from)}`;
  }
  return `${s}}`;
}

/**
 * A StateEntry's JSON: what JSON.stringify gives for its fields, in ASCII. The free-form text (names,
 * targets) is escaped; the rest is of formats checked wherever an entry comes from: the scan makes
 * them, and a manifest's reader refuses a line whose mtime_ns, sha256, since or ino is not of its
 * format (store/state-table.ts decode).
 */
function entryJson(e: StateEntry): string {
  let s = `{"path":${asciiJson(e.path)},"type":"${e.type}","size":${e.size},"mtime_ns":"${e.mtime_ns}","mode":${e.mode},"uid":${e.uid},"gid":${e.gid},"tracked":${e.tracked}`;
  if (e.target !== undefined) s += `,"target":${asciiJson(e.target)}`;
  if (e.ino !== undefined) s += `,"ino":"${e.ino}"`;
  if (e.sha256 !== undefined) s += `,"sha256":"${e.sha256}"`;
  if (e.since !== undefined) s += `,"since":"${e.since}"`;
  return `${s}}`;
}

/** The most bytes writeLine takes for `json`: UTF-8 takes at most 3 per UTF-16 unit; the check, its space and the newline 10. */
export const maxLineBytes = (json: string): number => json.length * 3 + 10;

/**
 * Writes the line of `json` into `buf` at `at` (room for maxLineBytes(json) there), and returns where
 * it ends. The JSON is written first, after room for its check, and checked over its bytes when they
 * are as many as its characters (ASCII, as lineJson makes it): then the check over the bytes is the
 * one over the text. Any other JSON is checked over its text, so a reader never drops a line over a
 * character left unescaped.
 */
export function writeLine(buf: Buffer, at: number, json: string): number {
  const start = at + 9;
  const end = start + buf.write(json, start);
  buf.write(hex8(end - start === json.length ? fnv1a32Bytes(buf, start, end) : fnv1a32(json)), at, 'latin1');
  buf[start - 1] = 32;
  buf[end] = 10;
  return end + 1;
}

export function encodeLine(value: JournalHeader | JournalOp): string {
  const json = lineJson(value);
  return `${lineCheck(json)} ${json}\n`;
}

const LOWER_HEX8 = /^[0-9a-f]{8}$/;

function decodeLine(line: string): unknown {
  const sp = line.indexOf(' ');
  if (sp !== 8) return undefined;
  const json = line.slice(9);
  const check = line.slice(0, 8);
  // Compared as a number: a hex string made for each line cost recovery ~0.4 s per 648,000.
  const expected = LOWER_HEX8.test(check) ? parseInt(check, 16) : -1;
  // Journals written before the check was FNV-1a carried 8 hex digits of sha256: a journal left by an
  // interrupted run of such a build is still finished, not dropped.
  if (fnv1a32(json) !== expected && createHash('sha256').update(json).digest('hex').slice(0, 8) !== check) return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

export class JournalWriter {
  private fd: number;
  private readonly fs: Fs;
  constructor(fs: Fs, file: string, header: JournalHeader) {
    this.fs = fs;
    this.fd = fs.openSync(file, 'wx', 0o644);
    try {
      this.appendValue(header);
      this.sync();
    } catch (err) {
      this.close();
      throw err;
    }
  }
  /**
   * The announcements not written yet, as the bytes of their lines: made strings joined per batch
   * (a line is a rope of its checksum and its JSON) cost the main thread of a 100k-file first run
   * ~0.4 s more (CPU profile, ext4 image). Grown when a batch needs it, and kept.
   */
  private pending = Buffer.allocUnsafeSlow(1 << 20);
  private used = 0;
  /** Buffers an announcement: it must be flushed before the change it announces is made. */
  append(op: JournalOp): void {
    this.appendValue(op);
  }
  /** The line of `value`: encodeLine's, as bytes. */
  private appendValue(value: JournalHeader | JournalOp): void {
    const json = lineJson(value);
    const need = this.used + maxLineBytes(json);
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, this.pending.length * 2));
      this.pending.copy(grown, 0, 0, this.used);
      this.pending = grown;
    }
    this.used = writeLine(this.pending, this.used, json);
  }
  /**
   * Writes the buffered announcements in one write(2): after it returns they survive a kill -9 (the
   * page cache outlives the process). Unflushed lines announce changes not yet made, so dropping
   * them is safe.
   */
  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    writeAll(this.fs, this.fd, this.pending.subarray(0, n));
  }
  /** Flushes and makes every announced line durable (power loss): before a batch of puts is made. */
  sync(): void {
    this.flush();
    this.fs.fsyncSync(this.fd);
  }
  /**
   * sync, with the fsync on libuv's threadpool: this thread goes on (copying) while the drive
   * commits. The lines are written at once; what is appended meanwhile is in the next sync.
   */
  syncAsync(): Promise<void> {
    this.flush();
    const fd = this.fd;
    return new Promise((resolve, reject) => this.fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  }
  close(): void {
    if (this.fd >= 0) this.fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Bytes the journal's reader reads at a time. */
const READ_CHUNK = 1 << 20;

/**
 * A journal opened for reading: its header, and its announced changes read as they are needed. A
 * run of a million files announces ~380 MB of them: read whole, as one string split into lines and
 * parsed, the recovery of 648,000 took 1.74 GiB of memory, and from ~1.4 million lines the text is
 * longer than the longest string V8 makes (2^29 - 24 characters): no run could have started again.
 */
export interface JournalFile {
  header: JournalHeader;
  /**
   * The announced changes, in order, each line decoded as the file is read (1 MiB at a time): none
   * is held once the caller moves on. Each call reads the file again (the one opened, through its
   * descriptor: not one put in its place since, and no inode number is relied on, which FAT and
   * exFAT do not keep), from the line after the header up to its size when it was opened, so every
   * call gives the same changes even while a live run appends to it. A line that is torn,
   * fails its check or announces no valid change is skipped (and counted in `dropped`).
   */
  ops(): Generator<JournalOp>;
  /** Lines of the last call to `ops` read to its end that were skipped. */
  readonly dropped: number;
  /**
   * Of those, the lines that were whole (a torn last one aside): damaged, or announcing no valid
   * change. The writer makes none; recovery names how many it ignored.
   */
  readonly damaged: number;
  /**
   * Closes the file (each reading is of the file opened, by its descriptor). Quietly: a close that
   * fails (a drive pulled out) must not hide the error that brought a caller's `finally` here.
   */
  close(): void;
}

export interface ReadJournal {
  header: JournalHeader;
  ops: JournalOp[];
  /** Lines skipped (JournalFile.dropped): torn, failing their check, or announcing no valid change. */
  dropped: number;
}

/** Every change of the journal at once (openJournal's, into an array): for tests and their helpers. */
export function readJournal(fs: Fs, file: string): ReadJournal | undefined {
  const journal = openJournal(fs, file);
  if (journal === undefined) return undefined;
  try {
    const ops = [...journal.ops()];
    return { header: journal.header, ops, dropped: journal.dropped };
  } finally {
    journal.close();
  }
}

const NOT_OURS = { hint: 'if no backup is running, move the file away and run `backup-tool verify`' };

/**
 * Opens the journal: undefined when there is none, or its header never became durable (torn, or
 * failing its check); a header that names no increment, or is longer than 1 MiB, is refused (an
 * error). `chunk`: the bytes `ops` reads at a time (tests make it small).
 */
export function openJournal(fs: Fs, file: string, chunk = READ_CHUNK): JournalFile | undefined {
  const fd = openIfExists(fs, file);
  if (fd === undefined) return undefined;
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    try {
      fs.closeSync(fd);
    } catch {
      // nothing more to read from it; the caller's own error, if any, is the one to report
    }
  };
  /** The descriptor, for each read: a reading resumed after close must not read another file's. */
  const descriptor = (): number => {
    if (!open) throw new Error(`${file}: the journal was closed`);
    return fd;
  };
  try {
    const size = fs.fstatSync(fd).size;
    let first = Buffer.allocUnsafe(Math.min(READ_CHUNK, size));
    first = first.subarray(0, readFully(fs, fd, first, 0));
    const nl = first.indexOf(10);
    if (nl < 0) {
      // A header is far shorter than 1 MiB: one without its newline is torn, unless the file goes on
      // (then it is not ours, and recovery must not remove it as torn).
      if (first.length < size) throw failure(`${file}: the journal header is longer than ${first.length} bytes; refusing to recover from it`, NOT_OURS);
      close();
      return undefined;
    }
    const header = decodeLine(first.toString('utf8', 0, nl)) as JournalHeader | undefined;
    if (header === undefined || header.journal !== 1) {
      close();
      return undefined;
    }
    // A header that passed its checksum but names no increment is not ours: recovery would act on
    // paths it builds from that id. Refuse by name rather than guess.
    if (typeof header.id !== 'string' || !isIncrementId(header.id) || typeof header.source !== 'string') {
      throw failure(`${file}: the journal header names no valid increment (${JSON.stringify(header.id)}); refusing to recover from it`, NOT_OURS);
    }
    const bodyStart = nl + 1;
    let dropped = 0;
    let damaged = 0;
    return {
      header,
      get dropped() {
        return dropped;
      },
      get damaged() {
        return damaged;
      },
      *ops() {
        descriptor();
        let skipped = 0;
        let torn = 0;
        // No bound on a line's length (a long one is damaged, and skipped); a last one without its
        // newline is torn.
        const read = (buf: Buffer, at: number, length: number, position: number) => fs.readSync(descriptor(), buf, at, length, position);
        for (const line of piecesLines(linePieces(read, chunk, { from: bodyStart, to: size, longest: Infinity }), true)) {
          if (line === undefined) torn++;
          const op = line === undefined ? undefined : (decodeLine(line) as JournalOp | undefined);
          if (op === undefined || typeof op !== 'object' || !isSafeRelPath(op.entry?.path) || !isKnownOp(op) || entryProblem(op.entry) !== undefined) {
            skipped++;
            continue;
          }
          yield op;
        }
        dropped = skipped;
        damaged = skipped - torn;
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

/**
 * Whether each change of a journal happened, a byte each (a million changes: 1 MB), in the order
 * `ops()` gives them: judged in one reading, acted on in another (doneOps).
 */
export class Verdicts {
  private bytes = new Uint8Array(1 << 16);
  length = 0;
  push(done: boolean): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = done ? 1 : 0;
  }
  done(i: number): boolean {
    return i < this.length && this.bytes[i] === 1;
  }
  /**
   * Each change that happened, read from the journal again. An error once the reading ends with
   * another count of changes than were judged (a journal whose lines are the same in number, but
   * not in content, is not told apart: only the lock's holder writes it).
   */
  *doneOps(journal: JournalFile, file: string): Generator<JournalOp> {
    let i = 0;
    for (const op of journal.ops()) if (this.done(i++)) yield op;
    if (i !== this.length) throw failure(`${file} changed while it was read (${this.length} changes, then ${i})`, { hint: 'if no backup is running, run the command again' });
  }
}

/**
 * What the entry of a journal line must be to be acted on: of fields of their formats, as a record's
 * are (checkRecord), with a `since` that names an increment. A line that passed its check was
 * written so; any other is skipped as a damaged one is (the catalog skips such manifest entries too).
 */
export function entryProblem(v: unknown): string | undefined {
  const bad = checkRecord(v);
  if (bad !== undefined) return bad;
  const since = (v as { since?: unknown }).since;
  return since !== undefined && !(typeof since === 'string' && isIncrementId(since)) ? `${(v as { path: string }).path}: bad since` : undefined;
}

/** Reads into `buf` from `position` until it is full or the file ends; the bytes read. */
function readFully(fs: Fs, fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Which announced changes happened, judged read-only from the disk:
 * - put: its temp file is gone (it was renamed into the mirror, the last step of a put);
 * - mkdir: the mirror holds a folder there;
 * - dirmode: always (re-applying a mode is harmless);
 * - del: the mirror no longer holds the path, or holds another type there (a type swap's new
 *   entry, made only after the deletion finished). A deletion that failed leaves the old type.
 * A path below something that is no longer a folder counts as absent (ENOTDIR).
 */
/** Whether one announced change happened (above): judged from the disk alone, so in any order. */
export function happened(fs: Fs, layout: Layout, op: JournalOp): boolean {
  switch (op.op) {
    case 'put':
      // A plain name of ours (isKnownOp): no path.join for each of a million.
      return !exists(fs, `${layout.tmp}/${op.tmp}`);
    case 'mkdir':
      return lstatIfAny(fs, layout.mirrorPath(op.entry.path))?.isDirectory() === true;
    case 'dirmode':
      return true;
    case 'del': {
      const st = lstatIfAny(fs, layout.mirrorPath(op.entry.path));
      return st === undefined || (st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file') !== op.entry.type;
    }
  }
}

/** The state after one change that happened. */
export function applyOp(entries: Map<string, StateEntry>, op: JournalOp): void {
  if (op.op === 'del') entries.delete(op.entry.path);
  else entries.set(op.entry.path, op.entry);
}

function lstatIfAny(fs: Fs, p: string): ReturnType<Fs['lstatSync']> | undefined {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false });
  } catch (err) {
    if (isCode(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

function exists(fs: Fs, p: string): boolean {
  return lstatIfAny(fs, p) !== undefined;
}

/** A journal op of a known kind; a put's temp file must be a plain name of ours in .hardback/tmp. */
function isKnownOp(op: JournalOp): boolean {
  switch (op.op) {
    case 'put':
      return typeof op.tmp === 'string' && op.tmp.startsWith(TMP_PREFIX) && !/[/\\]/.test(op.tmp) && (op.kind === 'new' || op.kind === 'changed');
    case 'mkdir':
    case 'dirmode':
    case 'del':
      return true;
    default:
      return false;
  }
}
