/**
 * The hashes the manifest's index keeps beside each line's path hash (store/hashed-state.ts): a
 * second hash of the path and two of the quick key. Each is over UTF-16 units of text[from, to).
 * Changing any of them needs a new index format (MANIFEST_INDEX_FORMAT): an index written by
 * another hashing would be read as this one's.
 *
 * The second path hash and the second key hash start from a seed, the CRC-32 of the manifest base
 * the index is of (whose header holds a random id): names made to collide under the unkeyed FNV-1a
 * (a few steps of arithmetic each, run backwards) do not collide under them, unless the manifest
 * itself is read.
 */

/**
 * A path's two hashes, text[from, to) of its decoded form, into out[at] and out[at + 1], in one pass
 * (the scan's worker hashes every path it walks): FNV-1a, the one StateTable's buckets use
 * (state-table.ts pathHash), and a multiply-rotate over each unit from the seed, then a final mix
 * (MurmurHash3's). Returns whether a unit was a backslash: for a path as a manifest line writes it,
 * whether it is escaped (then it is not its decoded form).
 */
export function pathHashes(text: string, from: number, to: number, seed: number, out: Int32Array, at: number): boolean {
  let h = FNV_OFFSET;
  let c = seed ^ 0x2545f491;
  let backslash = false;
  for (let i = from; i < to; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 92) backslash = true;
    h = Math.imul(h ^ ch, FNV_PRIME);
    c = Math.imul(c ^ ch, 0x9e3779b1);
    c = (c << 13) | (c >>> 19);
  }
  out[at] = h;
  out[at + 1] = fmix(c ^ (to - from));
  return backslash;
}

/**
 * A quick key's two hashes, text[from, to), into out[at] and out[at + 1], in one pass: FNV-1a from
 * another offset than the paths', and pathHashes' second rule with other constants.
 */
export function keyHashes(text: string, from: number, to: number, seed: number, out: Int32Array, at: number): void {
  let a = 0x6c62272e;
  let b = seed ^ 0x7f4a7c15;
  for (let i = from; i < to; i++) {
    const ch = text.charCodeAt(i);
    a = Math.imul(a ^ ch, FNV_PRIME);
    b = Math.imul(b ^ ch, 0x85ebca77);
    b = (b << 15) | (b >>> 17);
  }
  out[at] = a;
  out[at + 1] = fmix(b ^ (to - from));
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
