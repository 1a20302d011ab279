import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { constants } from 'node:buffer';
import { realFs } from '../../src/io/fs.js';
import type { EntryRecord } from '../../src/meta/entry.js';
import { parseIncrementBytes, parseIncrementJson, type IncrementJson } from '../../src/meta/increment.js';
import { readIncrementFile } from '../../src/store/increment-file.js';
import { serializeIncrement } from '../helpers/entries.js';
import { removeDir, tempDir } from '../helpers/tree.js';

// readIncrementFile reads increment.json a piece at a time: the same result as parsing its bytes,
// whatever its layout and size.

const ID = '2026-11-30T010000Z';
const rec = (i: number): EntryRecord => ({
  path: `Папка ${i % 50}/file-${i}.txt`,
  type: 'file',
  size: i,
  mtime: '2026-11-30T01:00:00.000Z',
  mtime_ns: '1796000000000000000',
  mode: 0o644,
  uid: 0,
  gid: 0,
  tracked: true,
  sha256: createHash('sha256').update(String(i)).digest('hex'),
});
const increment = (records: number): IncrementJson => ({
  format: 1,
  id: ID,
  profile: 'default',
  source: '/home/me',
  started: '2026-11-30T01:00:00.000Z',
  finished: '2026-11-30T01:00:09.000Z',
  complete: true,
  link_mode: 'hardlink',
  hardback_version: '0.1.0',
  previous: null,
  summary: { new: records, changed: 0, deleted: 0, errors: 0, bytes_copied: 0 },
  new: Array.from({ length: records }, (_, i) => rec(i)),
  changed: [],
  deleted: [rec(records)],
  errors: [],
});

describe('readIncrementFile', () => {
  it('gives what parsing the file whole gives: laid out as written, and a file of more than one piece', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    const file = join(dir, 'increment.json');
    // ~9,000 records: ~2.3 MB, three pieces of 1 MiB.
    const text = serializeIncrement(increment(9000));
    fs.writeFileSync(file, text);
    assert.ok(text.length > 2 << 20);
    for (const want of [() => true, () => false, (p: string) => p.endsWith('7.txt')]) {
      const r = readIncrementFile(realFs, file, ID, want);
      assert.deepEqual(r, parseIncrementBytes(Buffer.from(text), ID, want));
      assert.deepEqual(readIncrementFile(realFs, file, ID, want, { recordText: true }), parseIncrementBytes(Buffer.from(text), ID, want, { recordText: true }));
    }
    const all = readIncrementFile(realFs, file, ID, () => true);
    assert.ok(all.ok);
    assert.equal(all.value.new.length, 9000);
  });

  it('reads a file with a line longer than any the writer makes as a whole, and one with many errors line by line', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    const file = join(dir, 'increment.json');
    // [what, the increment, whether its records come line by line]
    const cases: [string, IncrementJson, boolean][] = [
      // A frame line of 17 MiB: a line longer than a line-by-line reading takes (16 MiB).
      ['a long line', { ...increment(20), profile: 'x'.repeat(17 << 20) }, false],
      // 420,000 errors, a line each: ~71 MB of frame, kept as the run wrote it.
      ['many errors', { ...increment(20), errors: Array.from({ length: 420_000 }, (_, i) => ({ path: `locked/${i}.txt`, op: 'read', code: 'EACCES', message: `permission denied ${'.'.repeat(80)}` })) }, true],
    ];
    for (const [what, json, lineByLine] of cases) {
      const text = serializeIncrement(json);
      fs.writeFileSync(file, text);
      const r = readIncrementFile(realFs, file, ID, (p) => p.endsWith('/file-7.txt'));
      assert.ok(r.ok, what);
      assert.deepEqual(r.value.new, [rec(7)], what);
      // As text, a record read line by line is its line; parsed whole, an object.
      const asText = readIncrementFile(realFs, file, ID, () => true, { recordText: true });
      assert.ok(asText.ok && asText.value.new.length === 20, what);
      assert.ok(asText.value.new.every((x) => typeof x === (lineByLine ? 'string' : 'object')), `${what}: ${lineByLine ? 'line by line' : 'parsed whole'}`);
      assert.deepEqual(readIncrementFile(realFs, file, ID, () => true), parseIncrementJson(text, ID), what);
    }
    // Compact JSON, one line of ~19 MB.
    const compact = JSON.stringify(increment(75_000));
    fs.writeFileSync(file, compact);
    assert.deepEqual(readIncrementFile(realFs, file, ID, () => true), parseIncrementJson(compact, ID));
  });

  it('names a file laid out otherwise and longer than a string can be as too large, without reading it whole', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    const file = join(dir, 'increment.json');
    // Sparse: "{" and a line of zero bytes 600 MB long (no memory, no disk).
    fs.writeFileSync(file, '{\n');
    fs.truncateSync(file, 600_000_000);
    assert.ok(fs.statSync(file).size > constants.MAX_STRING_LENGTH);
    const r = readIncrementFile(realFs, file, ID, () => true);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /not laid out as hardback writes it, and longer than a text can be/);
  });

  it('throws what reading the file throws', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    assert.throws(() => readIncrementFile(realFs, join(dir, 'missing.json'), ID, () => true), { code: 'ENOENT' });
    assert.throws(() => readIncrementFile(realFs, dir, ID, () => true), { code: 'EISDIR' });
  });
});
