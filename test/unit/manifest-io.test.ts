import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { readManifest, readManifestHeader, writeManifest } from '../../src/store/manifest.js';
import { manifestDeltaOf } from '../../src/store/layout.js';
import { StateTable } from '../../src/store/state-table.js';
import { NewState } from '../../src/apply/run-state.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';
import { beforeOpen, faultyFs } from '../helpers/faulty-fs.js';
import { numberedFile } from '../helpers/entries.js';

/** The manifest is written line by line and read a few MiB at a time: lines cross chunk boundaries. */

const entry = (i: number): StateEntry => numberedFile(i, `folder ${i % 97}/Ω-файл-${i}-${'x'.repeat(i % 150)}.txt`);

test('a 40,000-entry manifest (~10 MB) reads back entry for entry', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const entries = Array.from({ length: 40000 }, (_, i) => entry(i));
  writeManifest(realFs, file, { source: '/src', lastIncrement: '2026-11-25T100000Z' }, StateTable.from(entries));
  assert.ok(fs.statSync(file).size > 2 * (4 << 20), 'several read chunks');
  const m = readManifest(realFs, file);
  assert.equal(m.header?.entries, 40000);
  assert.equal(m.entries.size, 40000);
  for (const e of entries) assert.deepEqual(m.entries.get(e.path), e);
});

test("a first run's state (NewState, written from its chunks as they are) reads back entry for entry", (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  // Folders before their content, as a first run stores them; ~7 MB of lines: several 1 MiB chunks.
  const entries: StateEntry[] = [];
  for (let i = 0; i < 30000; i++) {
    const e = entry(i);
    if (i < 97) entries.push({ path: `folder ${i}`, type: 'dir', size: 0, mtime_ns: e.mtime_ns, mode: 0o755, uid: 0, gid: 0, tracked: true, since: e.since });
    entries.push(e);
  }
  entries.push({ path: 'ссылка → ✓', type: 'symlink', size: 0, mtime_ns: '1767225600000000001', mode: 0o777, uid: 0, gid: 0, tracked: false, target: '../ü "x"', since: '2026-11-25T100000Z' });
  const state = new NewState();
  for (const e of entries) state.stored('new', e);
  assert.ok([...state.chunks()].length >= 3, 'the lines span several chunks');
  writeManifest(realFs, file, { source: '/src/Ünïcødé', lastIncrement: '2026-11-25T100000Z' }, state);

  const m = readManifest(realFs, file);
  assert.equal(m.header?.entries, entries.length);
  assert.equal(m.header?.source, '/src/Ünïcødé');
  assert.equal(m.header?.last_increment, '2026-11-25T100000Z');
  assert.equal(typeof m.header?.id, 'string', 'a base a later run can write a delta against');
  assert.deepEqual(m.header?.top, state.topCounts());
  assert.equal(m.header?.top?.['folder 5'], 1 + Math.ceil((30000 - 5) / 97));
  assert.equal(m.header?.top?.['ссылка → ✓'], 1, 'a non-ASCII top-level name is counted under its own name');
  assert.equal(m.entries.size, entries.length);
  assert.deepEqual([...m.entries.keys()], entries.map((e) => e.path), 'in the order stored');
  for (const e of entries) assert.deepEqual(m.entries.get(e.path), e);

  // The same lines as a table of the same entries writes (only the header's id and time differ).
  const other = join(dir, 'from-table.jsonl');
  writeManifest(realFs, other, { source: '/src/Ünïcødé', lastIncrement: '2026-11-25T100000Z' }, StateTable.from(entries));
  const body = (f: string) => fs.readFileSync(f, 'latin1').split('\n').slice(1).join('\n');
  assert.ok(body(file) === body(other), 'the lines equal those of a StateTable of the same entries');
  assert.deepEqual(readManifestHeader(realFs, other)?.top, m.header?.top);

  // A later run changes a little of it: a delta against this base.
  m.entries.set(entries[5]?.path as string, { ...(entries[5] as StateEntry), size: 1 });
  writeManifest(realFs, file, { source: '/src/Ünïcødé', lastIncrement: '2026-11-26T100000Z' }, m.entries);
  assert.ok(fs.existsSync(manifestDeltaOf(file)));
  assert.equal(readManifest(realFs, file).entries.get(entries[5]?.path as string)?.size, 1);
});

test("a first run's state past MAX_TOP_NAMES top-level names, and an empty one, are written with their counts as the table would give them", (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const empty = new NewState();
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, empty);
  const m0 = readManifest(realFs, file);
  assert.equal(m0.header?.entries, 0);
  assert.equal(m0.entries.size, 0);
  assert.deepEqual(m0.header?.top, {});

  const wide = new NewState();
  for (let i = 0; i < 600; i++) wide.stored('new', { ...entry(i), path: `top ${i}` });
  writeManifest(realFs, file, { source: '/src', lastIncrement: 'x' }, wide);
  const m = readManifest(realFs, file);
  assert.equal(m.header?.entries, 600);
  assert.equal(m.header?.top, undefined, 'past 512 names: no counts');
  assert.equal(m.entries.get('top 599')?.size, 599);
});

test('a manifest cut inside a line is refused, never read short', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from(Array.from({ length: 3000 }, (_, i) => entry(i))));
  const full = fs.readFileSync(file);
  // A cut inside the last line's last field still leaves 3000 lines that look whole: the missing
  // final newline is what gives it away.
  for (const cut of [full.length - 1, full.length - 3, full.length - 30, Math.floor(full.length / 2), 10]) {
    fs.writeFileSync(file, full.subarray(0, cut));
    assert.throws(() => readManifest(realFs, file), /damaged|promises|not readable|cut short/, `cut at ${cut}`);
  }
});

test('a comparison matches the recorded quick key exactly, for lines read and for entries set', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const e = entry(7);
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from([e]));
  const read = readManifest(realFs, file).entries;
  const set = StateTable.from([e]);
  const key = `f:${e.tracked ? 1 : 0}:${e.size}:${e.mtime_ns}:${e.mode}`;
  for (const table of [read, set]) {
    const cmp = table.compare();
    assert.equal(cmp.hasQuickKey(e.path, key.slice(0, -1)), false, 'a prefix of the key is not the key');
    assert.equal(cmp.hasQuickKey(e.path, `${key}4`), false);
    assert.equal(cmp.hasQuickKey('other', key), false);
    assert.equal(cmp.hasQuickKey(e.path, key), true);
  }
});

describe('the manifest delta', () => {
  const info = (last: string) => ({ source: '/src', lastIncrement: last });
  const setup = (t: { after(fn: () => void): void }, n: number) => {
    const dir = tempDir('hb-manifest-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    writeManifest(realFs, file, info('2026-11-25T100000Z'), StateTable.from(Array.from({ length: n }, (_, i) => entry(i))));
    return { file, delta: manifestDeltaOf(file) };
  };
  const asObject = (t: StateTable) => Object.fromEntries([...t.entries()].map(([k, v]) => [k, v]));

  it('a small change is written beside the base, which stays byte for byte; reading both gives the new state', (t) => {
    const { file, delta } = setup(t, 1000);
    const base = fs.readFileSync(file);
    const m = readManifest(realFs, file);
    m.entries.set(entry(5).path, { ...entry(5), size: 123456, since: '2026-11-26T000000Z' });
    m.entries.delete(entry(6).path);
    m.entries.delete(entry(7).path);
    m.entries.set(entry(7).path, { ...entry(7), mode: 0o600 }); // deleted, then back
    const added = { ...entry(5000), path: 'new folder/added.txt' };
    m.entries.set(added.path, added);
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    assert.deepEqual(fs.readFileSync(file), base, 'the base is not rewritten');
    assert.equal(fs.readFileSync(delta, 'latin1').split('\n').length, 1 + 4 + 1, 'header, four changes (a path deleted and back is one), final newline');
    const again = readManifest(realFs, file);
    assert.deepEqual(asObject(again.entries), asObject(m.entries));
    assert.equal(again.entries.get(entry(6).path), undefined);
    assert.equal(again.header?.entries, 1000);
    assert.equal(again.header?.last_increment, '2026-11-26T000000Z');
    assert.equal(readManifestHeader(realFs, file)?.last_increment, '2026-11-26T000000Z', 'the header alone says the same');
    assert.equal(again.header?.top?.['new folder'], 1, 'top-level counts follow the changes');
  });

  it('deltas accumulate against one base; beyond an eighth of it the manifest is written whole, with a new id, and the delta goes', (t) => {
    const { file, delta } = setup(t, 800);
    const id0 = readManifestHeader(realFs, file)?.id;
    let expected: Record<string, unknown> = {};
    for (let round = 0; round < 12; round++) {
      const m = readManifest(realFs, file);
      for (let k = 0; k < 10; k++) {
        const e = entry(round * 10 + k);
        m.entries.set(e.path, { ...e, size: e.size + 1 + round });
      }
      writeManifest(realFs, file, info(`2026-11-26T0000${String(round).padStart(2, '0')}Z`), m.entries);
      expected = asObject(m.entries);
      const id = readManifestHeader(realFs, file)?.id;
      // 10 changes a round: 100 names (an eighth of 800) still fit a delta, 110 do not.
      if (round < 10) {
        assert.equal(id, id0, `round ${round}: same base`);
        assert.ok(fs.existsSync(delta));
      } else if (round === 10) {
        assert.notEqual(id, id0, 'a new base');
        assert.equal(fs.existsSync(delta), false, 'the delta went with the old base');
      }
      assert.deepEqual(asObject(readManifest(realFs, file).entries), expected, `round ${round}`);
    }
    assert.ok(fs.existsSync(delta), 'round 11: a delta against the new base');
  });

  it('the delta of the manifest a whole write replaced (a crash before its removal) is ignored; a delta of any other base is refused', (t) => {
    const { file, delta } = setup(t, 100);
    const m = readManifest(realFs, file);
    m.entries.delete(entry(1).path);
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    const old = fs.readFileSync(delta);
    const id0 = readManifestHeader(realFs, file)?.id;
    // The next run changes more than an eighth: the manifest is written whole, replacing id0.
    const next = readManifest(realFs, file);
    for (let i = 10; i < 30; i++) next.entries.delete(entry(i).path);
    writeManifest(realFs, file, info('2026-11-26T000001Z'), next.entries);
    const h = readManifestHeader(realFs, file);
    assert.equal(h?.replaces, id0);
    assert.equal(fs.existsSync(delta), false);
    fs.writeFileSync(delta, old); // as if the removal never happened
    const read = readManifest(realFs, file);
    assert.equal(read.entries.size, 79);
    assert.equal(read.entries.has(entry(1).path), false);
    assert.equal(read.header?.last_increment, '2026-11-26T000001Z');
    assert.equal(readManifestHeader(realFs, file)?.last_increment, '2026-11-26T000001Z');
    // One changed digit of its base: not the leftover the manifest names, so damage, never skipped.
    const text = old.toString('latin1');
    const other = text.replace(/"base":"([0-9a-f])/, (_m, c: string) => `"base":"${c === '0' ? '1' : '0'}`);
    assert.notEqual(other, text);
    fs.writeFileSync(delta, other, 'latin1');
    assert.throws(() => readManifest(realFs, file), /the delta is of manifest/);
    assert.equal(readManifestHeader(realFs, file), undefined, 'the header alone does not guess either');
    // A whole write removes a leftover that is not of the manifest it replaces first.
    fs.writeFileSync(delta, old);
    const again = readManifest(realFs, file);
    for (let i = 30; i < 60; i++) again.entries.delete(entry(i).path);
    writeManifest(realFs, file, info('2026-11-26T000002Z'), again.entries);
    assert.equal(fs.existsSync(delta), false);
    assert.equal(readManifest(realFs, file).entries.size, 49);
  });

  it('a delta without its manifest, or beside a format 1 manifest, is refused; a damaged top is only dropped', (t) => {
    const { file } = setup(t, 100);
    const m = readManifest(realFs, file);
    m.entries.delete(entry(1).path);
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    const base = fs.readFileSync(file, 'latin1');
    fs.renameSync(file, `${file}.away`);
    assert.throws(() => readManifest(realFs, file), /a delta but no manifest/);
    fs.renameSync(`${file}.away`, file);
    const lines = base.split('\n');
    const h = JSON.parse(lines[0] as string) as Record<string, unknown>;
    fs.writeFileSync(file, [JSON.stringify({ ...h, top: null }), ...lines.slice(1)].join('\n'), 'latin1');
    assert.equal(readManifest(realFs, file).entries.size, 99, 'top: null is no count to go by, and no damage');
    fs.writeFileSync(file, [JSON.stringify({ ...h, format: 1, id: undefined }), ...lines.slice(1)].join('\n'), 'latin1');
    assert.throws(() => readManifest(realFs, file), /format 1 manifest has no delta/);
  });

  it('a delta cut short, or not matching its header, is refused', (t) => {
    const { file, delta } = setup(t, 100);
    const m = readManifest(realFs, file);
    for (let i = 0; i < 5; i++) m.entries.delete(entry(i).path);
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    const full = fs.readFileSync(delta);
    for (const cut of [full.length - 1, full.length - 10]) {
      fs.writeFileSync(delta, full.subarray(0, cut));
      assert.throws(() => readManifest(realFs, file), /cut short|promises/, `cut at ${cut}`);
    }
    const lines = full.toString('latin1').split('\n');
    fs.writeFileSync(delta, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'), 'latin1'); // a change line lost
    assert.throws(() => readManifest(realFs, file), /promises 5 changes/);
    fs.writeFileSync(delta, ['{not json', ...lines.slice(1)].join('\n'), 'latin1');
    assert.throws(() => readManifest(realFs, file), /delta header/);
  });

  it("a delta's lines are read whatever way their paths are written, and a damaged one is refused", (t) => {
    const dir = tempDir('hb-manifest-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    const plain = (i: number, size = i): StateEntry => numberedFile(i, `plain/f${i}.txt`, size);
    writeManifest(realFs, file, info('2026-11-25T100000Z'), StateTable.from(Array.from({ length: 50 }, (_, i) => plain(i))));
    const m = readManifest(realFs, file);
    m.entries.set(plain(3).path, plain(3, 333)); // a path that needs no escape, changed
    m.entries.set('plain/new.txt', numberedFile(60, 'plain/new.txt')); // one added
    m.entries.delete(plain(4).path);
    m.entries.set(entry(7).path, entry(7)); // one with escapes (Ω, Cyrillic)
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    const delta = manifestDeltaOf(file);
    const lines = fs.readFileSync(delta, 'latin1').split('\n');
    const at = (path: string) => lines.findIndex((l) => l.startsWith(JSON.stringify(path)));
    const want = Object.fromEntries([...m.entries.entries()]);
    assert.deepEqual(Object.fromEntries([...readManifest(realFs, file).entries.entries()]), want);
    // The changed path written with an escape it does not need (\u0070 is p), as another writer may.
    const odd = [...lines];
    odd[at(plain(3).path)] = (odd[at(plain(3).path)] as string).replace('"plain/', '"\\u0070lain/');
    fs.writeFileSync(delta, odd.join('\n'), 'latin1');
    assert.deepEqual(Object.fromEntries([...readManifest(realFs, file).entries.entries()]), want);
    // Damaged: no tab after the path, a path whose escape does not decode, no quotes.
    for (const bad of [(l: string) => l.replace('\t', ' '), (l: string) => l.replace('"plain/', '"\\xlain/'), (l: string) => l.replace(/"/g, '')]) {
      const damaged = [...lines];
      damaged[at('plain/new.txt')] = bad(damaged[at('plain/new.txt')] as string);
      fs.writeFileSync(delta, damaged.join('\n'), 'latin1');
      assert.throws(() => readManifest(realFs, file), /line \d+ is damaged/, damaged[at('plain/new.txt')]);
    }
    // A line's tab past its end does not count (the table's own check, where the reader gives ends).
    assert.equal(new StateTable().putLineAt('"a"\n"b"\tk', 0, 3), 'damaged');
  });

  it('a format 1 manifest is read, and never gets a delta: the next write is whole, in format 2', (t) => {
    const dir = tempDir('hb-manifest-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    const table = StateTable.from([entry(1), entry(2)]);
    const header = { hardback: 'manifest', format: 1, source: '/src', last_increment: null, written: 'x', entries: 2 };
    fs.writeFileSync(file, `${JSON.stringify(header)}\n${[...table.encodedLines()].map((l) => `${l}\n`).join('')}`, 'latin1');
    const m = readManifest(realFs, file);
    assert.deepEqual(m.entries.get(entry(2).path), entry(2));
    m.entries.delete(entry(1).path);
    writeManifest(realFs, file, info('2026-11-26T000000Z'), m.entries);
    assert.equal(fs.existsSync(manifestDeltaOf(file)), false);
    assert.equal(readManifestHeader(realFs, file)?.format, 2);
    assert.deepEqual([...readManifest(realFs, file).entries.keys()], [entry(2).path]);
  });
});

describe('comparing the source with the state', () => {
  it('what neither the scan nor the plan found is unseen; each comparison has its own marks', () => {
    const table = StateTable.from([entry(1), entry(2), entry(3), entry(4)]);
    table.delete(entry(4).path);
    const key = (e: StateEntry) => `f:${e.tracked ? 1 : 0}:${e.size}:${e.mtime_ns}:${e.mode}`;
    const a = table.compare();
    assert.equal(a.hasQuickKey(entry(1).path, key(entry(1))), true);
    assert.equal(a.hasQuickKey(entry(2).path, `${key(entry(2))}0`), false, 'a key that differs marks nothing');
    assert.deepEqual([...a.unseen()], [entry(2).path, entry(3).path], 'a deleted entry is never unseen');
    assert.deepEqual(a.found(entry(2).path), entry(2));
    assert.deepEqual([...a.unseen()], [entry(3).path]);
    assert.deepEqual([...table.compare().unseen()], [entry(1).path, entry(2).path, entry(3).path]);
  });
});

test('a manifest naming a path twice is refused', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from([entry(1), entry(2)]));
  const [header, a] = fs.readFileSync(file, 'latin1').split('\n');
  const h = { ...JSON.parse(header as string), entries: 2 };
  fs.writeFileSync(file, `${JSON.stringify(h)}\n${a}\n${a}\n`, 'latin1');
  assert.throws(() => readManifest(realFs, file), /repeats the path/);
});

describe('the manifest read while a run writes it (readers take no lock)', () => {
  const info = (last: string) => ({ source: '/src', lastIncrement: last });
  const stateOf = (t: StateTable) => [...t.keys()].sort();
  /** A manifest of 40 entries and a live delta that removed the first. */
  const withLiveDelta = (t: { after(fn: () => void): void }) => {
    const dir = tempDir('hb-manifest-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    writeManifest(realFs, file, info('1'), StateTable.from(Array.from({ length: 40 }, (_, i) => entry(i))));
    const m = readManifest(realFs, file);
    m.entries.delete(entry(0).path);
    writeManifest(realFs, file, info('2'), m.entries);
    return { file, state: stateOf(readManifest(realFs, file).entries) };
  };

  it('a whole rewrite between the reader opening the manifest and its delta: the reader gets the old state or the new one, never the old manifest alone', (t) => {
    const { file, state: withDelta } = withLiveDelta(t);
    let rewrote = false;
    let opened = 0;
    // Between the reader's opening of the two files (whichever it opens first), a run rewrites the
    // manifest whole (and removes the delta).
    const racing = beforeOpen((path) => {
      if (path === file || path === manifestDeltaOf(file)) opened++;
      if (rewrote || opened !== 2) return;
      rewrote = true;
      const run = readManifest(realFs, file);
      for (let i = 1; i < 20; i++) run.entries.delete(entry(i).path);
      writeManifest(realFs, file, info('3'), run.entries);
      assert.equal(fs.existsSync(manifestDeltaOf(file)), false, 'the writer removed the delta');
    });
    const read = readManifest(racing, file);
    assert.equal(rewrote, true);
    const got = stateOf(read.entries);
    const now = stateOf(readManifest(realFs, file).entries);
    assert.equal(now.length, 20);
    assert.ok(JSON.stringify(got) === JSON.stringify(now) || JSON.stringify(got) === JSON.stringify(withDelta), `read ${got.length} entries`);
    assert.equal(got.includes(entry(0).path), false, 'never the old manifest without its delta');
  });

  it('a whole write of a table not read from the drive keeps the live delta until the new manifest is in place', (t) => {
    const { file, state: before } = withLiveDelta(t);
    // The rename of the new manifest fails (a crash at that point): what the drive holds is unchanged.
    const failing = faultyFs({ renameSync: (p) => String(p).includes('.manifest.jsonl.') && 'EIO' });
    assert.throws(() => writeManifest(failing, file, info('3'), StateTable.from([entry(7)])), /EIO/);
    assert.deepEqual(stateOf(readManifest(realFs, file).entries), before);
  });

  it('a header without its newline is named as line 1', (t) => {
    const dir = tempDir('hb-manifest-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    fs.writeFileSync(file, JSON.stringify({ hardback: 'manifest', format: 2, id: 'x', source: '/s', last_increment: null, written: 'x', entries: 0 }));
    assert.throws(() => readManifest(realFs, file), /line 1 is cut short/);
  });
});

test("a scan thread's share (`only`) keeps exactly the entries at and below its top-level names, however the lines are ordered and written", (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  // Top-level names that are prefixes of each other, one written with escapes (é, a quote), entries
  // of the top-level names themselves, and a name's paths coming back after others (a run's additions
  // are appended at the end of the table).
  const paths = ['A', 'A/x', 'A/y/z', 'AB/w', 'AB', 'A b/c', 'é', 'é/q', 'é/r/s', 'x"y/1', 'x"y/2', 'C', 'A/late', 'é/late', 'AB/late', 'A'.repeat(3) + '/d'];
  const entries = paths.map((p, i) => numberedFile(i, p));
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from(entries));
  const whole = [...readManifest(realFs, file).entries.keys()];
  assert.deepEqual(whole.sort(), [...paths].sort());
  for (const share of [['A'], ['AB', 'é'], ['x"y', 'C', 'A b'], ['AAA'], []]) {
    const names = new Set(share);
    const part = readManifest(realFs, file, { only: names });
    const want = paths.filter((p) => names.has(p.split('/')[0] as string)).sort();
    assert.deepEqual([...part.entries.keys()].sort(), want, `share ${JSON.stringify(share)}`);
    for (const p of want) assert.deepEqual(part.entries.get(p), entries[paths.indexOf(p)]);
  }
});
