import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewState, UpdatedState } from '../../src/apply/run-state.js';
import { newEntry, toRecord, type StateEntry } from '../../src/meta/entry.js';
import { MAX_TOP_NAMES } from '../../src/store/manifest.js';
import { buildIncrementJson, StreamedIncrement, type IncrementLists } from '../../src/store/records.js';
import { serializeIncrement } from '../helpers/entries.js';
import { StateTable } from '../../src/store/state-table.js';
import type { JournalHeader } from '../../src/store/journal.js';

/**
 * What a run records of what it stored (src/apply/run-state.ts): the next manifest and the lists of
 * increment.json. A first run (NewState) keeps them as encoded lines outside the heap and decodes them
 * for increment.json; a later run (UpdatedState) keeps them in the table it read, as lines too. Either
 * way, what comes back must be what was stored, in the order it was stored.
 */

const ID = '2026-11-26T060109Z';
const header: JournalHeader = { journal: 1, id: ID, profile: 'default', source: '/src', started: '2026-11-26T06:01:09.000Z', link_mode: 'hardlink' };

/** An entry as the walk makes it (newEntry's shape, undefined fields and all), completed as the applier completes a stored file. */
function file(path: string, i: number, over: Partial<StateEntry> = {}): StateEntry {
  const e = newEntry(path, 'file', 100 + i, `${1764136869123456789n + BigInt(i)}`, 0o640, 1000 + i, 100, i % 3 !== 0, undefined, `2049:${77 + i}:1764136869000000000`);
  e.sha256 = (i % 16).toString(16).repeat(64);
  e.since = ID;
  return Object.assign(e, over);
}
const dir = (path: string, i: number): StateEntry => Object.assign(newEntry(path, 'dir', 0, `${1764136869000000000n + BigInt(i)}`, 0o750, 0, 0, true, undefined, undefined), { since: ID });
const link = (path: string, target: string, i: number): StateEntry =>
  Object.assign(newEntry(path, 'symlink', 0, `${1764136869000000000n + BigInt(i)}`, 0o777, 0, 0, false, target, undefined), { since: ID });

/** The same entry without its undefined fields: what a manifest line decodes to. */
const plain = (e: StateEntry): StateEntry => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as StateEntry;

/** increment.json written from `lists` (records produced as written), and from plain arrays of records. */
function bothTexts(lists: IncrementLists, expected: { new: StateEntry[]; changed: StateEntry[]; deleted: StateEntry[] }): [string, string] {
  const common = { header, previous: null, errors: [], bytesCopied: 3, finished: '2026-11-26T06:01:10.000Z', complete: true, version: 'test' };
  const lazy = serializeIncrement(buildIncrementJson({ ...common, lists }));
  const arrays = serializeIncrement(
    buildIncrementJson({ ...common, lists: { new: expected.new.map(toRecord), changed: expected.changed.map(toRecord), deleted: expected.deleted.map(toRecord) } }),
  );
  return [lazy, arrays];
}

describe('NewState (a first run)', () => {
  const stored = (): StateEntry[] => [
    dir('docs', 1),
    file('docs/a.txt', 2),
    dir('docs/Ünïcødé 日本', 3),
    file('docs/Ünïcødé 日本/файл "q"\\.txt', 4, { size: 0 }),
    link('docs/Ünïcødé 日本/ссылка → ✓', '../цель/ü x "y"\n\u0001é', 5),
    file('top.bin', 6, { tracked: false }),
    link('rel', 'docs/a.txt', 7),
    dir('empty', 8),
  ];

  it('gives back every stored entry of each type, in order, as records and in increment.json', () => {
    const entries = stored();
    const s = new NewState();
    for (const e of entries) s.stored('new', e);
    assert.deepEqual(s.counts(), { new: entries.length, changed: 0, deleted: 0 });
    assert.equal(s.size, entries.length);

    const lists = s.lists();
    assert.equal(lists.new.length, entries.length);
    assert.equal(lists.changed.length, 0);
    assert.equal(lists.deleted.length, 0);
    assert.deepEqual([...lists.new], entries.map(toRecord));
    // Read twice (increment.json is written at the start of a run and again at its end).
    assert.deepEqual([...s.lists().new], entries.map(toRecord));

    const [lazy, arrays] = bothTexts(s.lists(), { new: entries, changed: [], deleted: [] });
    assert.equal(lazy, arrays);
    assert.match(lazy, /ссылка → ✓/, 'non-ASCII names come back as they were, not as escapes');
    assert.match(lazy, /"target":"..\/цель\/ü x \\"y\\"\\n\\u0001é"/);

    // A run streams each record as it stores the entry (the live object, not its manifest line read
    // back): the text must be the one made from the lines it keeps.
    const streamedState = new NewState();
    let text = '';
    const doc = (lists: IncrementLists, complete: boolean) =>
      buildIncrementJson({ header, previous: null, errors: [], bytesCopied: 3, finished: complete ? '2026-11-26T06:01:10.000Z' : null, complete, version: 'test', lists });
    const streamed = new StreamedIncrement({ write: (piece) => (text += piece) }, doc({ new: [], changed: [], deleted: [] }, false));
    streamedState.streamTo(streamed);
    for (const e of stored()) streamedState.stored('new', e);
    streamed.finish(doc(streamedState.lists(), true));
    assert.equal(text, serializeIncrement(doc(s.lists(), true)));
  });

  it('folder() knows the folders it stored, and nothing else', () => {
    const s = new NewState();
    for (const e of stored()) s.stored('new', e);
    assert.deepEqual(s.folder('docs'), dir('docs', 1));
    assert.deepEqual(s.folder('docs/Ünïcødé 日本'), dir('docs/Ünïcødé 日本', 3));
    assert.deepEqual(s.folder('empty'), dir('empty', 8));
    for (const p of ['docs/a.txt', 'top.bin', 'rel', 'docs/Ünïcødé 日本/ссылка → ✓', 'nowhere', 'docs/nowhere', '']) assert.equal(s.folder(p), undefined, p);
  });

  it('counts entries per top-level name for the manifest header, up to MAX_TOP_NAMES names', () => {
    const s = new NewState();
    assert.deepEqual(s.topCounts(), {}, 'nothing stored: no names');
    for (const e of stored()) s.stored('new', e);
    assert.deepEqual(s.topCounts(), { docs: 5, 'top.bin': 1, rel: 1, empty: 1 });

    const many = new NewState();
    for (let i = 0; i < MAX_TOP_NAMES; i++) {
      many.stored('new', dir(`t${i}`, i));
      many.stored('new', file(`t${i}/f`, i));
    }
    const counts = many.topCounts();
    assert.equal(Object.keys(counts ?? {}).length, MAX_TOP_NAMES, 'exactly MAX_TOP_NAMES names: still counted');
    assert.ok(Object.values(counts ?? {}).every((n) => n === 2));
    many.stored('new', file('one-more', 1));
    assert.equal(many.topCounts(), undefined, 'one name more: no counts');
    many.stored('new', file('t0/g', 1));
    assert.equal(many.topCounts(), undefined, 'and it stays so');
    assert.equal(many.size, 2 * MAX_TOP_NAMES + 2);
  });

  it('refuses what a first run cannot do: a changed entry, a deletion', () => {
    const s = new NewState();
    s.stored('new', file('a', 1));
    assert.throws(() => s.stored('changed', file('a', 2)), /only new entries/);
    assert.throws(() => s.deleted(file('a', 1)), /deletes nothing/);
    assert.deepEqual(s.counts(), { new: 1, changed: 0, deleted: 0 });
    assert.deepEqual([...s.lists().new], [toRecord(file('a', 1))]);
  });

  it('gives itself as the manifest, its lines as the chunks', () => {
    const entries = stored();
    const s = new NewState();
    for (const e of entries) s.stored('new', e);
    assert.equal(s.manifest(), s);
    const text = Buffer.concat([...s.chunks()]).toString('latin1');
    assert.ok(/^[\x00-\x7f]*$/.test(text), 'the lines are ASCII');
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'the last line ends with a newline');
    assert.equal(lines.length, entries.length);
    const table = new StateTable();
    for (const line of lines) table.setLine(StateTable.pathOfLine(line) as string, line);
    assert.deepEqual([...table.values()], entries.map(plain));
  });

  it('release() drops its lines and folders (a run that stopped)', () => {
    const s = new NewState();
    for (const e of stored()) s.stored('new', e);
    assert.ok(s.size > 0 && [...s.chunks()].length > 0);
    s.release();
    assert.equal(s.size, 0);
    assert.deepEqual([...s.chunks()].filter((c) => c.length > 0), []);
    assert.equal(stored().some((e) => e.type === 'dir' && s.folder(e.path) !== undefined), false);
  });
});

describe('UpdatedState (a run after the first)', () => {
  const last = (): StateEntry[] => [dir('d', 1), file('d/keep.txt', 2), file('d/change.txt', 3), file('d/gone.txt', 4), link('l', 'd/keep.txt', 5), dir('d/sub', 6)].map(plain);

  it('changes the table it was given: new, changed and deleted entries, lists and counts', () => {
    const before = last();
    const table = StateTable.from(before);
    const s = new UpdatedState(table);
    const added = [dir('new dir ü', 10), file('new dir ü/n.txt', 11), link('new dir ü/→', 'ü/ß', 12)];
    const changed = [file('d/change.txt', 13, { size: 7 }), { ...plain(dir('d/sub', 6)), mode: 0o700, since: ID }];
    const deleted = [before[3] as StateEntry, before[4] as StateEntry];
    s.deleted(deleted[0] as StateEntry);
    for (const e of added.slice(0, 2)) s.stored('new', e);
    for (const e of changed) s.stored('changed', e);
    s.deleted(deleted[1] as StateEntry);
    s.stored('new', added[2] as StateEntry);

    assert.deepEqual(s.counts(), { new: 3, changed: 2, deleted: 2 });
    const lists = s.lists();
    assert.deepEqual([...lists.new], added.map(toRecord));
    assert.deepEqual([...lists.changed], changed.map(toRecord));
    assert.deepEqual([...lists.deleted], deleted.map(toRecord));
    const [lazy, arrays] = bothTexts(s.lists(), { new: added, changed, deleted });
    assert.equal(lazy, arrays);

    assert.equal(s.manifest(), table);
    assert.equal(table.size, before.length - 2 + 3);
    for (const e of [...added, ...changed]) assert.deepEqual(table.get(e.path), plain(e), e.path);
    assert.deepEqual(table.get('d/keep.txt'), before[1]);
    assert.equal(table.get('d/gone.txt'), undefined);
    assert.equal(table.get('l'), undefined);
    // Stored entries are kept as manifest lines: the same line as the entry's.
    const fresh = StateTable.from(added.map(plain));
    for (const e of added) assert.equal(table.encodedLine(e.path), fresh.encodedLine(e.path));
  });

  it('folder() answers from the table: folders only, as they are now', () => {
    const table = StateTable.from(last());
    const s = new UpdatedState(table);
    assert.deepEqual(s.folder('d'), plain(dir('d', 1)));
    assert.equal(s.folder('d/keep.txt'), undefined);
    assert.equal(s.folder('l'), undefined);
    assert.equal(s.folder('nowhere'), undefined);
    // A folder that became a file this run, and a file that became a folder.
    s.deleted(plain(dir('d/sub', 6)));
    s.stored('new', file('d/sub', 20));
    s.deleted(plain(file('d/keep.txt', 2)));
    s.stored('new', dir('d/keep.txt', 21));
    assert.equal(s.folder('d/sub'), undefined);
    assert.deepEqual(s.folder('d/keep.txt'), plain(dir('d/keep.txt', 21)));
  });

  it('release() empties the table it was given and its lists (a run that stopped); the table still takes entries', () => {
    const table = StateTable.from(last());
    const s = new UpdatedState(table);
    s.stored('new', file('n.txt', 30));
    s.deleted(plain(file('d/gone.txt', 4)));
    s.release();
    assert.equal(table.size, 0);
    assert.deepEqual([...table.keys()], []);
    assert.equal(table.get('d/keep.txt'), undefined);
    assert.equal(table.slots(), 0);
    assert.deepEqual(s.counts(), { new: 0, changed: 0, deleted: 0 });
    table.set('again.txt', plain(file('again.txt', 31)));
    assert.deepEqual([...table.keys()], ['again.txt']);
  });
});
