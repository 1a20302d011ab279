import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { realFs } from '../../src/io/fs.js';
import type { EntryRecord } from '../../src/meta/entry.js';
import { parseIncrementBytes, parseIncrementJson, type IncrementJson } from '../../src/meta/increment.js';
import { readIncrementFile } from '../../src/store/increment-file.js';
import { serializeIncrement } from '../../src/store/records.js';
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

  it('reads a file of one line longer than any the writer makes as a whole', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    const file = join(dir, 'increment.json');
    // Compact JSON, one line of ~19 MB: longer than a line read line by line may be (16 MiB).
    const json = increment(75_000);
    const text = JSON.stringify(json);
    assert.ok(text.length > 16 << 20);
    fs.writeFileSync(file, text);
    const r = readIncrementFile(realFs, file, ID, (p) => p.endsWith('/file-74999.txt'));
    assert.ok(r.ok);
    assert.deepEqual(r.value.new, [rec(74_999)]);
    assert.deepEqual(readIncrementFile(realFs, file, ID, () => true), parseIncrementJson(text, ID));
  });

  it('throws what reading the file throws', (t) => {
    const dir = tempDir();
    t.after(() => removeDir(dir));
    assert.throws(() => readIncrementFile(realFs, join(dir, 'missing.json'), ID, () => true), { code: 'ENOENT' });
    assert.throws(() => readIncrementFile(realFs, dir, ID, () => true), { code: 'EISDIR' });
  });
});
