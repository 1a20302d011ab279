/**
 * The manifest's index (src/store/manifest-index.ts): a cache that lets a reader take the base's
 * lines where it says they are, with their paths' hashes and the hash table as built. Used only for
 * the exact bytes it was made of; whatever it is used for must read exactly as a full read does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { readHashedManifest, readManifest, writeManifest, type Manifest } from '../../src/store/manifest.js';
import { encodeIndex, MANIFEST_INDEX_FORMAT, readIndexParts, readManifestIndex, writeManifestIndex, type ManifestIndex } from '../../src/store/manifest-index.js';
import { keyHashes, pathHashes } from '../../src/store/line-hashes.js';
import { manifestIndexOf } from '../../src/store/layout.js';
import { pathHash, StateTable } from '../../src/store/state-table.js';
import { DuplicateHashes, HashedState } from '../../src/store/hashed-state.js';
import { quickKey } from '../../src/plan/compare.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';
import { numberedFile } from '../helpers/entries.js';

/** Paths of every kind a line holds: plain, escaped (quotes, backslashes, control characters, non-ASCII), long. */
const pathOf = (i: number): string => {
  const top = `top ${i % 7}`;
  switch (i % 5) {
    case 0:
      return `${top}/plain-${i}.txt`;
    case 1:
      return `${top}/Ω-файл "${i}"\\x.txt`;
    case 2:
      return `${top}/tab\there ${i}\u0001.bin`;
    case 3:
      return `${top}/${'long-'.repeat(i % 300)}${i}`;
    default:
      return `${top}/emoji 😀 ${i}`;
  }
};
const entry = (i: number): StateEntry => numberedFile(i, pathOf(i));
const folder = (k: number): StateEntry => ({ path: `top ${k}`, type: 'dir', size: 0, mtime_ns: '1767225600000000000', mode: 0o755, uid: 0, gid: 0, tracked: true, since: '2026-11-25T100000Z' });
const info = { source: '/src', lastIncrement: '2026-11-25T100000Z' };

/** A manifest of ~45,000 entries (~14 MB: lines cross the reader's 1 MiB chunks), written whole. */
function setup(t: { after(fn: () => void): void }, n = 45000): { dir: string; file: string; entries: StateEntry[] } {
  const dir = tempDir('hb-mindex-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const entries = [...Array.from({ length: 7 }, (_, k) => folder(k)), ...Array.from({ length: n }, (_, i) => entry(i))];
  writeManifest(realFs, file, info, StateTable.from(entries));
  return { dir, file, entries };
}

/** Reads in full (makeIndex) and leaves the index beside the manifest. */
function indexIt(file: string): void {
  const m = readManifest(realFs, file, { makeIndex: true });
  assert.equal(m.indexed, false);
  assert.ok(m.index !== undefined, 'a full read with makeIndex gives the index');
  assert.equal(m.index.bytes, fs.statSync(file).size);
  assert.ok(writeManifestIndex(realFs, file, m.index));
}

/** Everything a reader can ask of a table, compared with another's. */
function assertSameTable(a: StateTable, b: StateTable, absent: string[]): void {
  assert.equal(a.size, b.size);
  assert.equal(a.countNonDirs(), b.countNonDirs());
  assert.deepEqual([...a.keys()], [...b.keys()], 'the same paths in the same order');
  for (const [path, e] of b) assert.deepEqual(a.get(path), e, path);
  for (const path of absent) assert.equal(a.get(path), undefined, path);
  assert.deepEqual([...a.linePieces()].join(''), [...b.linePieces()].join(''), 'the same lines');
}

const fullRead = (file: string, opts = {}): Manifest => {
  const index = manifestIndexOf(file);
  const saved = fs.existsSync(index) ? fs.readFileSync(index) : undefined;
  fs.rmSync(index, { force: true });
  try {
    return readManifest(realFs, file, opts);
  } finally {
    if (saved !== undefined) fs.writeFileSync(index, saved);
  }
};

describe('the manifest index', () => {
  it('a read through the index gives the table a full read gives: every entry, lookup, order and line', (t) => {
    const { file, entries } = setup(t);
    indexIt(file);
    const m = readManifest(realFs, file);
    assert.equal(m.indexed, true, 'read through the index');
    assert.equal(m.index, undefined, 'and no new index made');
    const full = fullRead(file);
    assert.equal(full.indexed, false);
    assert.deepEqual(m.header, full.header);
    assertSameTable(m.entries, full.entries, ['top 1/absent', 'top 0/plain-1.txt', 'top 9']);
    // A comparison finds each entry by its quick key, and a path stored anew takes a slot.
    const cmp = m.entries.compare();
    for (const e of entries) assert.equal(cmp.hasQuickKey(e.path, quickKey(e)), true, e.path);
    assert.deepEqual([...cmp.unseen()], []);
    m.entries.set('top 3/new', { ...entry(7), path: 'top 3/new' });
    assert.deepEqual(m.entries.get('top 3/new'), { ...entry(7), path: 'top 3/new' });
    assert.equal(m.entries.size, entries.length + 1);
  });

  it('a delta is applied on top of a base read through its index', (t) => {
    const { file, entries } = setup(t);
    indexIt(file);
    const m = readManifest(realFs, file);
    const changed = { ...(entries[100] as StateEntry), size: 1 };
    m.entries.set(changed.path, changed);
    m.entries.delete((entries[200] as StateEntry).path);
    m.entries.set('top 2/added "x"', { ...entry(3), path: 'top 2/added "x"' });
    writeManifest(realFs, file, { ...info, lastIncrement: '2026-11-26T100000Z' }, m.entries);
    assert.ok(fs.existsSync(join(file, '..', 'manifest.delta.jsonl')), 'a delta beside the base');
    const again = readManifest(realFs, file);
    assert.equal(again.indexed, true, 'the base is the one indexed');
    assert.deepEqual(again.entries.get(changed.path), changed);
    assert.equal(again.entries.get((entries[200] as StateEntry).path), undefined);
    assert.deepEqual(again.entries.get('top 2/added "x"'), { ...entry(3), path: 'top 2/added "x"' });
    const full = fullRead(file);
    assert.deepEqual(again.header, full.header);
    assertSameTable(again.entries, full.entries, [(entries[200] as StateEntry).path]);
  });

  it("a scan thread's part takes its share's lines through the index, as a full read of the part does", (t) => {
    const { file } = setup(t);
    indexIt(file);
    const only = new Set(['top 1', 'top 4', 'top 6']);
    const part = readManifest(realFs, file, { only });
    assert.equal(part.indexed, true);
    const full = fullRead(file, { only });
    assert.ok(part.entries.size > 10000 && part.entries.size === full.entries.size);
    assertSameTable(part.entries, full.entries, ['top 0/plain-0.txt', 'top 2']);
  });

  it('is not used for a manifest other than the one it was made of, to the byte: the full read decides', (t) => {
    const { file, entries } = setup(t);
    indexIt(file);
    const original = fs.readFileSync(file);
    const at = original.indexOf('plain-5000.txt');
    assert.ok(at > 1 << 20, 'past the first chunk');
    // One byte of a path, the length kept: another valid path, which only the CRC tells apart.
    const flipped = Buffer.from(original);
    flipped[at] = 'q'.charCodeAt(0);
    fs.writeFileSync(file, flipped);
    const m = readManifest(realFs, file);
    assert.equal(m.indexed, false, 'the CRC differs');
    assert.equal(m.entries.get('top 2/qlain-5000.txt')?.size, 5000, 'the path as it now is');
    assert.equal(m.entries.get((entries[5007] as StateEntry).path), undefined);
    // A line cut short: the full read names the damage, the index does not hide it.
    fs.writeFileSync(file, original.subarray(0, original.length - 5));
    assert.throws(() => readManifest(realFs, file), /cut short/);
    // The same manifest written again (a new id): its own bytes, another CRC.
    fs.writeFileSync(file, original);
    assert.equal(readManifest(realFs, file).indexed, true, 'the original again');
    writeManifest(realFs, file, info, StateTable.from(entries));
    assert.equal(readManifest(realFs, file).indexed, false, 'a manifest rewritten whole');
  });

  it('an index that is damaged, cut short, or of another format is not used', (t) => {
    const { file } = setup(t, 3000);
    indexIt(file);
    const index = manifestIndexOf(file);
    const good = fs.readFileSync(index);
    /** The index on the drive, as a reader takes it: undefined when its header or a part is refused. */
    const decoded = (): ManifestIndex | undefined => {
      const h = readManifestIndex(realFs, file);
      if (h === undefined) return undefined;
      const parts = { hashes: new Int32Array(h.entries), buckets: new Int32Array(h.buckets), checks: new Int32Array(h.entries), keys: new Int32Array(2 * h.entries) };
      return readIndexParts(realFs, h, parts.hashes, parts.buckets, parts) ? { base: h.base, bytes: h.bytes, crc32: h.crc32, entries: h.entries, ...parts } : undefined;
    };
    const read = decoded();
    assert.ok(read !== undefined);
    // Encoding what was read gives the same bytes.
    assert.deepEqual(encodeIndex(read), good);
    const nl = good.indexOf(10);
    const flipped = Buffer.from(good);
    const at = nl + 1 + 8; // in the hashes
    flipped[at] = (flipped[at] as number) ^ 1;
    const bucket = Buffer.from(good);
    const inBuckets = nl + 1 + 4 * 3007 + 40;
    bucket[inBuckets] = (bucket[inBuckets] as number) ^ 1;
    const variants: [string, Buffer][] = [
      ['a flipped bit of a hash', flipped],
      ['a flipped bit of a bucket', bucket],
      ['cut short', good.subarray(0, good.length - 4)],
      ['no header', good.subarray(nl + 1)],
      ['another format', Buffer.concat([Buffer.from(good.subarray(0, nl).toString('latin1').replace('"format":4', '"format":3')), good.subarray(nl)])],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of variants) {
      assert.notDeepEqual(bytes, good, `${what}: the premise, another file`);
      fs.writeFileSync(index, bytes);
      assert.equal(decoded(), undefined, what);
      const m = readManifest(realFs, file);
      assert.equal(m.indexed, false, what);
      assertSameTable(m.entries, fullRead(file).entries, ['top 0/absent']);
    }
    // The scan's worker reads no buckets: a damaged bucket leaves its part read through the index.
    fs.writeFileSync(index, bucket);
    const only = new Set(['top 2']);
    const part = readManifest(realFs, file, { only });
    assert.equal(part.indexed, true, 'a part with damaged buckets');
    assertSameTable(part.entries, fullRead(file, { only }).entries, ['top 1/plain-0.txt']);
    assert.equal(readManifest(realFs, file).indexed, false, 'the whole, with damaged buckets');
    fs.rmSync(index);
    assert.equal(readManifestIndex(realFs, file), undefined, 'none');
    assert.equal(readManifest(realFs, file).indexed, false);
  });

  it('an index whose buckets name a line the base does not have (its own CRC whole) is not used', (t) => {
    // A bucket that names a slot the table does not have: the table refuses the buckets.
    const { file } = setup(t, 2000);
    const m = readManifest(realFs, file, { makeIndex: true });
    const index = m.index as NonNullable<typeof m.index>;
    const buckets = index.buckets.slice();
    const used = buckets.findIndex((v) => v !== 0);
    buckets[used] = 2007 + 5;
    assert.ok(writeManifestIndex(realFs, file, { ...index, buckets }));
    const r = readManifest(realFs, file);
    assert.equal(r.indexed, false);
    assert.equal(r.entries.size, 2007);
  });

  it('an index of an earlier base whose first line end falls on a newline of the new one is not used, and nothing is thrown', (t) => {
    const { file, entries } = setup(t, 300);
    const long = (n: number) => `/s${'o'.repeat(n)}`;
    fs.rmSync(file);
    writeManifest(realFs, file, { ...info, source: long(400) }, StateTable.from(entries));
    indexIt(file);
    const old = fs.readFileSync(file, 'latin1');
    const firstLine = old.slice(old.indexOf('\n') + 1, old.indexOf('\n', old.indexOf('\n') + 1));
    // Written anew (no `replaces`: the file is gone first) with a header shorter by exactly the first
    // entry line and its newline: where the index says the header ends, the new file has a newline.
    fs.rmSync(file);
    writeManifest(realFs, file, { ...info, source: long(400 - firstLine.length - 1) }, StateTable.from(entries));
    const now = fs.readFileSync(file, 'latin1');
    assert.equal(now.charCodeAt(old.indexOf('\n')), 10, 'the premise: a newline where the old header ended');
    const m = readManifest(realFs, file);
    assert.equal(m.indexed, false);
    assert.equal(m.header?.source, long(400 - firstLine.length - 1));
    assert.equal(m.entries.size, entries.length);
  });

  it('an index whose hashes are not those of the paths (its own CRC whole) is not used', (t) => {
    const { file, entries } = setup(t, 5000);
    const made = readManifest(realFs, file, { makeIndex: true }).index as NonNullable<Manifest['index']>;
    for (const slot of [0, 4096, made.entries - 1]) {
      const hashes = made.hashes.slice();
      hashes[slot] = (hashes[slot] as number) ^ 0x10;
      assert.ok(writeManifestIndex(realFs, file, { ...made, hashes }));
      const m = readManifest(realFs, file);
      assert.equal(m.indexed, false, `slot ${slot}`);
      assertSameTable(m.entries, fullRead(file).entries, []);
      assert.deepEqual(m.entries.get((entries[slot] as StateEntry).path), entries[slot]);
    }
  });

  it('a line longer than two read chunks is taken whole', (t) => {
    const dir = tempDir('hb-mindex-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    const link: StateEntry = { path: 'a/link', type: 'symlink', size: 0, mtime_ns: '1767225600000000001', mode: 0o777, uid: 0, gid: 0, tracked: true, target: 't'.repeat(2_500_000), since: '2026-11-25T100000Z' };
    const entries = [entry(0), link, entry(1), entry(2)];
    writeManifest(realFs, file, info, StateTable.from(entries));
    indexIt(file);
    const m = readManifest(realFs, file);
    assert.equal(m.indexed, true);
    for (const e of entries) assert.deepEqual(m.entries.get(e.path), e, e.path);
    assertSameTable(m.entries, fullRead(file).entries, []);
  });

  it('a table past the size set aside up front is grown for an index as a full read grows it', () => {
    // Presized at most 2,097,152 slots (MAX_PRESIZED_SLOTS): 2,200,000 lines took a full read to
    // 3,145,728 slots, whose table has 4,194,304 buckets.
    const entries = 2_200_000;
    const cols = new StateTable(entries * 1.3).indexColumns(entries, 1 << 22, true);
    assert.equal(cols?.hashes.length, entries, 'room for every line');
    assert.equal(cols?.buckets?.length, 1 << 22);
    assert.equal(new StateTable(entries * 1.3).indexColumns(entries, 1 << 21, true), undefined, 'another bucket count');
    const small = new StateTable(1000 * 1.3);
    assert.equal(small.indexColumns(1000, 2048, true)?.hashes.length, 1000);
  });

  it('no index is made unless asked for, of a manifest whose lines were not written as hardback writes them, or of an empty one', (t) => {
    const { dir, file } = setup(t, 500);
    assert.equal(readManifest(realFs, file).index, undefined, 'not asked for');
    // A line whose path is escaped where asciiJson would not escape it (hand-edited): re-encoded as read.
    const hand = join(dir, 'hand.jsonl');
    const lines = fs.readFileSync(file, 'latin1').split('\n');
    const i = lines.findIndex((l) => l.startsWith('"top 0/plain-'));
    lines[i] = (lines[i] as string).replace('plain-', '\\u0070lain-');
    fs.writeFileSync(hand, lines.join('\n'), 'latin1');
    const m = readManifest(realFs, hand, { makeIndex: true });
    assert.equal(m.entries.size, 507);
    assert.equal(m.index, undefined, 'a re-encoded line: the file does not hold what the table does');
    // A line with nothing after its quick key (damage the full read lets by until it is decoded):
    // the scan's worker would find the key where the text comparison does not.
    const cut = join(dir, 'cut.jsonl');
    const j = lines.findIndex((l) => l.startsWith('"top 1/plain-'));
    fs.writeFileSync(cut, lines.map((l, k) => (k === j ? l.split('\t').slice(0, 2).join('\t') : k === i ? (lines[i] as string).replace('\\u0070', 'p') : l)).join('\n'), 'latin1');
    const c = readManifest(realFs, cut, { makeIndex: true });
    assert.equal(c.entries.size, 507);
    assert.equal(c.index, undefined, 'a line with no tab after its key');
    fs.writeFileSync(cut, lines.map((l, k) => (k === i ? (lines[i] as string).replace('\\u0070', 'p') : l)).join('\n'), 'latin1');
    assert.ok(readManifest(realFs, cut, { makeIndex: true }).index !== undefined, 'the same file with that line whole: indexed');
    const empty = join(dir, 'empty.jsonl');
    writeManifest(realFs, empty, info, StateTable.from([]));
    assert.equal(readManifest(realFs, empty, { makeIndex: true }).index, undefined);
  });
});

/**
 * The scan worker's read (readHashedManifest, store/hashed-state.ts): the index's hashes of each
 * line, the base checked to the byte but not decoded, a delta applied. Its slots must be the text
 * table's, and each verdict the text table's, or the marks it sends would mark other paths.
 */
describe("the scan worker's read through the index's hashes", () => {
  /** A path's two hashes, or a key's (line-hashes.ts), from `seed`. */
  const two = (of: typeof keyHashes, s: string, seed: number): [number, number] => {
    const out = new Int32Array(2);
    of(s, 0, s.length, seed, out, 0);
    return [out[0] as number, out[1] as number];
  };
  const link = (k: number, target: string): StateEntry => ({ path: `top ${k}/link ${k}`, type: 'symlink', size: 0, mtime_ns: '1767225600000000001', mode: 0o777, uid: 0, gid: 0, tracked: true, target, since: '2026-11-25T100000Z' });
  /**
   * A base with symlinks too and an index, then a delta: a key changed, a symlink's target changed,
   * a line deleted, paths added (escaped too).
   */
  function withDelta(t: { after(fn: () => void): void }) {
    const { file, entries } = setup(t, 6000);
    const links = [link(0, '../a\tb'), link(1, 'Ω "q"\\'), link(2, 'plain')];
    writeManifest(realFs, file, info, StateTable.from([...entries, ...links]));
    indexIt(file);
    const m = readManifest(realFs, file);
    const changed = { ...(entries[100] as StateEntry), mtime_ns: '1767225600000000999' };
    m.entries.set(changed.path, changed);
    m.entries.set(links[1]?.path as string, link(1, 'elsewhere'));
    const deleted = (entries[201] as StateEntry).path;
    m.entries.delete(deleted);
    const added = ['top 2/added "x"\\y', 'top 9/новый\u0007', 'top 3/plain-added'];
    for (const p of added) m.entries.set(p, { ...entry(3), path: p });
    writeManifest(realFs, file, { ...info, lastIncrement: '2026-11-26T100000Z' }, m.entries);
    assert.ok(fs.existsSync(join(file, '..', 'manifest.delta.jsonl')), 'a delta beside the base');
    return { file, entries, changed, deleted, added };
  }
  /** A key the entry would have changed: a file's mtime, a folder's mode, a symlink's target. */
  const changedKey = (e: StateEntry): string =>
    quickKey(e.type === 'file' ? { ...e, mtime_ns: `${BigInt(e.mtime_ns) + 1n}` } : e.type === 'dir' ? { ...e, mode: e.mode ^ 1 } : { ...e, target: `${e.target ?? ''}x` });

  /** The hashed read and the text read give the same slots, the same verdicts, the same marks. */
  function assertSameAsText(file: string, absent: string[]): void {
    const text = readManifest(realFs, file);
    const hashed = readHashedManifest(realFs, file);
    assert.ok(hashed !== undefined, 'read through the index');
    assert.equal(hashed.state.slots(), text.entries.slots());
    assert.equal(hashed.state.size(), text.entries.size);
    assert.equal(hashed.base, text.entries.baseId());
    const live = [...text.entries.values()];
    assert.ok(live.some((e) => e.type === 'symlink') && live.some((e) => e.type === 'dir'), 'every kind');
    for (const p of [...live.map((e) => e.path), ...absent]) assert.equal(hashed.state.liveSlot(p), text.entries.slot(p) ?? -1, p);
    const h = hashed.state.compare();
    const c = text.entries.compare();
    // Every other entry asked as recorded, the rest changed.
    live.forEach((e, i) => {
      const key = i % 2 === 0 ? quickKey(e) : changedKey(e);
      assert.equal(h.hasQuickKey(e.path, key), i % 2 === 0, e.path);
      assert.equal(c.hasQuickKey(e.path, key), i % 2 === 0, e.path);
    });
    for (const p of absent) assert.equal(h.hasQuickKey(p, quickKey(entry(0))), false, p);
    // Its marks, taken by the text table's comparison, leave unseen what the text comparison does.
    const fromWorker = text.entries.compare();
    assert.ok(fromWorker.foundByWorker(h.marks, hashed.state.slots(), hashed.base, hashed.state.size()));
    const unseen = [...fromWorker.unseen()];
    assert.ok(unseen.length > live.length / 3, `${unseen.length} unseen`);
    assert.deepEqual(unseen, [...c.unseen()]);
  }

  it('numbers the slots as the text table does, and finds each path recorded with exactly its key', (t) => {
    const { file, entries, changed, deleted, added } = withDelta(t);
    assertSameAsText(file, [deleted, 'top 0/never', 'top 2/added "x"']);
    const hashed = readHashedManifest(realFs, file) as NonNullable<ReturnType<typeof readHashedManifest>>;
    const h = hashed.state.compare();
    assert.equal(h.hasQuickKey(changed.path, quickKey(entries[100] as StateEntry)), false, 'the key the delta replaced');
    assert.equal(h.hasQuickKey(changed.path, quickKey(changed)), true, 'the key the delta gave');
    assert.equal(h.hasQuickKey(deleted, quickKey(entries[201] as StateEntry)), false, 'a path the delta deleted');
    assert.equal(h.hasQuickKey('top 1/link 1', quickKey(link(1, 'Ω "q"\\'))), false, "a symlink's old target");
    assert.equal(h.hasQuickKey('top 1/link 1', quickKey(link(1, 'elsewhere'))), true, "a symlink's new target");
    for (const p of added) assert.equal(h.hasQuickKey(p, quickKey({ ...entry(3), path: p })), true, `${p}, added by the delta`);
    // markPath marks a live path's slot, and nothing for a deleted one.
    const m = hashed.state.compare();
    m.markPath((entries[7] as StateEntry).path);
    m.markPath(deleted);
    assert.deepEqual([...m.marks.keys()].filter((i) => m.marks[i] === 1), [hashed.state.liveSlot((entries[7] as StateEntry).path)]);
  });

  it('a delta left over from the base this one replaced is not applied, as the text read does not apply it', (t) => {
    const { file, entries } = withDelta(t);
    const delta = join(file, '..', 'manifest.delta.jsonl');
    const left = fs.readFileSync(delta);
    // Rewritten whole (a new base, which `replaces` the old): its delta goes; a crash can leave it.
    writeManifest(realFs, file, info, StateTable.from([...entries.slice(0, 3000), link(4, 't')]));
    assert.equal(fs.existsSync(delta), false);
    fs.writeFileSync(delta, left);
    indexIt(file);
    assertSameAsText(file, [(entries[4000] as StateEntry).path]);
  });

  it('marks of another manifest are refused, and nothing is marked', (t) => {
    const { file } = withDelta(t);
    const text = readManifest(realFs, file);
    const hashed = readHashedManifest(realFs, file) as NonNullable<ReturnType<typeof readHashedManifest>>;
    const all = new Uint8Array(hashed.state.slots()).fill(1);
    const cmp = text.entries.compare();
    const [n, live] = [hashed.state.slots(), hashed.state.size()];
    assert.equal(cmp.foundByWorker(all, n + 1, hashed.base, live), false, 'another count of slots');
    assert.equal(cmp.foundByWorker(all.subarray(1), n, hashed.base, live), false, 'marks of another length');
    assert.equal(cmp.foundByWorker(all, n, 'another-base', live), false, 'another base');
    assert.equal(cmp.foundByWorker(all, n, hashed.base, live - 1), false, 'another count of paths');
    assert.equal([...cmp.unseen()].length, text.entries.size, 'nothing marked');
  });

  it('is not used unless the index, the base and the delta are what it was made of', (t) => {
    const { file } = withDelta(t);
    const index = manifestIndexOf(file);
    const delta = join(file, '..', 'manifest.delta.jsonl');
    const good: Record<'index' | 'base' | 'delta', Buffer> = { index: fs.readFileSync(index), base: fs.readFileSync(file), delta: fs.readFileSync(delta) };
    assert.ok(readHashedManifest(realFs, file) !== undefined, 'the premise: it is used');
    const nl = good.index.indexOf(10);
    const h = readManifestIndex(realFs, file) as NonNullable<ReturnType<typeof readManifestIndex>>;
    const flip = (b: Buffer, at: number): Buffer => {
      const c = Buffer.from(b);
      c[at] = (c[at] as number) ^ 1;
      return c;
    };
    const header = (edit: (s: string) => string): Buffer => Buffer.concat([Buffer.from(edit(good.index.subarray(0, nl).toString('latin1')), 'latin1'), good.index.subarray(nl)]);
    const at = good.base.indexOf('plain-5000.txt');
    const renamed = Buffer.from(good.base);
    renamed[at] = 'q'.charCodeAt(0);
    const lines = good.delta.toString('latin1').split('\n');
    const keyOnly = lines.findIndex((l) => l.startsWith('"top 3/plain-added"'));
    const variants: [string, Partial<typeof good> | 'no index'][] = [
      ['no index', 'no index'],
      ['a path of the base renamed, its size kept', { base: renamed }],
      ['a flipped bit of a second path hash', { index: flip(good.index, nl + 1 + 4 * (h.entries + h.buckets) + 12) }],
      ['a flipped bit of a key hash', { index: flip(good.index, nl + 1 + 4 * (2 * h.entries + h.buckets) + 20) }],
      ['another base id', { index: header((s) => s.replace(/"base":"[^"]*"/, '"base":"0000000000000000"')) }],
      ['a delta of another base', { delta: Buffer.from(good.delta.toString('latin1').replace(/"base":"[^"]*"/, '"base":"0000000000000000"'), 'latin1') }],
      ['a delta line lost', { delta: Buffer.from([...lines.slice(0, 2), ...lines.slice(3)].join('\n'), 'latin1') }],
      ['a damaged delta line', { delta: Buffer.from([lines[0], 'not a line', ...lines.slice(2)].join('\n'), 'latin1') }],
      ['a delta line with nothing after its key', { delta: Buffer.from(lines.map((l, i) => (i === keyOnly ? l.split('\t').slice(0, 2).join('\t') : l)).join('\n'), 'latin1') }],
    ];
    for (const [what, change] of variants) {
      if (change === 'no index') fs.rmSync(index);
      else for (const [k, v] of Object.entries(change)) fs.writeFileSync(k === 'index' ? index : k === 'base' ? file : delta, v);
      assert.equal(readHashedManifest(realFs, file), undefined, what);
      fs.writeFileSync(index, good.index);
      fs.writeFileSync(file, good.base);
      fs.writeFileSync(delta, good.delta);
      assert.ok(readHashedManifest(realFs, file) !== undefined, `${what}: restored`);
    }
  });

  it('an index that gives two lines of the base the same two path hashes is not used by the worker', (t) => {
    const { file } = setup(t, 3000);
    const m = readManifest(realFs, file, { makeIndex: true });
    const made = m.index as NonNullable<typeof m.index>;
    const hashes = made.hashes.slice();
    const checks = made.checks.slice();
    hashes[20] = hashes[10] as number;
    checks[20] = checks[10] as number;
    assert.throws(() => new HashedState(hashes, checks, made.keys, made.crc32), DuplicateHashes);
    assert.ok(writeManifestIndex(realFs, file, { ...made, hashes, checks }));
    assert.equal(readHashedManifest(realFs, file), undefined);
    assert.ok(writeManifestIndex(realFs, file, made));
    assert.ok(readHashedManifest(realFs, file) !== undefined, 'the index as made');
  });

  it('tells apart paths, and keys, whose first 32-bit hashes are the same', () => {
    /** Two of `make`'s strings with the same `hash` (a birthday search: ~80,000 strings for 32 bits). */
    const collision = (make: (i: number) => string, hash: (s: string) => number): [string, string] => {
      const seen = new Map<number, string>();
      for (let i = 0; ; i++) {
        const s = make(i);
        const other = seen.get(hash(s));
        if (other !== undefined) return [other, s];
        seen.set(hash(s), s);
      }
    };
    const seed = 12345;
    const [p1, p2] = collision((i) => `docs/file-${i}.txt`, (p) => two(pathHashes, p, seed)[0]);
    const key = (size: number) => quickKey({ ...entry(1), size });
    const [k1, k2] = collision((i) => key(i), (k) => two(keyHashes, k, seed)[0]);
    assert.notEqual(two(pathHashes, p1, seed)[1], two(pathHashes, p2, seed)[1], 'the premise: the second hashes differ');
    assert.notEqual(two(keyHashes, k1, seed)[1], two(keyHashes, k2, seed)[1]);
    // A state of p1 recorded with k1: p2 is not it, and p1 with k2 is changed.
    const [h1, c1] = two(pathHashes, p1, seed);
    const state = new HashedState(Int32Array.of(h1), Int32Array.of(c1), Int32Array.of(...two(keyHashes, k1, seed)), seed);
    assert.equal(state.liveSlot(p1), 0);
    assert.equal(state.liveSlot(p2), -1, `${p2} is not ${p1}`);
    const cmp = state.compare();
    assert.equal(cmp.hasQuickKey(p2, k1), false);
    assert.equal(cmp.hasQuickKey(p1, k2), false, `${k2} is not ${k1}`);
    assert.equal(cmp.hasQuickKey(p1, k1), true);
    // And a delta's line for p2 takes a slot of its own.
    state.put(p2, k2, 0, k2.length);
    assert.deepEqual([state.slots(), state.liveSlot(p1), state.liveSlot(p2)], [2, 0, 1]);
  });

  it('hashes as the index format it reads says (a change of these needs a new MANIFEST_INDEX_FORMAT)', () => {
    // Pinned: an index written by one build is read by another of the same format, on the same drive.
    assert.equal(MANIFEST_INDEX_FORMAT, 4);
    // The first path hash is the one StateTable's buckets (and the index's first column) use.
    for (const p of ['a/b.txt', 'Ω "x"', '', 'emoji 😀', 'x'.repeat(300)]) assert.equal(two(pathHashes, p, 99)[0], pathHash(p), p);
    assert.deepEqual(
      ['a/b.txt', 'Ω "x"', ''].map((s) => [two(pathHashes, s, 0)[1], two(pathHashes, s, 0xdeadbeef)[1], two(keyHashes, s, 0)[0], two(keyHashes, s, 0)[1], two(keyHashes, s, 7)[1]]),
      [
        [-1166848366, -1422492904, -205299798, -118845180, -1138211433],
        [924392005, -1054471641, -1570549123, -296127491, 829862183],
        [-1666776968, -782309168, 1818371886, 1270938603, 2071131716],
      ],
    );
  });
});
