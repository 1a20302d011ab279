import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newEntry, reshaped, type StateEntry } from '../../src/meta/entry.js';

/** Entries from the scan worker are remade in this thread's shape (scan/parallel.ts): nothing may be lost on the way. */
test('reshaped gives back every field of an entry that crossed from a worker (structured clone)', () => {
  const entries: StateEntry[] = [
    newEntry('a/b.txt', 'file', 123, '1764088739123456789', 0o640, 1000, 100, false, undefined, '2049:77:1764088739000000001'),
    newEntry('a', 'dir', 0, '-5', 0o755, 0, 0, true, undefined, undefined),
    newEntry('a/l', 'symlink', 0, '1', 0o777, 1, 2, false, '../t "x"', undefined),
  ];
  for (const e of entries) {
    const back = reshaped(structuredClone(e));
    assert.deepEqual(back, e);
    // One shape: the same fields, in the same order, whatever the type.
    assert.deepEqual(Object.keys(back), Object.keys(entries[0] as StateEntry));
  }
});
