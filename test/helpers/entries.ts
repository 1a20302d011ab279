import type { StateEntry } from '../../src/meta/entry.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { incrementText, type IncrementDocument } from '../../src/store/records.js';

/**
 * The i-th of many file entries for tests of the state table and the manifest: every field set and
 * different from its neighbours' (size, time, hash, identity), at the path the test chooses.
 */
export const numberedFile = (i: number, path: string, size = i): StateEntry => ({
  path,
  type: 'file',
  size,
  mtime_ns: `${1767225600000000000n + BigInt(i) * 1234567n}`,
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  tracked: i % 2 === 0,
  sha256: (i % 16).toString(16).repeat(64),
  since: '2026-11-25T100000Z',
  ino: `2049:${i}`,
});

/**
 * incrementText as one string, for tests that compare texts: the program writes the pieces, as a
 * string holds at most 2^29 - 24 characters (docs/format.md, "Layout").
 */
export function serializeIncrement(json: IncrementDocument | IncrementJson): string {
  return [...incrementText(json)].join('');
}
