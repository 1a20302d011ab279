/**
 * The hashes the manifest's index keeps beside each line's path hash (store/hashed-state.ts): a
 * second hash of the path and two of the quick key. Each is over UTF-16 units of text[from, to).
 */

/**
 * The second hash of a path (text[from, to) of its decoded form, UTF-16 units), beside StateTable's
 * FNV-1a: a multiply-rotate over each unit, then a final mix (MurmurHash3's), so that it and FNV-1a
 * do not collide together. Changing it, or the key hashes, needs a new index format
 * (MANIFEST_INDEX_FORMAT): an index written by another hashing would be read as this one's.
 */
export function checkHash(text: string, from: number, to: number): number {
  let h = 0x2545f491;
  for (let i = from; i < to; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x9e3779b1);
    h = (h << 13) | (h >>> 19);
  }
  return fmix(h ^ (to - from));
}

/** The first hash of a quick key text[from, to): FNV-1a from another offset than the paths'. */
export function keyHashA(text: string, from: number, to: number): number {
  let h = 0x6c62272e;
  for (let i = from; i < to; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** The second hash of a quick key text[from, to): checkHash's rule from another seed. */
export function keyHashB(text: string, from: number, to: number): number {
  let h = 0x7f4a7c15;
  for (let i = from; i < to; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca77);
    h = (h << 15) | (h >>> 17);
  }
  return fmix(h ^ (to - from));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
