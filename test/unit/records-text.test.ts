import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { serializeIncrement } from '../helpers/entries.js';
import { buildIncrementJson, EntryRecords, incrementText, recordsFromOps, StreamedIncrement } from '../../src/store/records.js';
import { recordJson, toRecord, type StateEntry } from '../../src/meta/entry.js';
import type { JournalHeader, JournalOp } from '../../src/store/journal.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/** increment.json is written piece by piece from the run's own records: the text must not depend on how. */

const header: JournalHeader = { journal: 1, id: '2026-11-25T100000Z', profile: 'default', source: '/src', started: '2026-11-25T10:00:00.000Z', link_mode: 'hardlink' };
const entry = (path: string, i: number): StateEntry => ({
  path,
  type: 'file',
  size: i,
  mtime_ns: `${1767225600000000000n + BigInt(i)}`,
  mode: 0o644,
  uid: 0,
  gid: 0,
  tracked: i % 3 !== 0,
  sha256: (i % 16).toString(16).repeat(64),
  since: header.id,
});

test('the records of a run, made while writing, give the same increment.json as the journal ops', () => {
  const news = Array.from({ length: 3000 }, (_, i) => entry(`dir ${i % 7}/файл ${i}.txt`, i));
  // A folder, a symlink whose target needs escaping and a file without sha256: every field toRecord may leave out.
  const changed: StateEntry[] = [
    entry('c.txt', 5),
    { ...entry('dir "q"', 6), type: 'dir', size: 0, mode: 0o755, sha256: undefined },
    { ...entry('l\\nk', 7), type: 'symlink', size: 0, mode: 0o777, sha256: undefined, target: '../t "x"\n\u0001é' },
    { ...entry('pre-1970', 8), mtime_ns: '-1234567890123456789' },
    { ...entry('far', 11), mtime_ns: '253402300800000000000' },
  ];
  const deleted = [entry('gone/x', 9), entry('gone/y', 10)];
  const ops: JournalOp[] = [
    ...deleted.map((e): JournalOp => ({ op: 'del', entry: e })),
    ...news.map((e): JournalOp => ({ op: 'put', kind: 'new', entry: e, tmp: 'hb-x' })),
    ...changed.map((e): JournalOp => ({ op: 'put', kind: 'changed', entry: e, tmp: 'hb-y' })),
  ];
  const common = { header, previous: null, errors: [], bytesCopied: 7, finished: '2026-11-25T10:00:01.000Z', complete: true, version: 'test' };
  const fromOps = serializeIncrement(buildIncrementJson({ ...common, lists: recordsFromOps(ops) }));
  const lazy = buildIncrementJson({ ...common, lists: { new: new EntryRecords(news), changed: new EntryRecords(changed), deleted: new EntryRecords(deleted) } });
  for (const e of [...news, ...changed, ...deleted]) assert.equal(recordJson(e), JSON.stringify(toRecord(e)), e.path);
  // The list also gives the records themselves.
  assert.deepEqual([...new EntryRecords(changed)], changed.map(toRecord));
  assert.equal([...incrementText(lazy)].join(''), fromOps);
  const parsed = JSON.parse(fromOps) as { summary: { new: number }; new: { path: string }[]; deleted: unknown[] };
  assert.equal(parsed.summary.new, 3000);
  assert.equal(parsed.new[2999]?.path, 'dir 3/файл 2999.txt');
  assert.equal(parsed.deleted.length, 2);
  // One record per line, the frame indented: what a pager shows.
  assert.equal(fromOps.split('\n').filter((l) => l.startsWith('  {"path":')).length, 3007);
});

test('a first run\'s increment.json, written while it stores, is the text incrementText makes of the same document', () => {
  const news = Array.from({ length: 500 }, (_, i) => entry(`dir ${i % 7}/файл ${i}.txt`, i));
  news.push({ ...entry('l\\nk', 7), type: 'symlink', size: 0, mode: 0o777, sha256: undefined, target: '../t "x"\n\u0001é' });
  const errors = [{ path: 'Notes/locked.txt', op: 'read', code: 'EACCES', message: 'no' }];
  const skipped = [{ path: 'run/app.sock', kind: 'socket' }];
  for (const stored of [news, []]) {
    const doc = (complete: boolean) =>
      buildIncrementJson({
        header,
        previous: null,
        lists: complete ? { new: new EntryRecords(stored), changed: [], deleted: [] } : recordsFromOps([]),
        errors: complete ? errors : [],
        skipped: complete ? skipped : [],
        bytesCopied: complete ? 123 : 0,
        finished: complete ? '2026-11-25T10:00:01.000Z' : null,
        complete,
        version: 'test',
      });
    let text = '';
    const streamed = new StreamedIncrement({ write: (piece) => (text += piece) }, doc(false));
    for (const e of stored) streamed.add(e);
    streamed.finish(doc(true));
    assert.equal(text, serializeIncrement(doc(true)), `${stored.length} records`);
    const parsed = JSON.parse(text) as { new: unknown[]; summary: { new: number }; errors: unknown[]; complete: boolean };
    assert.equal(parsed.new.length, stored.length);
    assert.equal(parsed.summary.new, stored.length);
    assert.deepEqual(parsed.errors, errors);
    assert.equal(parsed.complete, true);
  }
});

test('a streamed increment.json refuses to finish with a document other than the one it started', () => {
  const start = buildIncrementJson({ header, previous: null, lists: recordsFromOps([]), errors: [], bytesCopied: 0, finished: null, complete: false, version: 'v' });
  const end = (over: Partial<Parameters<typeof buildIncrementJson>[0]>, stored: StateEntry[]) =>
    buildIncrementJson({ header, previous: null, lists: { new: new EntryRecords(stored), changed: [], deleted: [] }, errors: [], bytesCopied: 0, finished: 'f', complete: true, version: 'v', ...over });
  const one = [entry('a', 1)];
  for (const [why, doc] of [
    ['another previous', end({ previous: '2026-11-24T100000Z' }, one)],
    ['another version', end({ version: 'w' }, one)],
    ['more records than were added', end({}, [...one, entry('b', 2)])],
  ] as const) {
    const s = new StreamedIncrement({ write: () => {} }, start);
    s.add(entry('a', 1));
    assert.throws(() => s.finish(doc), /not the one streamed/, why);
  }
});

test('empty lists and the frame', () => {
  const json = buildIncrementJson({ header, previous: 'x', lists: recordsFromOps([]), errors: [], bytesCopied: 0, finished: null, complete: false, version: 'v' });
  const text = serializeIncrement(json);
  assert.match(text, /^\{\n "format": 1,\n/);
  assert.match(text, /\n "new": \[\],\n/);
  assert.ok(text.endsWith('\n}\n'));
  assert.deepEqual(JSON.parse(text).errors, []);
});

test('writeFileAtomic writes text given in pieces, across its chunk size, exactly', (t) => {
  const dir = tempDir('hb-atomic-');
  t.after(() => removeDir(dir));
  const pieces = Array.from({ length: 80000 }, (_, i) => `line ${i} ${'ü'.repeat(i % 40)}\n`);
  const file = join(dir, 'out.txt');
  writeFileAtomic(realFs, file, pieces.values());
  assert.equal(fs.readFileSync(file, 'utf8'), pieces.join(''));
  assert.ok(fs.statSync(file).size > 2 * 1024 * 1024, 'more than one chunk was written');
  assert.deepEqual(fs.readdirSync(dir), ['out.txt'], 'no temp file left');
});
