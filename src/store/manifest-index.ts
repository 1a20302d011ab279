import { crc32 } from 'node:zlib';
import { endianness } from 'node:os';
import { manifestIndexOf } from './layout.js';
import type { Fs } from '../io/fs.js';
import { replaceCacheFile } from '../io/atomic.js';

/**
 * The manifest's index (.hardback/manifest.index): for the manifest's base exactly as it is on the
 * drive (its size and CRC-32), where each entry's line starts, its path's hash and the hash table's
 * buckets, as StateTable builds them. A reader that finds it matching takes the lines where it says
 * they are and the table as it was built (store/manifest.ts), where it would otherwise hash every
 * path and probe the table for each: at 100k entries, hashing and probing were ~85 ms of a ~150 ms
 * read, the first thing a run does before it walks.
 *
 * A cache, never the record: a run that reads the manifest in full (no index, or one of another
 * base) leaves one for the next; one that does not match to the byte, or cannot be read, is not used,
 * and nothing else depends on it. So it is written without a flush (a power cut that tears it leaves
 * an index whose own CRC fails), and a run that rewrites the manifest whole leaves the old one to be
 * replaced by the next run that reads the base in full.
 *
 * Format: one line of JSON (ASCII, padded to a multiple of 4 bytes), then little-endian 32-bit integers: `entries` line starts (bytes
 * from the start of the manifest; the header line is before the first), `entries` path hashes, then
 * `buckets` buckets (0 empty, else slot + 1). `data_crc32` is the CRC-32 of those integers' bytes.
 */
export interface ManifestIndex {
  /** The `id` of the manifest's header (null for a format 1 manifest, which has none). */
  base: string | null;
  /** The manifest's size in bytes and its CRC-32: the file this index is of. */
  bytes: number;
  crc32: number;
  entries: number;
  starts: Int32Array;
  hashes: Int32Array;
  buckets: Int32Array;
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
}

export const MANIFEST_INDEX_FORMAT = 1;

/** Integers are written as the machine holds them, and only where that is little-endian (x86, ARM). */
export const indexable = (): boolean => endianness() === 'LE';

/** An index's file content. */
export function encodeIndex(index: ManifestIndex): Buffer {
  const data = Buffer.concat([bytesOf(index.starts), bytesOf(index.hashes), bytesOf(index.buckets)]);
  const header: IndexHeader = {
    hardback: 'manifest-index',
    format: MANIFEST_INDEX_FORMAT,
    base: index.base,
    bytes: index.bytes,
    crc32: index.crc32,
    entries: index.entries,
    buckets: index.buckets.length,
    data_crc32: crc32(data),
  };
  // The line is padded so the integers start at a multiple of 4 bytes: a reader takes them in place.
  const line = JSON.stringify(header);
  return Buffer.concat([Buffer.from(`${line}${' '.repeat(3 - (line.length % 4))}\n`, 'latin1'), data]);
}

/** An index read from its file's content; undefined when it is not one this build reads, or not whole. */
export function decodeIndex(file: Buffer): ManifestIndex | undefined {
  const nl = file.indexOf(10);
  if (nl < 0 || nl > 4096 || !indexable()) return undefined;
  let h: IndexHeader;
  try {
    h = JSON.parse(file.toString('latin1', 0, nl)) as IndexHeader;
  } catch {
    return undefined;
  }
  if (h === null || typeof h !== 'object' || h.hardback !== 'manifest-index' || h.format !== MANIFEST_INDEX_FORMAT) return undefined;
  const counts = [h.bytes, h.crc32, h.entries, h.buckets, h.data_crc32];
  if (!counts.every((v) => Number.isSafeInteger(v) && v >= 0) || h.bytes > 0x7fffffff || h.entries === 0 || !(h.base === null || typeof h.base === 'string')) return undefined;
  const data = file.subarray(nl + 1);
  if (data.length !== 4 * (2 * h.entries + h.buckets) || crc32(data) !== h.data_crc32) return undefined;
  // In place where they lie at an aligned offset (as written: the header line is padded), else copied out.
  let ints: Int32Array;
  if (data.byteOffset % 4 === 0) ints = new Int32Array(data.buffer, data.byteOffset, data.length / 4);
  else {
    ints = new Int32Array(data.length / 4);
    Buffer.from(ints.buffer).set(data);
  }
  return {
    base: h.base,
    bytes: h.bytes,
    crc32: h.crc32,
    entries: h.entries,
    starts: ints.subarray(0, h.entries),
    hashes: ints.subarray(h.entries, 2 * h.entries),
    buckets: ints.subarray(2 * h.entries),
  };
}

/** The index of `manifest`, undefined when there is none or it cannot be read as one. */
export function readManifestIndex(fs: Fs, manifest: string): ManifestIndex | undefined {
  try {
    return decodeIndex(fs.readFileSync(manifestIndexOf(manifest)));
  } catch {
    return undefined; // none, or unreadable: the manifest is read in full
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
