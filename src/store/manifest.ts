import { openIfExists, unlinkIfExists, type Fs } from '../io/fs.js';
import { AtomicWrites, fsyncDir } from '../io/atomic.js';
import { dirname } from 'node:path';
import type { StateEntry } from '../meta/entry.js';
import { StateTable } from './state-table.js';
import { asciiJson } from '../meta/ascii-json.js';
import { failure } from '../io/errors.js';
import { randomBytes } from 'node:crypto';
import { manifestDeltaOf } from './layout.js';
import { topLevelName } from '../meta/safe-path.js';
import { crc32 } from 'node:zlib';
import { indexable, MAX_INDEXED_ENTRIES, readIndexParts, readManifestIndex, type IndexFile, type ManifestIndex } from './manifest-index.js';
import type { IndexColumns } from './state-table.js';
import { HashedState } from './hashed-state.js';

/**
 * Version of the manifest: 2 adds the base `id` and the delta file beside it. Format 1 manifests are
 * read (they never have a delta) and replaced by format 2 at the next write; a build that knows only
 * format 1 refuses format 2, rather than read the base without its delta.
 */
export const MANIFEST_FORMAT = 2;
const READABLE_FORMATS: readonly number[] = [1, 2];

export interface ManifestHeader {
  hardback: 'manifest';
  format: number;
  /** Random, new at each whole write: the base a delta applies to (format 2). */
  id?: string;
  /** The id of the manifest this one replaced: a delta of that base is a leftover, not damage. */
  replaces?: string;
  /** Absolute source folder this backup belongs to (the wrong-destination guard). */
  source: string;
  /** Id of the last increment whose changes this state includes. */
  last_increment: string | null;
  written: string;
  entries: number;
  /** Entries below each top-level name (when there are at most 512): to share the next scan out fairly. */
  top?: Record<string, number>;
}

/** The delta's header: the current source, last increment, count and top counts, and the base it applies to. */
interface DeltaHeader {
  hardback: 'manifest-delta';
  format: number;
  base: string;
  source: string;
  last_increment: string | null;
  written: string;
  /** Entries of the state after the delta is applied. */
  entries: number;
  /** Lines after the header. */
  changes: number;
  top?: Record<string, number>;
}

export interface Manifest {
  /** The base's header with the delta's fields (source, last_increment, written, entries, top) when one applies. */
  header: ManifestHeader | undefined;
  entries: StateTable;
  /** Whether the base was read through its index (store/manifest-index.ts). */
  indexed: boolean;
  /** With `makeIndex`, when the base was read in full: its index, for writeManifestIndex. */
  index?: ManifestIndex;
}

export interface ReadOptions {
  /** Keeps only the entries at and below these top-level names (a scan thread's share). */
  only?: ReadonlySet<string>;
  /**
   * A base read in full (without a matching index) gives its index (`Manifest.index`): ~50 ms more
   * at 100k entries (W1: 146–172 against 179–262 ms, 6 fresh processes each), ~35–45 ms of it the
   * second path hash and the key hashes the scan's worker compares with (StateTable.indexOfLines).
   */
  makeIndex?: boolean;
}

const damaged = (file: string, what: string) => failure(`${file}: ${what}`, { hint: 'run `backup-tool verify` and see docs/format.md' });

/**
 * The manifest is the last backed-up state: a header line, then one line per entry in the
 * StateTable encoding (src/store/state-table.ts). It, not the mirror, is what a run compares against
 * (exact mtimes; the mirror's cannot be set to the nanosecond). A missing manifest is an empty state.
 * A damaged one is an error: guessing could empty a backup.
 *
 * A run that changed a little writes only a delta (manifest.delta.jsonl): the header names the base
 * (by its `id`), then one line per path changed since the base, the entry's line or `-<path JSON>`
 * for a path that left. A delta of the manifest this one `replaces` is left over from a crash just
 * after the manifest was rewritten whole (which includes it) and is ignored; any other is refused.
 *
 * Readers take no lock (backup-tool reads while a run goes on), so the delta is opened first and
 * read from that open file: a run that meanwhile rewrites the manifest whole (rename, then remove
 * the delta) leaves this reader the old delta beside the new manifest, which names it in `replaces`,
 * never the old manifest without its delta. A reader slow enough to see two such rewrites reads again.
 *
 * The base is read through its index when one of it is beside it (store/manifest-index.ts): each
 * line with its path's hash from the index, and the index's hash table, where a full read hashes
 * every path and probes the table for each. The index is used only when the bytes read are those
 * it was made of (size, CRC-32); otherwise the base is read in full,
 * so damage is named as without an index. A base opened for the index, then again in full, is
 * opened after the delta both times (the delta's guarantee above holds for either).
 *
 * `opts.only` keeps the entries at and below some top-level names (a scan thread's share,
 * scan/parallel.ts); the others are read and counted, not kept. `opts.makeIndex`: see ReadOptions.
 */
export function readManifest(fs: Fs, file: string, opts: ReadOptions = {}): Manifest {
  for (let attempt = 1; ; attempt++) {
    const r = readManifestOnce(fs, file, opts);
    if (r.mismatch === undefined) return r.manifest;
    if (attempt === 3) throw damaged(manifestDeltaOf(file), r.mismatch);
  }
}

function readManifestOnce(fs: Fs, file: string, opts: ReadOptions): { manifest: Manifest; mismatch?: undefined } | { mismatch: string } {
  const { only } = opts;
  const deltaFile = manifestDeltaOf(file);
  const deltaFd = openIfExists(fs, deltaFile);
  try {
    let entries = new StateTable();
    let count = 0;
    const makeIndex = opts.makeIndex === true && only === undefined && indexable();
    const head = (first: string): ManifestHeader => {
      const h = parseBaseHeader(file, first);
      // Room for what the header promises, and for the paths a run adds (a moved folder's, say):
      // the columns then never grow while a run holds them (a part, `only`, holds about its share).
      entries = new StateTable(Number.isSafeInteger(h.entries) ? h.entries * (only === undefined ? 1.3 : 0.7) : 0);
      return h;
    };
    // Through its index when there is one of this base to the byte (manifest-index.ts); else in full.
    // A part takes the lines of its share, and builds its buckets from their hashes.
    const index = readManifestIndex(fs, file);
    let header =
      index === undefined
        ? undefined
        : readBaseIndexed(
            fs,
            file,
            index,
            head,
            () => entries.indexColumns(index.entries, index.buckets, only === undefined),
            (text, start, end, h) => entries.adoptLineAt(text, start, end, h),
            only === undefined ? undefined : keptBelow(only),
          );
    let indexed = false;
    if (header !== undefined && index !== undefined && entries.hashesHold()) {
      if (only !== undefined) entries.hashAdopted();
      indexed = only !== undefined || entries.bucketsHold();
    }
    let made: ManifestIndex | undefined;
    if (indexed) count = (index as IndexFile).entries;
    else {
      entries = new StateTable(); // what an index read left in it, if the full read finds no file
      let crc = 0;
      let bytes = 0;
      const kept = only === undefined ? undefined : keptBelow(only);
      header = readLines(
        fs,
        file,
        head,
        (text, start, end, lineNo) => {
          count++;
          if (kept !== undefined) {
            const keep = kept(text, start, end);
            if (keep === undefined) throw damaged(file, `line ${lineNo} is damaged`);
            if (!keep) return;
          }
          const added = entries.addLineAt(text, start, end);
          if (added === 'damaged') throw damaged(file, `line ${lineNo} is damaged`);
          if (added === 'repeat') throw damaged(file, `line ${lineNo} repeats the path ${JSON.stringify(StateTable.pathAt(text, start, end))}`);
        },
        undefined,
        (chunk) => {
          bytes += chunk.length;
          if (makeIndex) crc = crc32(chunk, crc);
        },
      );
      const indexes = makeIndex && header !== undefined && count === header.entries && count > 0 && count <= MAX_INDEXED_ENTRIES && bytes <= MAX_INDEXED_BYTES;
      const lines = indexes ? entries.indexOfLines(crc) : undefined;
      if (lines !== undefined) made = { base: header?.id ?? null, bytes, crc32: crc, entries: count, ...lines };
    }
    const result = (h: ManifestHeader | undefined): { manifest: Manifest } => ({ manifest: made === undefined ? { header: h, entries, indexed } : { header: h, entries, indexed, index: made } });
    if (header === undefined) {
      // A delta without its base is what damage leaves (the base is written before any delta of it).
      if (deltaFd !== undefined) return { mismatch: 'there is a delta but no manifest' };
      return result(undefined);
    }
    if (count !== header.entries) {
      throw damaged(file, `the header promises ${header.entries} entries but ${count} were read (truncated?)`);
    }
    if (header.id === undefined) {
      if (deltaFd !== undefined) return { mismatch: 'a format 1 manifest has no delta' };
      return result(header);
    }
    const baseId = header.id;
    entries.trackChangesSince(baseId, header.entries, header.top);
    if (deltaFd === undefined) return result(header);
    const { delta, lines, stale, mismatch } = readDeltaLines(fs, deltaFd, deltaFile, baseId, header.replaces, (text, start, end, lineNo) => {
      if (only === undefined && text.charCodeAt(start) !== 45 /* - */) {
        if (entries.putLineAt(text, start, end) === 'damaged') throw damaged(deltaFile, `line ${lineNo} is damaged`);
        return;
      }
      const line = text.slice(start, end);
      const path = line.charCodeAt(0) === 45 /* - */ ? jsonPath(line.slice(1)) : StateTable.pathOfLine(line);
      if (path === undefined) throw damaged(deltaFile, `line ${lineNo} is damaged`);
      if (only !== undefined && !only.has(topLevelName(path))) return;
      if (line.charCodeAt(0) === 45) entries.delete(path);
      else entries.setLine(path, line);
    });
    if (mismatch !== undefined) return { mismatch };
    if (stale) {
      // The rest of the table's changes count from the manifest, not from the ignored delta.
      return result(header);
    }
    // A part (`only`) cannot be counted against the whole: the whole read checks it.
    if (lines !== delta.changes || (only === undefined && entries.size !== delta.entries)) {
      throw damaged(deltaFile, `the header promises ${delta.changes} changes and ${delta.entries} entries, but ${lines} and ${entries.size} were read (truncated?)`);
    }
    return result(withDelta(header, delta));
  } finally {
    if (deltaFd !== undefined) fs.closeSync(deltaFd);
  }
}

function withDelta(base: ManifestHeader, d: DeltaHeader): ManifestHeader {
  const h: ManifestHeader = { ...base, source: d.source, last_increment: d.last_increment, written: d.written, entries: d.entries };
  if (d.top === undefined) delete h.top;
  else h.top = d.top;
  return h;
}

/** A header line's JSON (unchecked: the callers check its fields). */
function headerJson<T>(file: string, text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw damaged(file, `the ${what} header is not readable JSON`);
  }
}

function parseBaseHeader(file: string, text: string): ManifestHeader {
  const header = headerJson<ManifestHeader>(file, text, 'manifest');
  if (header === null || typeof header !== 'object' || header.hardback !== 'manifest' || !READABLE_FORMATS.includes(header.format)) {
    throw failure(`${file}: not a hardback manifest of format ${READABLE_FORMATS.join(' or ')}`);
  }
  if (header.format >= 2 && (typeof header.id !== 'string' || header.id === '')) throw damaged(file, 'the manifest header has no id');
  if (header.format < 2) delete header.id; // a format 1 manifest never has a delta
  if (typeof header.replaces !== 'string') delete header.replaces;
  if (!isTopCounts(header.top)) delete header.top; // a hint only (the scan's split): wrong, it is dropped
  return header;
}

function parseDeltaHeader(file: string, text: string): DeltaHeader {
  const d = headerJson<DeltaHeader>(file, text, 'delta');
  if (d === null || typeof d !== 'object' || d.hardback !== 'manifest-delta' || d.format !== MANIFEST_FORMAT) {
    throw failure(`${file}: not a hardback manifest delta of format ${MANIFEST_FORMAT}`);
  }
  if (typeof d.base !== 'string' || typeof d.source !== 'string' || !Number.isSafeInteger(d.entries) || !Number.isSafeInteger(d.changes)) {
    throw damaged(file, 'the delta header is incomplete');
  }
  if (!isTopCounts(d.top)) delete d.top;
  return d;
}

/** A `top` as written: a plain object of counts. */
function isTopCounts(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
}

const jsonPath = (text: string): string | undefined => {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Bytes read at a time: the 20 MB manifest of a 100k-entry state is never in memory twice (bytes and
 * text). Measured at 100k entries: 1 MiB chunks peaked 8 MiB lower than 4 MiB ones in a no-change run
 * (147–149 against 156 MiB), in the same time; 2 MiB the same as 1 MiB; 512, 256 and 64 KiB higher
 * again (154–164 MiB).
 */
const READ_CHUNK = 1 << 20;

/**
 * Reads an ASCII line file (the manifest and its delta are ASCII by construction, state-table.ts; latin1
 * decodes it fastest, into one-byte strings): the first line through `head`, every other through
 * `line`. Undefined when the file does not exist. Every line, the last too, must end with a newline:
 * a file cut inside its last line is refused (a cut at a line boundary fails the caller's count).
 * `skip` may end the reading early (after the header).
 */
function readLines<H>(fs: Fs, file: string, head: (text: string) => H, line: LineSink, skip?: () => boolean, onChunk?: (bytes: Buffer) => void): H | undefined {
  const fd = openIfExists(fs, file);
  if (fd === undefined) return undefined;
  try {
    return readLinesFrom(fs, fd, file, head, line, skip, onChunk);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where each line after the header goes: the line is text[start, end), `text` being the chunk read
 * (the line is followed by its newline there) or, for a line across two chunks, a string of its own.
 */
type LineSink = (text: string, start: number, end: number, lineNo: number) => void;

/**
 * readLines on an open file (from its current offset: the start). `onChunk` sees each chunk's
 * bytes as read (until `skip` ends the reading).
 */
function readLinesFrom<H>(fs: Fs, fd: number, file: string, head: (text: string) => H, line: LineSink, skip?: () => boolean, onChunk?: (bytes: Buffer) => void): H {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let header: H | undefined;
  let lineNo = 0;
  let carry = '';
  const take = (text: string, start: number, end: number): void => {
    lineNo++;
    if (lineNo === 1) {
      if (end - start > MAX_HEADER) throw damaged(file, `the header line is longer than ${MAX_HEADER} bytes`);
      header = head(text.slice(start, end));
    } else line(text, start, end, lineNo);
  };
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    onChunk?.(buf.subarray(0, n));
    const text = buf.toString('latin1', 0, n);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      if (start === 0 && carry !== '') {
        const whole = carry + text.slice(0, nl);
        take(whole, 0, whole.length);
      } else take(text, start, nl);
      carry = '';
      start = nl + 1;
      if (lineNo === 1 && skip?.() === true) return header as H;
    }
    carry += text.slice(start);
  }
  if (carry !== '') {
    const cut = lineNo + 1;
    if (lineNo === 0) take(carry, 0, carry.length); // a header without its newline: named as unreadable, or as cut below
    throw damaged(file, `line ${cut} is cut short (truncated?)`);
  }
  if (lineNo === 0) throw damaged(file, 'the manifest header is not readable JSON');
  return header as H;
}

/** At most this many bytes are indexed (the index's integers are 32-bit). */
const MAX_INDEXED_BYTES = 0x7fffffff;

/** Thrown inside readBaseIndexed and readHashedManifest when the file is not the one its index is of: the caller reads it otherwise. */
const NOT_INDEXED = new Error('not the indexed base');

/**
 * The manifest as the scan's worker compares with it (store/hashed-state.ts): through its index
 * only, the base's lines never decoded, a delta applied as readManifest applies it. The base is still
 * read, for its size and CRC-32 against the index's: the index is a cache, used only for the bytes
 * it was made of. Undefined when there is no index of this base, or anything does not match or
 * cannot be read: the worker then reads the manifest as text (readManifest), which names damage.
 */
export function readHashedManifest(fs: Fs, file: string): { state: HashedState; base: string | null } | undefined {
  if (!indexable()) return undefined;
  const index = readManifestIndex(fs, file);
  if (index === undefined) return undefined;
  const deltaFile = manifestDeltaOf(file);
  let deltaFd: number | undefined;
  let fd: number | undefined;
  try {
    // The delta first, as readManifest opens it.
    deltaFd = openIfExists(fs, deltaFile);
    fd = openIfExists(fs, file);
    if (fd === undefined) return undefined;
    const n = index.entries;
    const hashes = new Int32Array(n);
    const checks = new Int32Array(n);
    const keys = new Int32Array(2 * n);
    if (!readIndexParts(fs, index, hashes, undefined, { checks, keys })) return undefined;
    // The base's bytes, their CRC-32, and its header line (in the first chunk, or the index is not used).
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let header: ManifestHeader | undefined;
    let bytes = 0;
    let crc = 0;
    for (;;) {
      const got = fs.readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      if (header === undefined) {
        const nl = buf.indexOf(10);
        if (nl < 0 || nl >= got) return undefined;
        header = parseBaseHeader(file, buf.toString('latin1', 0, nl));
        if (header.entries !== n || (header.id ?? null) !== index.base) return undefined;
      }
      bytes += got;
      if (bytes > index.bytes) return undefined;
      crc = crc32(buf.subarray(0, got), crc);
    }
    if (header === undefined || bytes !== index.bytes || crc !== index.crc32) return undefined;
    const state = new HashedState(hashes, checks, keys, index.crc32);
    const base = header.id;
    if (base === undefined) return deltaFd === undefined ? { state, base: null } : undefined;
    if (deltaFd === undefined) return { state, base };
    const { delta, lines, stale, mismatch } = readDeltaLines(fs, deltaFd, deltaFile, base, header.replaces, (text, start, end) => {
      if (text.charCodeAt(start) === 45 /* - */) {
        const path = jsonPath(text.slice(start + 1, end));
        if (path === undefined) throw NOT_INDEXED;
        state.delete(path);
        return;
      }
      const path = StateTable.pathAt(text, start, end);
      if (path === undefined) throw NOT_INDEXED;
      // The quick key as keyAt reads it, up to the next tab (a line with none there is damage).
      const key = text.indexOf('\t', start) + 1;
      const tab = text.indexOf('\t', key);
      if (tab < 0 || tab >= end) throw NOT_INDEXED;
      state.put(path, text, key, tab);
    });
    if (mismatch !== undefined) return undefined;
    if (stale) return { state, base };
    return lines === delta.changes && state.size() === delta.entries ? { state, base } : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (deltaFd !== undefined) fs.closeSync(deltaFd);
  }
}

/**
 * The lines of the delta open at `fd`, each given to `line` and counted, when it is of the base
 * `baseId`. One of the base that base `replaces` is left over from a crash between the whole write
 * that replaced it and its removal (writeManifest), and the manifest includes it: `stale`, and no
 * line is read. Any other base is damage, never skipped silently: `mismatch` says so.
 */
function readDeltaLines(
  fs: Fs,
  fd: number,
  file: string,
  baseId: string,
  replaces: string | undefined,
  line: LineSink,
): { delta: DeltaHeader; lines: number; stale: boolean; mismatch: string | undefined } {
  let lines = 0;
  let stale = false;
  let mismatch: string | undefined;
  const delta = readLinesFrom(
    fs,
    fd,
    file,
    (first) => {
      const d = parseDeltaHeader(file, first);
      stale = d.base !== baseId;
      if (stale && d.base !== replaces) mismatch = `the delta is of manifest ${d.base}, not of this one (${baseId})`;
      return d;
    },
    (text, start, end, lineNo) => {
      lines++;
      line(text, start, end, lineNo);
    },
    () => stale,
  );
  return { delta, lines, stale, mismatch };
}

/**
 * The base read through its index: read as readLinesFrom reads it (a chunk at a time, each line in
 * its chunk or a string of its own), its header through `head`, then line i given to `adopt` with
 * the index's hash i. Undefined when the file is not the one the index is of, to the byte (the
 * header's id and count, the size, the CRC-32), or anything in it cannot be read: the caller then
 * reads it in full, which names damage.
 */
function readBaseIndexed(
  fs: Fs,
  file: string,
  index: IndexFile,
  head: (text: string) => ManifestHeader,
  columns: () => IndexColumns | undefined,
  adopt: (text: string, start: number, end: number, hash: number) => boolean,
  kept?: (text: string, start: number, end: number) => boolean | undefined,
): ManifestHeader | undefined {
  const fd = openIfExists(fs, file);
  if (fd === undefined) return undefined;
  const n = index.entries;
  let hashes: Int32Array = new Int32Array(0);
  let count = 0;
  let bytes = 0;
  let crc = 0;
  try {
    const header = readLinesFrom(
      fs,
      fd,
      file,
      (text) => {
        const h = head(text);
        if (h.entries !== n || (h.id ?? null) !== index.base) throw NOT_INDEXED;
        // Only now, the table made (`head`): the index's hashes (and buckets) are read into it.
        const into = columns();
        if (into === undefined) throw NOT_INDEXED;
        hashes = into.hashes;
        if (!readIndexParts(fs, index, hashes, into.buckets)) throw NOT_INDEXED;
        return h;
      },
      (text, start, end) => {
        if (count === n) throw NOT_INDEXED;
        const keep = kept === undefined || kept(text, start, end);
        if (keep === undefined || (keep && !adopt(text, start, end, hashes[count] as number))) throw NOT_INDEXED;
        count++;
      },
      undefined,
      (chunk) => {
        bytes += chunk.length;
        if (bytes > index.bytes) throw NOT_INDEXED;
        crc = crc32(chunk, crc);
      },
    );
    return count === n && bytes === index.bytes && crc === index.crc32 ? header : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether a manifest line's path is at or below one of `names` (undefined: the line is damaged). The
 * lines come in the order a walk found them, each top-level folder's together: a line that starts
 * with the same `"name/` as the last one decided is decided alike, without decoding its path (half
 * the lines a scan worker reads are not its share; decoding each path cost it ~40 ms of 100k).
 * Only a name written plainly (no escape) is remembered so: the raw text then equals the name. A
 * line not kept is not checked further; the main thread's read of the whole manifest checks it.
 */
function keptBelow(names: ReadonlySet<string>): (text: string, start: number, end: number) => boolean | undefined {
  let prefix = '';
  let keepPrefix = false;
  return (text, start, end) => {
    if (prefix !== '' && text.startsWith(prefix, start)) return keepPrefix;
    const path = StateTable.pathAt(text, start, end);
    if (path === undefined) return undefined;
    const top = topLevelName(path);
    const keep = names.has(top);
    const slash = start + 1 + top.length;
    if (top.length < path.length && text.charCodeAt(slash) === 47 /* / */ && text.startsWith(top, start + 1)) {
      prefix = text.slice(start, slash + 1);
      keepPrefix = keep;
    }
    return keep;
  };
}

/** A header line is at most this long (readManifestHeader reads no further). */
const MAX_HEADER = 1 << 20;

/**
 * Only the header (the recorded source, entries and top counts; the delta's when one applies),
 * without reading the entries. Undefined when there is no manifest, or when its header or a delta's
 * cannot be read: readManifest then names the damage.
 */
export function readManifestHeader(fs: Fs, file: string): ManifestHeader | undefined {
  let base: ManifestHeader;
  try {
    const line = readFirstLine(fs, file);
    if (line === undefined) return undefined;
    base = parseBaseHeader(file, line);
  } catch {
    return undefined;
  }
  if (base.id === undefined) return base;
  try {
    const line = readFirstLine(fs, manifestDeltaOf(file));
    if (line === undefined) return base;
    const d = parseDeltaHeader(file, line);
    if (d.base === base.id) return withDelta(base, d);
    return d.base === base.replaces ? base : undefined;
  } catch {
    return undefined;
  }
}

/** The first line of a file (at most MAX_HEADER bytes), undefined when the file does not exist. */
function readFirstLine(fs: Fs, file: string): string | undefined {
  const fd = openIfExists(fs, file);
  if (fd === undefined) return undefined;
  try {
    // 64 KiB holds any header of a few hundred top-level names; more is read only when needed.
    let buf = Buffer.allocUnsafe(64 << 10);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (buf.length >= MAX_HEADER) break;
        const bigger = Buffer.allocUnsafe(buf.length * 4);
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = fs.readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      const nl = buf.indexOf(10, n);
      n += got;
      if (nl >= 0 && nl < n) break;
    }
    const text = buf.toString('latin1', 0, n);
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes the state: as a delta beside the base when the table was read from a format 2 manifest and
 * changed by at most an eighth of it since (StateTable.delta), else whole, with a new id, after which
 * the old delta is removed. Both are atomic replaces (io/atomic.ts). A crash between the whole
 * write and the removal leaves a delta of the old base, which readManifest ignores.
 *
 * `writes`: the replace joins these (io/atomic.ts AtomicWrites), and is in place once they are
 * committed; without it, it is in place when this returns.
 */
export function writeManifest(
  fs: Fs,
  file: string,
  info: { source: string; lastIncrement: string | null },
  entries: StateTable | EncodedState | Iterable<StateEntry>,
  writes?: AtomicWrites,
): void {
  if (writes === undefined) {
    const own = new AtomicWrites(fs);
    try {
      writeManifest(fs, file, info, entries, own);
      own.commit();
    } catch (err) {
      own.abort();
      throw err;
    }
    return;
  }
  const table = entries instanceof StateTable || isEncoded(entries) ? entries : StateTable.from(entries);
  const written = new Date().toISOString();
  const delta = table instanceof StateTable ? table.delta() : undefined;
  if (table instanceof StateTable && delta !== undefined) {
    const header: DeltaHeader = {
      hardback: 'manifest-delta',
      format: MANIFEST_FORMAT,
      base: delta.baseId,
      source: info.source,
      last_increment: info.lastIncrement,
      written,
      entries: table.size,
      changes: table.deltaSize(),
    };
    const top = table.topCounts();
    if (top !== undefined && Object.keys(top).length <= MAX_TOP_NAMES) header.top = top;
    writes.write(manifestDeltaOf(file), deltaText(header, delta.changes));
    return;
  }
  // The delta on the drive is of the manifest on the drive (kept until the new manifest is in place:
  // then it is a leftover the new one names in `replaces`), or an older leftover, removed first (and
  // durably: on a drive that does not keep metadata in order, the new manifest could otherwise
  // land beside it), so a delta on the drive is always of the manifest or of the one it replaced.
  // Both ids are read from the drive, not from the table, which may not have been read from it.
  const current = headerString(fs, file, 'id') ?? undefined;
  const deltaFile = manifestDeltaOf(file);
  const onDrive = headerString(fs, deltaFile, 'base');
  if (onDrive !== undefined && onDrive !== current) {
    unlinkIfExists(fs, deltaFile);
    fsyncDir(fs, dirname(deltaFile));
  }
  const header: ManifestHeader = {
    hardback: 'manifest',
    format: MANIFEST_FORMAT,
    id: randomBytes(8).toString('hex'),
    ...(current === undefined ? {} : { replaces: current }),
    source: info.source,
    last_increment: info.lastIncrement,
    written,
    entries: table.size,
  };
  const top = table instanceof StateTable ? topLevelCounts(table.keys()) : table.topCounts();
  if (top !== undefined) header.top = top;
  writes.write(file, manifestText(header, table));
  writes.afterCommit(() => {
    unlinkIfExists(fs, deltaFile);
    if (table instanceof StateTable) table.trackChangesSince(header.id as string, header.entries, header.top);
  });
}

/**
 * A state given as its manifest lines, already encoded (a first run's: apply/run-state.ts): written
 * whole, as it is.
 */
export interface EncodedState {
  readonly size: number;
  /** Entries per top-level name (undefined past MAX_TOP_NAMES names). */
  topCounts(): Record<string, number> | undefined;
  /** The lines, newline-terminated, in pieces that end at a line end. */
  chunks(): Iterable<Uint8Array>;
}

const isEncoded = (v: unknown): v is EncodedState => typeof (v as Partial<EncodedState>).chunks === 'function';

/**
 * A string field of a file's header line: undefined when the file does not exist, null when its
 * header cannot be read or has no such string (the manifest's `id`, the delta's `base`).
 */
function headerString(fs: Fs, file: string, field: string): string | null | undefined {
  let line: string | undefined;
  try {
    line = readFirstLine(fs, file);
    if (line === undefined) return undefined;
    const v: unknown = (JSON.parse(line) as Record<string, unknown>)[field];
    return typeof v === 'string' && v !== '' ? v : null;
  } catch {
    return line === undefined ? undefined : null;
  }
}

/** Line by line: AtomicWrites writes it a MiB at a time, never the whole 20 MB of a 100k-entry state at once. */
function* manifestText(header: ManifestHeader, table: StateTable | EncodedState): Generator<string | Uint8Array> {
  yield `${asciiJson(header)}\n`;
  if (table instanceof StateTable) yield* table.linePieces();
  else yield* table.chunks();
}

function* deltaText(header: DeltaHeader, changes: Iterable<{ path: string; line: string | undefined }>): Generator<string> {
  yield `${asciiJson(header)}\n`;
  for (const c of changes) yield c.line === undefined ? `-${asciiJson(c.path)}\n` : `${c.line}\n`;
}

export const MAX_TOP_NAMES = 512;

/** Entries per top-level name, for a manifest's header (`top`); none past MAX_TOP_NAMES names. */
export class TopLevelCounts {
  private counts: Map<string, number> | undefined = new Map();
  add(path: string): void {
    if (this.counts === undefined) return;
    const top = topLevelName(path);
    this.counts.set(top, (this.counts.get(top) ?? 0) + 1);
    if (this.counts.size > MAX_TOP_NAMES) this.counts = undefined;
  }
  result(): Record<string, number> | undefined {
    return this.counts === undefined ? undefined : Object.fromEntries(this.counts);
  }
}

function topLevelCounts(paths: Iterable<string>): Record<string, number> | undefined {
  const counts = new TopLevelCounts();
  for (const path of paths) counts.add(path);
  return counts.result();
}
