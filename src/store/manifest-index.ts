import { crc32 } from 'node:zlib';
import { endianness } from 'node:os';
import { manifestIndexOf } from './layout.js';
import type { Fs } from '../io/fs.js';
import { replaceCacheFile } from '../io/atomic.js';

/**
 * The manifest's index (.hardback/manifest.index): for the manifest's base exactly as it is on the
 * drive (its size and CRC-32), each entry's path hash, in the order of the lines, and the hash
 * table's buckets, as StateTable builds them. A reader that finds it matching takes each line's hash
 * and the table as they were built (store/manifest.ts), where it would otherwise hash every
 * path and probe the table for each: at 100k entries, hashing and probing were ~85 ms of a ~150 ms
 * read, the first thing a run does before it walks.
 *
 * A cache, never the record: a run that reads the manifest in full (no index, or one of another
 * base) leaves one for the next; one that does not match to the byte, or cannot be read, is not used,
 * and nothing else depends on it. So it is written without a flush (a power cut that tears it leaves
 * an index whose own CRC fails), and a run that rewrites the manifest whole leaves the old one to be
 * replaced by the next run that reads the base in full.
 *
 * Format: one line of JSON (ASCII), then little-endian 32-bit integers: `entries` path hashes, one
 * per line after the manifest's header, then `buckets` buckets (0 empty, else line number + 1), then
 * `entries` second path hashes and 2 × `entries` quick key hashes (two per line), which the scan's
 * worker compares with (store/hashed-state.ts; their hashing starts from the base's CRC-32).
 * `data_crc32` is the CRC-32 of the hashes, `buckets_crc32` that of the buckets, `checks_crc32` and
 * `keys_crc32` those of the others.
 *
 * A reader takes the header first (readManifestIndex), then each part straight into where it is
 * used (readIndexParts): the hashes into the state table's own column, the buckets into its own
 * table (the scan's worker: the hashes and the others into its HashedState). Read as one buffer, the index
 * of a 1M-entry manifest (16 MB) stood beside those in both scan threads, and a no-change run with a
 * large delta peaked at 601–602 MiB where it had at 558–559 MiB without an index (W3).
 */
export interface ManifestIndex {
  /** The `id` of the manifest's header (null for a format 1 manifest, which has none). */
  base: string | null;
  /** The manifest's size in bytes and its CRC-32: the file this index is of. */
  bytes: number;
  crc32: number;
  entries: number;
  hashes: Int32Array;
  buckets: Int32Array;
  /** Per line, its path's second hash, and its quick key's two (A then B): store/hashed-state.ts. */
  checks: Int32Array;
  keys: Int32Array;
}

interface IndexHeader {
  hardback: 'manifest-index';
  format: number;
  base: string | null;
  bytes: number;
  crc32: number;
  entries: number;
  buckets: number;
  data_crc32: number;
  buckets_crc32: number;
  checks_crc32: number;
  keys_crc32: number;
}

/** An index on the drive as its header describes it: its parts are read by readIndexParts. */
export interface IndexFile {
  file: string;
  base: string | null;
  bytes: number;
  crc32: number;
  entries: number;
  buckets: number;
  /** Where the integers start in the file, and their CRC-32s. */
  offset: number;
  dataCrc: number;
  bucketsCrc: number;
  checksCrc: number;
  keysCrc: number;
}

/**
 * 4: after the buckets, each line's second path hash and quick key hashes (store/line-hashes.ts),
 * for the scan's worker, the second ones started from the base's CRC-32 (3, the same hashes from a
 * fixed start, was never released). 2: no line starts (lines are found as read), and a CRC-32 each
 * for hashes and buckets (1 was never released). An index of another format is not read: the next
 * run that reads the manifest in full writes one of its own.
 */
export const MANIFEST_INDEX_FORMAT = 4;
/** A header line is at most this long. */
const MAX_HEADER = 4096;
/** At most this many entries are indexed (made, or taken from a file: the table is grown to hold them). */
export const MAX_INDEXED_ENTRIES = 1 << 26;

/** Integers are written as the machine holds them, and only where that is little-endian (x86, ARM). */
export const indexable = (): boolean => endianness() === 'LE';

/** An index's file content. */
export function encodeIndex(index: ManifestIndex): Buffer {
  const data = bytesOf(index.hashes);
  const buckets = bytesOf(index.buckets);
  const checks = bytesOf(index.checks);
  const keys = bytesOf(index.keys);
  const header: IndexHeader = {
    hardback: 'manifest-index',
    format: MANIFEST_INDEX_FORMAT,
    base: index.base,
    bytes: index.bytes,
    crc32: index.crc32,
    entries: index.entries,
    buckets: index.buckets.length,
    data_crc32: crc32(data),
    buckets_crc32: crc32(buckets),
    checks_crc32: crc32(checks),
    keys_crc32: crc32(keys),
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'latin1'), data, buckets, checks, keys]);
}

/** An index's header, from the first bytes of its file (`size` its length); undefined when it is not one this build reads. */
export function parseIndexHeader(file: string, first: Buffer, size: number): IndexFile | undefined {
  const nl = first.indexOf(10);
  if (nl < 0 || nl >= MAX_HEADER || !indexable()) return undefined;
  let h: IndexHeader;
  try {
    h = JSON.parse(first.toString('latin1', 0, nl)) as IndexHeader;
  } catch {
    return undefined;
  }
  if (h === null || typeof h !== 'object' || h.hardback !== 'manifest-index' || h.format !== MANIFEST_INDEX_FORMAT) return undefined;
  const counts = [h.bytes, h.crc32, h.entries, h.buckets, h.data_crc32, h.buckets_crc32, h.checks_crc32, h.keys_crc32];
  if (!counts.every((v) => Number.isSafeInteger(v) && v >= 0) || h.bytes > 0x7fffffff || h.entries === 0 || h.entries > MAX_INDEXED_ENTRIES || !(h.base === null || typeof h.base === 'string')) return undefined;
  if (size !== nl + 1 + 4 * (4 * h.entries + h.buckets)) return undefined;
  return {
    file,
    base: h.base,
    bytes: h.bytes,
    crc32: h.crc32,
    entries: h.entries,
    buckets: h.buckets,
    offset: nl + 1,
    dataCrc: h.data_crc32,
    bucketsCrc: h.buckets_crc32,
    checksCrc: h.checks_crc32,
    keysCrc: h.keys_crc32,
  };
}

/** The index of `manifest` as its header describes it; undefined when there is none or it cannot be read as one. */
export function readManifestIndex(fs: Fs, manifest: string): IndexFile | undefined {
  const file = manifestIndexOf(manifest);
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const first = Buffer.alloc(MAX_HEADER);
      const got = fs.readSync(fd, first, 0, MAX_HEADER, 0);
      return parseIndexHeader(file, first.subarray(0, got), fs.fstatSync(fd).size);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined; // none, or unreadable: the manifest is read in full
  }
}

/**
 * Reads an index's integers into the arrays that use them: its hashes (`entries` long), its
 * buckets when `buckets` is given (`buckets` long), the lines' other hashes when `more` is (`entries`
 * and twice that long), each part's CRC-32 checked. False when they cannot be read, or a CRC-32 is
 * not the header's.
 */
export function readIndexParts(fs: Fs, index: IndexFile, hashes: Int32Array, buckets: Int32Array | undefined, more?: { checks: Int32Array; keys: Int32Array }): boolean {
  if (hashes.length !== index.entries || (buckets !== undefined && buckets.length !== index.buckets)) return false;
  if (more !== undefined && (more.checks.length !== index.entries || more.keys.length !== 2 * index.entries)) return false;
  try {
    const fd = fs.openSync(index.file, 'r');
    try {
      let at = index.offset;
      const part = (into: Int32Array): number | undefined => {
        const bytes = bytesOf(into);
        for (let done = 0; done < bytes.length; ) {
          const got = fs.readSync(fd, bytes, done, bytes.length - done, at + done);
          if (got === 0) return undefined;
          done += got;
        }
        at += bytes.length;
        return crc32(bytes);
      };
      if (part(hashes) !== index.dataCrc) return false;
      if (buckets !== undefined && part(buckets) !== index.bucketsCrc) return false;
      if (more === undefined) return true;
      at = index.offset + 4 * (index.entries + index.buckets);
      return part(more.checks) === index.checksCrc && part(more.keys) === index.keysCrc;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Leaves an index beside `manifest` (an atomic replace, not flushed: it is a cache). False when it could not. */
export function writeManifestIndex(fs: Fs, manifest: string, index: ManifestIndex): boolean {
  if (!indexable()) return false;
  try {
    replaceCacheFile(fs, manifestIndexOf(manifest), encodeIndex(index));
    return true;
  } catch {
    return false;
  }
}

const bytesOf = (a: Int32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
