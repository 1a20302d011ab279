import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { readManifest, readManifestHeader, writeManifest } from '../../src/store/manifest.js';
import { manifestDeltaOf } from '../../src/store/layout.js';
import { decodeLine, encode, StateError, StateTable } from '../../src/store/state-table.js';
import { entryProblem } from '../../src/store/journal.js';
import { asciiJson } from '../../src/meta/ascii-json.js';
import { isSafeRelPath, topLevelName } from '../../src/meta/safe-path.js';
import { quickKey } from '../../src/plan/compare.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';
import { makeRng } from '../helpers/model.js';
import { numberedFile } from '../helpers/entries.js';

/**
 * StateTable (src/store/state-table.ts) keeps no object per path: each slot is a range of a text (a
 * chunk the manifest reader read, or a line of its own), found through typed-array columns and an
 * open-addressing hash of the path's canonical JSON. Here it is driven by random operations and
 * checked, after every one, against a plain Map of what it should hold; and read back through the
 * manifest (whole writes and deltas) against what the reader should rebuild.
 *
 * Replay a failure with HB_SEED=<seed> (every failure names its seed and step).
 */

const pick = <T>(rng: () => number, a: readonly T[]): T => a[Math.floor(rng() * a.length)] as T;
const int = (rng: () => number, n: number): number => Math.floor(rng() * n);

/**
 * Names of one path segment: plain ASCII, names that are prefixes of each other, spaces, the JSON
 * specials `"` and `\`, control characters, a tab and newlines inside a name, DEL, Latin-1 letters (a
 * raw byte in a hand-written manifest), CJK, and emoji (surrogate pairs).
 */
const NAMES = [
  'a',
  'ab',
  'abc',
  'A',
  'Ab',
  'a.b',
  'a b',
  ' lead',
  'trail ',
  'sp a ce',
  'q"uote',
  '"',
  'back\\slash',
  '\\',
  '\\"mix"\\',
  'ctl\u0001x',
  '\u001f',
  'bell\u0007\b\f',
  'tab\tin',
  'new\nline',
  'cr\r\n',
  'del\u007f',
  'été',
  'café',
  'ÿ',
  '\u0080c1',
  'Ünïcødé',
  '日本',
  '日本語',
  '漢字ファイル.txt',
  '🙂',
  '🙂🙂',
  'x🙂y',
  'line\u2028sep',
];

/** Paths of one to three segments: every name alone, and combinations (a/b, a/b/c, ab/c…). */
function pathPool(rng: () => number, extra: number): string[] {
  const pool = new Set<string>(NAMES);
  for (const p of ['a/b', 'a/b/c', 'a/bc', 'ab/c', 'a b/日本', '日本/日本語', '🙂/🙂', 'q"uote/\\', 'tab\tin/new\nline']) pool.add(p);
  while (pool.size < NAMES.length + 9 + extra) {
    const depth = 1 + int(rng, 3);
    pool.add(Array.from({ length: depth }, () => pick(rng, NAMES)).join('/'));
  }
  return [...pool];
}

const hex = (rng: () => number, n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[int(rng, 16)]).join('');
const TARGETS = ['../a', 'a/b', '', 'tab\there', 'nl\nx', 'q"t', 'back\\', 'é日本🙂', 'c:d:e', '/abs/path', ' '];

/** A valid entry, in the shape a manifest line decodes to (no undefined fields). */
function randomEntry(rng: () => number, path: string): StateEntry {
  const ns = BigInt(int(rng, 2 ** 40)) * 1000n + BigInt(int(rng, 1000));
  const common = {
    path,
    mtime_ns: rng() < 0.05 ? `-${ns}` : `${1767225600000000000n + ns}`,
    uid: int(rng, 70000),
    gid: int(rng, 70000),
    tracked: rng() < 0.5,
  };
  const r = rng();
  let e: StateEntry;
  if (r < 0.6) e = { ...common, type: 'file', size: int(rng, 2 ** 40), mode: pick(rng, [0o644, 0o600, 0o755, 0o4755]), sha256: hex(rng, 64) };
  else if (r < 0.85) e = { ...common, type: 'dir', size: 0, mode: pick(rng, [0o755, 0o700, 0o1777]) };
  else e = { ...common, type: 'symlink', size: 0, mode: 0o777, target: pick(rng, TARGETS) };
  if (rng() < 0.7) e.since = `2026-11-${10 + int(rng, 20)}T${hex(rng, 6).replace(/[a-f]/g, '0')}Z`;
  if (rng() < 0.5) e.ino = `${int(rng, 3000)}:${int(rng, 1e9)}`;
  return e;
}

const hex4 = (c: number): string => c.toString(16).padStart(4, '0');

/**
 * `path` as a JSON string written otherwise than asciiJson writes it, where it can be: \uXXXX for
 * any character (either case), `\/`, and a raw Latin-1 character (a byte ≥ 0x7F in the file as read).
 * Decodes to `path` all the same.
 */
function oddJson(rng: () => number, path: string): string {
  let out = '"';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    const ways = [asciiJson(String.fromCharCode(c)).slice(1, -1), `\\u${hex4(c)}`, `\\u${hex4(c).toUpperCase()}`];
    if (c === 0x2f) ways.push('\\/');
    if (c >= 0x7f && c <= 0xff) ways.push(String.fromCharCode(c));
    out += pick(rng, ways);
  }
  return `${out}"`;
}
/** The line with its path written as `json`. */
const withPathJson = (line: string, json: string): string => json + line.slice(line.indexOf('\t'));
/** The line as the table keeps it: its path in canonical JSON. */
const canonical = (path: string, line: string): string => withPathJson(line, asciiJson(path));

/** Whether every byte of the file is ASCII (the manifest and its delta are, by construction). */
function assertAscii(file: string): void {
  if (!fs.existsSync(file)) return;
  const b = fs.readFileSync(file);
  const at = b.findIndex((x) => x >= 0x80);
  assert.equal(at, -1, `${file} has a byte ≥ 0x80 at ${at}`);
}

const top = (paths: Iterable<string>): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const p of paths) counts[topLevelName(p)] = (counts[topLevelName(p)] ?? 0) + 1;
  return counts;
};

const DELTA_FRACTION = 8; // store/state-table.ts: a delta while it names at most 1/8 of the base

/**
 * What a StateTable should hold: a Map of the live entries (and their lines, in canonical form), the
 * slot order (a path keeps its slot when deleted and takes it back when stored again: keys() come in
 * slot order, not in a Map's insertion order), and the tracking of changes against the manifest base.
 */
class Model {
  order: string[] = [];
  slotted = new Set<string>();
  live = new Map<string, { entry: StateEntry; line: string }>();
  /** Undefined: not read from (nor written to) a manifest; changed undefined: too many for a delta. */
  tracking: { changed: Set<string> | undefined; limit: number } | undefined;
  /** The base manifest on the drive: its paths, in order. */
  base: { paths: string[]; set: Set<string> } | undefined;

  store(path: string, entry: StateEntry, line: string): void {
    if (!this.slotted.has(path)) {
      this.slotted.add(path);
      this.order.push(path);
    }
    this.live.set(path, { entry, line: canonical(path, line) });
    this.touched(path);
  }
  remove(path: string): boolean {
    if (!this.live.delete(path)) return false;
    this.touched(path);
    return true;
  }
  private touched(path: string): void {
    const t = this.tracking;
    if (t?.changed === undefined) return;
    t.changed.add(path);
    if (t.changed.size > t.limit) t.changed = undefined;
  }
  keys(): string[] {
    return this.order.filter((p) => this.live.has(p));
  }
  /** Whether the next write is a delta. */
  writesDelta(): boolean {
    return this.tracking?.changed !== undefined;
  }
  /** After a whole write: its lines are the new base, and changes count from it. */
  wroteWhole(): void {
    const paths = this.keys();
    this.base = { paths, set: new Set(paths) };
    this.tracking = { changed: new Set(), limit: Math.floor(paths.length / DELTA_FRACTION) };
  }
  /**
   * The table readManifest rebuilds right after a write: the base's lines in order (those the delta
   * removes keep their slots), then the paths the delta adds, in the writer's slot order (the delta
   * is sorted by slot). Its changes are the delta's lines that change it.
   */
  reader(): Model {
    const base = this.base as NonNullable<Model['base']>;
    const delta = this.tracking?.changed as Set<string>;
    const r = new Model();
    r.order = [...base.paths, ...this.order.filter((p) => delta.has(p) && this.live.has(p) && !base.set.has(p))];
    r.slotted = new Set(r.order);
    for (const p of r.order) {
      const v = this.live.get(p);
      if (v !== undefined) r.live.set(p, v);
    }
    r.base = base;
    r.tracking = { changed: new Set([...delta].filter((p) => this.live.has(p) || base.set.has(p))), limit: Math.floor(base.paths.length / DELTA_FRACTION) };
    return r;
  }
}

/** Everything the table says against the model. */
function check(table: StateTable, model: Model, probe: readonly string[]): void {
  const keys = model.keys();
  assert.equal(table.size, keys.length, 'size');
  assert.deepEqual([...table.keys()], keys, 'keys() in slot order');
  assert.deepEqual([...table.values()], keys.map((p) => model.live.get(p)?.entry), 'values()');
  const lines = keys.map((p) => model.live.get(p)?.line as string);
  assert.deepEqual([...table.encodedLines()], lines, 'encodedLines()');
  const sinces: (string | undefined)[] = [];
  for (let slot = 0; slot < table.slots(); slot++) if (table.livePathAt(slot) !== undefined) sinces.push(table.sinceAt(slot));
  assert.deepEqual(sinces, keys.map((p) => model.live.get(p)?.entry.since), 'sinceAt() of each live slot');
  assert.equal([...table.linePieces()].join(''), lines.map((l) => `${l}\n`).join(''), 'linePieces() joined');
  assert.equal(table.countNonDirs(), keys.filter((p) => model.live.get(p)?.entry.type !== 'dir').length, 'countNonDirs()');
  for (const p of probe) {
    const v = model.live.get(p);
    assert.equal(table.has(p), v !== undefined, `has(${JSON.stringify(p)})`);
    assert.deepEqual(table.get(p), v?.entry, `get(${JSON.stringify(p)})`);
    assert.equal(table.encodedLine(p), v?.line, `encodedLine(${JSON.stringify(p)})`);
  }
}

/** One seeded run of random operations; `file` is the manifest it writes and reads. */
function runModel(seed: number, dir: string, steps: number): { writes: number; deltas: number; odd: number } {
  const rng = makeRng(seed);
  const file = join(dir, 'manifest.jsonl');
  const delta = manifestDeltaOf(file);
  const pool = pathPool(rng, 120);
  // Paths never stored: lookups of them must miss, whatever they share with stored ones.
  const absent = ['', 'a/', 'a\u0000', 'zzz', 'ab/c/d', '日', '\ud83d', 'Ab '];
  const probe = [...pool, ...absent];
  let table = new StateTable();
  let model = new Model();
  const log: string[] = [];
  let writes = 0;
  let deltas = 0;
  let odd = 0;

  const lineFor = (path: string, e: StateEntry): string => (rng() < 0.4 ? withPathJson(encode(e), oddJson(rng, path)) : encode(e));
  const ops: Array<[number, () => string]> = [
    [
      20,
      () => {
        const p = pick(rng, pool);
        const e = randomEntry(rng, p);
        table.set(p, e);
        model.store(p, e, encode(e));
        return `set ${JSON.stringify(p)}`;
      },
    ],
    [
      8,
      () => {
        const p = pick(rng, pool);
        const e = randomEntry(rng, p);
        table.keep(e);
        model.store(p, e, encode(e));
        return `keep ${JSON.stringify(p)}`;
      },
    ],
    [
      14,
      () => {
        const p = pick(rng, pool);
        const e = randomEntry(rng, p);
        const line = lineFor(p, e);
        // Every other one as a delta's line is read (putLineAt: its path read in the line), drawn
        // without the generator so that each seed's sequence stays as it was.
        const inPlace = (p.length + model.order.length) % 2 === 0;
        if (inPlace) assert.equal(table.putLineAt(`x${line}\n`, 1, line.length + 1), 'put');
        else table.setLine(p, line);
        model.store(p, e, line);
        return `${inPlace ? 'putLineAt' : 'setLine'} ${JSON.stringify(p)} as ${JSON.stringify(line.slice(0, line.indexOf('\t')))}`;
      },
    ],
    [
      18,
      () => {
        const live = model.keys();
        const p = live.length > 0 && rng() < 0.8 ? pick(rng, live) : pick(rng, probe);
        assert.equal(table.delete(p), model.remove(p), `delete(${JSON.stringify(p)})`);
        return `delete ${JSON.stringify(p)}`;
      },
    ],
    [
      10,
      () => {
        // A path deleted and stored again takes its old slot back.
        const dead = model.order.filter((p) => !model.live.has(p));
        if (dead.length === 0) return 'revive (none dead)';
        const p = pick(rng, dead);
        const e = randomEntry(rng, p);
        if (rng() < 0.5) {
          table.set(p, e);
          model.store(p, e, encode(e));
        } else {
          const line = lineFor(p, e);
          table.setLine(p, line);
          model.store(p, e, line);
        }
        return `revive ${JSON.stringify(p)}`;
      },
    ],
    [
      8,
      () => {
        // addLine: for a path the table never had, or one it has (refused, nothing changes).
        const fresh = pool.filter((p) => !model.slotted.has(p));
        const live = model.keys();
        const p = fresh.length > 0 && (live.length === 0 || rng() < 0.7) ? pick(rng, fresh) : live.length > 0 ? pick(rng, live) : undefined;
        if (p === undefined) return 'addLine (no path)';
        const e = randomEntry(rng, p);
        const line = lineFor(p, e);
        const isNew = !model.slotted.has(p);
        assert.equal(table.addLine(p, line), isNew, `addLine(${JSON.stringify(p)})`);
        if (isNew) model.store(p, e, line);
        return `addLine ${JSON.stringify(p)} ${isNew ? 'new' : 'repeat'}`;
      },
    ],
    [
      9,
      () => {
        // Through the manifest: a delta while the changes since the base stay within an eighth of it.
        const isDelta = model.writesDelta();
        const before = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
        const idBefore = readManifestHeader(realFs, file)?.id;
        writeManifest(realFs, file, { source: '/src', lastIncrement: `w${writes}` }, table);
        writes++;
        assertAscii(delta);
        if (isDelta) {
          deltas++;
          assert.deepEqual(fs.readFileSync(file), before, 'a delta leaves the base as it was');
          assert.ok(fs.existsSync(delta), 'a delta is written');
          assert.equal(table.deltaSize(), model.tracking?.changed?.size, 'the delta names each changed path once');
        } else {
          assert.equal(fs.existsSync(delta), false, 'a whole write removes the delta');
          assert.notEqual(readManifestHeader(realFs, file)?.id, idBefore, 'a whole write has a new id');
          model.wroteWhole();
          assertAscii(file);
        }
        let rewritten = false;
        if (rng() < 0.3) {
          // As if another writer had written the base: paths in JSON written otherwise (\u0041, \/, a raw 0xE9).
          const lines = fs.readFileSync(file, 'latin1').split('\n');
          for (let i = 1; i < lines.length - 1; i++) {
            const l = lines[i] as string;
            if (rng() < 0.5) lines[i] = withPathJson(l, oddJson(rng, JSON.parse(l.slice(0, l.indexOf('\t'))) as string));
          }
          fs.writeFileSync(file, lines.join('\n'), 'latin1');
          rewritten = true;
          odd++;
        }
        const m = readManifest(realFs, file);
        const reader = model.reader();
        assert.equal(m.header?.entries, reader.live.size, 'header entries');
        assert.equal(m.header?.last_increment, `w${writes - 1}`);
        assert.deepEqual(m.header?.top, top(reader.keys()), 'the top-level counts of the header (kept up to date by a delta)');
        check(m.entries, reader, probe);
        assert.equal(m.entries.deltaSize(), reader.tracking?.changed?.size, 'the reader counts the delta it applied');
        // A run reads the manifest and works on what it read; sometimes the writer goes on instead.
        if (rng() < 0.75) {
          table = m.entries;
          model = reader;
        }
        return `write ${isDelta ? 'delta' : 'whole'}${rewritten ? ', base rewritten oddly' : ''}, read`;
      },
    ],
    [
      4,
      () => {
        const cmp = table.compare();
        const keys = model.keys();
        const marked = new Set<string>();
        for (const p of keys) {
          if (rng() < 0.5) continue;
          const e = model.live.get(p)?.entry as StateEntry;
          const r = rng();
          if (r < 0.25) {
            assert.equal(cmp.hasQuickKey(p, quickKey(e)), true, `hasQuickKey(${JSON.stringify(p)})`);
            marked.add(p);
          } else if (r < 0.4) {
            assert.equal(cmp.hasQuickKey(p, `${quickKey(e)}0`), false, 'a longer key');
            assert.equal(cmp.hasQuickKey(p, quickKey(e).slice(0, -1)), false, 'a prefix of the key');
          } else if (r < 0.7) {
            assert.deepEqual(cmp.found(p), e, `found(${JSON.stringify(p)})`);
            marked.add(p);
          } else {
            assert.equal(typeof cmp.markPath(p), 'number', `markPath(${JSON.stringify(p)})`);
            marked.add(p);
          }
        }
        for (const p of probe) {
          if (model.live.has(p)) continue;
          assert.equal(cmp.markPath(p), undefined, `markPath of a path not there: ${JSON.stringify(p)}`);
          assert.equal(cmp.found(p), undefined);
          assert.equal(cmp.hasQuickKey(p, 'd:1:493'), false);
        }
        assert.deepEqual([...cmp.unseen()], keys.filter((p) => !marked.has(p)), 'unseen(): the live paths not marked, in slot order');
        assert.deepEqual([...table.compare().unseen()], keys, 'a new comparison has marks of its own');
        return `compare (${marked.size} of ${keys.length} marked)`;
      },
    ],
    [
      2,
      () => {
        // The scan on two threads (scan/parallel.ts): this thread marks what it walked, then what the
        // worker walked is marked whole, but for what the worker did not find.
        const cmp = table.compare();
        const keys = model.keys();
        const tops = [...new Set(keys.map(topLevelName))];
        const theirs = new Set(tops.filter(() => rng() < 0.5));
        const marked = new Set<string>();
        for (const p of keys) if (!theirs.has(topLevelName(p)) && rng() < 0.5 && cmp.markPath(p) !== undefined) marked.add(p);
        // Not found by the worker: some of its paths, and (ignored) paths of other names and paths not recorded.
        const notFound = keys.filter(() => rng() < 0.2);
        for (const p of probe) if (rng() < 0.1) notFound.push(p);
        const nf = new Set(notFound);
        cmp.foundElsewhere(theirs, notFound);
        const want = keys.filter((p) => (theirs.has(topLevelName(p)) ? nf.has(p) : !marked.has(p)));
        assert.deepEqual([...cmp.unseen()], want, `foundElsewhere(${JSON.stringify([...theirs])})`);
        return `foundElsewhere (${theirs.size} of ${tops.length} names)`;
      },
    ],
    [
      1,
      () => {
        table.clear();
        for (const p of model.keys()) model.remove(p);
        return 'clear';
      },
    ],
  ];
  const total = ops.reduce((s, [w]) => s + w, 0);
  for (let step = 0; step < steps; step++) {
    let what = '?';
    try {
      let r = rng() * total;
      const op = ops.find(([w]) => (r -= w) < 0) ?? (ops[0] as [number, () => string]);
      what = `${OP_NAMES[ops.indexOf(op)]} (failed)`;
      what = op[1]();
      log.push(what);
      check(table, model, probe);
    } catch (err) {
      if (err instanceof Error) err.message = `[HB_SEED=${seed} step ${step}: ${what}; before: ${log.slice(-8, -1).join(' | ')}] ${err.message}`;
      throw err;
    }
  }
  return { writes, deltas, odd };
}

const OP_NAMES = ['set', 'keep', 'setLine', 'delete', 'revive', 'addLine', 'write and read', 'compare', 'clear'];

const REPLAY = process.env.HB_SEED !== undefined && process.env.HB_SEED !== '';
const SEEDS = REPLAY ? [Number(process.env.HB_SEED) >>> 0] : [1, 2, 3, 0xc0ffee, 20261126, 0xdeadbeef];

describe('StateTable against a Map model, through the manifest', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: random set/keep/setLine/delete/revive/addLine/compare, whole writes and deltas read back`, (t) => {
      const dir = tempDir('hb-state-table-');
      t.after(() => removeDir(dir));
      const r = runModel(seed, dir, 400);
      t.diagnostic(`${r.writes} writes, ${r.deltas} of them deltas; ${r.odd} bases rewritten with odd path JSON`);
      if (!REPLAY) {
        // The fixed seeds give every kind of write (another seed may not: HB_SEED replays one as it is).
        assert.ok(r.deltas >= 2 && r.writes - r.deltas >= 2 && r.odd >= 1, `seed ${seed}: ${r.writes} writes, ${r.deltas} deltas, ${r.odd} bases rewritten oddly`);
      }
    });
  }
});

/** A file entry with a long name below an odd folder: 20,000 of them make a manifest of several 1 MiB read chunks. */
const bulkEntry = (i: number, size = i): StateEntry => numberedFile(i, `${NAMES[i % NAMES.length] as string}/n${i}-${'x'.repeat(i % 150)}`, size);
const MANIFEST_CHUNK = 1 << 20; // store/manifest.ts READ_CHUNK

describe('20,000 entries: the index grows, and a manifest of several chunks', () => {
  const N = 20000;
  const info = { source: '/src', lastIncrement: null };

  it('every path is found as the index grows from 1,024 slots, before and after a read; lookups of other paths miss', () => {
    const table = new StateTable();
    // Deleted before the index first grows: their slots go through every growth, and are taken back after.
    const early = [0, 10, 11, 511, 700];
    const gone = new Set<number>();
    for (let i = 0; i < N; i++) {
      const e = bulkEntry(i);
      if (i % 3 === 0) table.set(e.path, e);
      else if (i % 3 === 1) table.keep(e);
      else table.setLine(e.path, withPathJson(encode(e), oddJson(makeRng(i), e.path)));
      if (i === 800) {
        for (const k of early) assert.equal(table.delete(bulkEntry(k).path), true);
        for (const k of early) gone.add(k);
      }
      if ((i & (i - 1)) === 0 || i === N - 1) {
        // At each power of two (the index has just grown, or is about to): all of it is there.
        assert.equal(table.size, i + 1 - gone.size);
        for (let k = 0; k <= i; k++) assert.equal(table.encodedLine(bulkEntry(k).path), gone.has(k) ? undefined : encode(bulkEntry(k)), `entry ${k} of ${i + 1}`);
      }
    }
    assert.deepEqual([...table.keys()], Array.from({ length: N }, (_, i) => bulkEntry(i).path).filter((_, i) => !gone.has(i)));
    for (const k of early) table.set(bulkEntry(k).path, bulkEntry(k, 1));
    assert.equal(table.size, N);
    assert.deepEqual([...table.keys()], Array.from({ length: N }, (_, i) => bulkEntry(i).path), 'each deleted path took its old slot back');
    for (const k of early) assert.deepEqual(table.get(bulkEntry(k).path), bulkEntry(k, 1));
    for (const k of early) table.set(bulkEntry(k).path, bulkEntry(k));
    for (let i = 0; i < N; i += 97) assert.deepEqual(table.get(bulkEntry(i).path), bulkEntry(i));
    for (const p of ['a/n1', 'a/n0', 'a/n0-x', 'ab/n1-', 'ab/n1-xx', 'a/n0-/', '/a/n0-', 'zzz']) assert.equal(table.has(p), false, p);
    const dir = tempDir('hb-state-table-');
    try {
      const file = join(dir, 'manifest.jsonl');
      writeManifest(realFs, file, info, table);
      assert.ok(fs.statSync(file).size > 4 * MANIFEST_CHUNK, 'several read chunks');
      const read = readManifest(realFs, file).entries;
      assert.equal(read.size, N);
      for (let i = 0; i < N; i++) assert.equal(read.encodedLine(bulkEntry(i).path), encode(bulkEntry(i)), `entry ${i} read back`);
      assert.deepEqual([...read.keys()], [...table.keys()]);
      assert.equal(read.countNonDirs(), N);
    } finally {
      removeDir(dir);
    }
  });

  it('lineMatches tests each line where it lies as the line alone would be tested: in a chunk, across two, and kept on its own', (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    // A third of the lines have a since: the pattern below matches those (it cannot match past a
    // newline, as lineMatches asks).
    const entry = (i: number, v = 0): StateEntry => {
      const e = bulkEntry(i, i + v);
      if (i % 3 !== 0) delete e.since;
      return e;
    };
    writeManifest(realFs, file, info, StateTable.from(Array.from({ length: N }, (_, i) => entry(i))));
    assert.ok(fs.statSync(file).size > 4 * MANIFEST_CHUNK, 'several read chunks: lines across two');
    const table = readManifest(realFs, file).entries;
    // Lines kept on their own: overwritten, new, and written with odd path JSON (kept re-encoded).
    for (let i = 0; i < N; i += 7) table.keep(entry(i, 1));
    for (let i = N; i < N + 300; i++) table.keep(entry(i));
    const rng = makeRng(18);
    for (let i = 5; i < N; i += 11) table.setLine(entry(i).path, withPathJson(encode(entry(i, 2)), oddJson(rng, entry(i).path)));
    const body = String.raw`"[^\t\n]*"\t[^\n]*Z\t[^\t\n]*`;
    const inPlace = new RegExp(`${body}(?=\n|$)`, 'y');
    const alone = new RegExp(`^${body}$`);
    let matched = 0;
    let slots = 0;
    for (let slot = 0; slot < table.slots(); slot++) {
      const path = table.livePathAt(slot);
      if (path === undefined) continue;
      slots++;
      const line = table.encodedLine(path) as string;
      const want = alone.test(line);
      assert.equal(table.lineMatches(slot, inPlace), want, `slot ${slot}: ${line.slice(0, 60)}`);
      if (want) matched++;
    }
    assert.equal(slots, N + 300);
    assert.ok(matched > N / 4 && matched < N / 2, `${matched} lines with a since, of ${slots}`);
  });

  it('linePieces() of a read table is the lines, in a few slices: unchanged, and after deletes, overwrites, revivals and additions', (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    writeManifest(realFs, file, info, StateTable.from(Array.from({ length: N }, (_, i) => bulkEntry(i))));
    const bytes = fs.statSync(file).size;
    const chunks = Math.ceil(bytes / MANIFEST_CHUNK);
    // Which lines cross a chunk boundary (the reader makes each a string of its own).
    const text = fs.readFileSync(file, 'latin1');
    const crossing: number[] = [];
    let at = text.indexOf('\n') + 1;
    for (let i = 0; i < N; i++) {
      const end = text.indexOf('\n', at);
      if (Math.floor(at / MANIFEST_CHUNK) !== Math.floor(end / MANIFEST_CHUNK)) crossing.push(i);
      at = end + 1;
    }
    assert.ok(crossing.length >= 3, `lines across chunk boundaries: ${crossing.join(', ')}`);

    const m = readManifest(realFs, file).entries;
    const joined = (tb: StateTable) => [...tb.encodedLines()].map((l) => `${l}\n`).join('');
    let pieces = [...m.linePieces()];
    assert.equal(pieces.join(''), joined(m));
    assert.equal(pieces.join(''), text.slice(text.indexOf('\n') + 1), 'the lines as they were read');
    assert.ok(pieces.length <= chunks + crossing.length, `unchanged: ${pieces.length} pieces for ${N} lines in ${chunks} chunks`);
    assert.ok(pieces.every((p) => p.endsWith('\n')), 'every piece ends at a line end');
    t.diagnostic(`unchanged: ${pieces.length} pieces for ${N} lines in ${chunks} chunks (${crossing.length} lines across chunks)`);

    // Changes all through it: each one breaks a run of lines (what changed is a line of its own).
    const expected = new Map<string, string>(Array.from({ length: N }, (_, i) => [bulkEntry(i).path, encode(bulkEntry(i))]));
    const order = [...expected.keys()];
    const del = (i: number) => {
      assert.equal(m.delete(bulkEntry(i).path), true);
      expected.delete(bulkEntry(i).path);
    };
    const put = (e: StateEntry, line = encode(e)) => {
      m.setLine(e.path, line);
      if (!order.includes(e.path)) order.push(e.path);
      expected.set(e.path, canonical(e.path, line));
    };
    del(0);
    del(N - 1);
    for (let i = 500; i < N; i += 1000) del(i); // in the middle of a chunk
    del(crossing[0] as number);
    del((crossing[1] as number) - 1); // the line before one that crosses
    for (let i = 7; i < N; i += 1009) put(bulkEntry(i, 1)); // overwritten
    put(bulkEntry(crossing[2] as number, 2)); // a crossing line overwritten
    put(bulkEntry(1234, 3), withPathJson(encode(bulkEntry(1234, 3)), oddJson(makeRng(9), bulkEntry(1234).path)));
    for (let i = 1500; i < N; i += 2000) put(bulkEntry(i)); // deleted (i = 500 + 1000k), then stored again: its old slot
    put({ ...bulkEntry(N + 1), path: 'new/at the end' });
    const live = order.filter((p) => expected.has(p));
    assert.deepEqual([...m.keys()], live, 'revived paths are in their old places');
    assert.deepEqual([...m.encodedLines()], live.map((p) => expected.get(p)));
    pieces = [...m.linePieces()];
    assert.equal(pieces.join(''), joined(m), 'linePieces() joined, after the changes');
    const changes = N - expected.size + 40; // deletes, and generously the lines stored
    assert.ok(pieces.length < 2 * changes + chunks + crossing.length + 1, `${pieces.length} pieces`);
    t.diagnostic(`changed: ${pieces.length} pieces for ${expected.size} lines`);

    // More than an eighth changed: written whole, from those pieces; read back the same.
    for (let i = 3; i < N; i += 7) if (expected.has(bulkEntry(i).path)) del(i);
    assert.equal([...m.linePieces()].join(''), joined(m));
    writeManifest(realFs, file, info, m);
    assert.equal(fs.existsSync(manifestDeltaOf(file)), false, 'written whole');
    const whole = fs.readFileSync(file, 'latin1');
    assert.equal(whole.slice(whole.indexOf('\n') + 1), joined(m));
    const again = readManifest(realFs, file).entries;
    assert.deepEqual([...again.keys()], order.filter((p) => expected.has(p)));
    for (const [p, line] of expected) assert.equal(again.encodedLine(p), line);
    assert.equal(again.size, expected.size);
  });
});

/** A manifest written by hand (latin1: a raw byte per character ≤ 0xFF) with these lines after its header. */
function handManifest(dir: string, lines: readonly string[], format = 2): string {
  const file = join(dir, 'manifest.jsonl');
  const header = { hardback: 'manifest', format, ...(format === 2 ? { id: 'feedc0de' } : {}), source: '/src', last_increment: null, written: 'x', entries: lines.length };
  fs.writeFileSync(file, `${JSON.stringify(header)}\n${lines.map((l) => `${l}\n`).join('')}`, 'latin1');
  return file;
}
const dirEntry = (path: string, mode = 0o755): StateEntry => ({ path, type: 'dir', size: 0, mtime_ns: '1767225600123456789', mode, uid: 0, gid: 0, tracked: true });

describe('lines whose path JSON is not written the way asciiJson writes it', () => {
  // Each: the path as written in the file, the path it decodes to.
  const odd: Array<[string, string]> = [
    ['"\\u0041b"', 'Ab'],
    ['"a\\/b"', 'a/b'],
    ['"caf\u00e9"', 'café'], // a raw byte 0xE9 (the file is ASCII as we write it: not so here)
    ['"\\u00E9t\\u00e9"', 'été'], // upper-case hex
    ['"\\ud83d\\uDE42 x"', '🙂 x'],
    ['"\\u0009tab\\u000a"', '\ttab\n'], // \t and \n are what asciiJson writes
    ['"del\u007f"', 'del\u007f'], // a raw DEL
  ];
  // Written as asciiJson writes them: escapes, but canonical.
  const canonicalOnes: Array<[string, string]> = [
    ['"q\\"uote\\\\"', 'q"uote\\'],
    ['"\\u65e5\\u672c"', '日本'],
    ['"plain name"', 'plain name'],
  ];

  it('are read, found by their decoded path, kept and written back canonical', (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const all = [...odd, ...canonicalOnes];
    const lines = all.map(([json, path], i) => withPathJson(encode(dirEntry(path, 0o700 + i)), json));
    const file = handManifest(dir, lines);
    const m = readManifest(realFs, file).entries;
    assert.equal(m.size, all.length);
    assert.deepEqual([...m.keys()], all.map(([, p]) => p), 'decoded paths, in the order read');
    all.forEach(([, path], i) => {
      assert.equal(m.has(path), true, path);
      assert.deepEqual(m.get(path), dirEntry(path, 0o700 + i), path);
      assert.equal(m.encodedLine(path), encode(dirEntry(path, 0o700 + i)), `the line of ${JSON.stringify(path)}, its path canonical`);
    });
    // An escape read as it is written names another path (none here).
    for (const [json] of odd) if (json.includes('\\')) assert.equal(m.has(json.slice(1, -1)), false, `the spelling ${json} is no path`);
    assert.deepEqual([...m.encodedLines()], all.map(([, p], i) => encode(dirEntry(p, 0o700 + i))));
    assert.equal([...m.linePieces()].join(''), all.map(([, p], i) => `${encode(dirEntry(p, 0o700 + i))}\n`).join(''));
    // Lookups through a comparison too.
    const cmp = m.compare();
    assert.equal(cmp.hasQuickKey('Ab', quickKey(dirEntry('Ab', 0o700))), true);
    assert.equal(cmp.markPath('café'), 2);
    assert.deepEqual([...cmp.unseen()], all.map(([, p]) => p).filter((p) => p !== 'Ab' && p !== 'café'));
    // Each path stored again by its decoded path takes its slot: no second one.
    m.set('a/b', dirEntry('a/b', 0o711));
    m.setLine('été', encode(dirEntry('été', 0o712)));
    assert.equal(m.size, all.length);
    assert.deepEqual([...m.keys()], all.map(([, p]) => p));
    // Written whole (any change is more than an eighth of 10): plain ASCII, canonical, the same state.
    writeManifest(realFs, file, { source: '/src', lastIncrement: null }, m);
    assertAscii(file);
    const again = readManifest(realFs, file).entries;
    assert.deepEqual([...again.entries()], [...m.entries()]);
    assert.deepEqual(fs.readFileSync(file, 'latin1').split('\n').slice(1, -1), [...m.encodedLines()]);
  });

  it('the same path written two ways in one manifest is a repeated path', (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const pairs: Array<[string, string, string]> = [
      ['"Ab"', '"\\u0041b"', 'Ab'],
      ['"\\u0041b"', '"Ab"', 'Ab'],
      ['"\\u0041b"', '"\\u0041\\u0062"', 'Ab'],
      ['"a/b"', '"a\\/b"', 'a/b'],
      ['"caf\u00e9"', '"caf\\u00e9"', 'café'],
      ['"caf\\u00E9"', '"caf\u00e9"', 'café'],
      ['"\\ud83d\\ude42"', '"\\uD83D\\uDE42"', '🙂'],
    ];
    for (const [first, second, path] of pairs) {
      const file = handManifest(dir, [encode(dirEntry('other')), withPathJson(encode(dirEntry(path)), first), withPathJson(encode(dirEntry(path, 0o700)), second)]);
      assert.throws(() => readManifest(realFs, file), (err: Error) => /line 4 repeats the path/.test(err.message) && err.message.includes(JSON.stringify(path)), `${first} then ${second}`);
      // The same through addLineAt, as the reader calls it.
      const table = new StateTable();
      const a = withPathJson(encode(dirEntry(path)), first);
      const b = withPathJson(encode(dirEntry(path, 0o700)), second);
      const text = `${a}\n${b}\n`;
      assert.equal(table.addLineAt(text, 0, a.length), 'added');
      assert.equal(table.addLineAt(text, a.length + 1, a.length + 1 + b.length), 'repeat', `${first} then ${second}`);
      assert.equal(table.size, 1);
      assert.deepEqual(table.get(path), dirEntry(path));
    }
  });

  it("an entry whose since or ino is not of its format is damaged when it is read (both go into journal lines as they are)", (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const file = (path: string, over: Partial<StateEntry>): StateEntry => ({ path, type: 'file', size: 1, mtime_ns: '1767225600123456789', mode: 0o644, uid: 0, gid: 0, tracked: true, sha256: 'a'.repeat(64), ...over });
    const good = [file('old.txt', { since: '2026-01-01T000000Z', ino: '2049:12' }), file('new.txt', { since: '2026-01-01T000000Z-2', ino: '2049:12:1795793364202915304' })];
    const bad = [
      file('a.txt', { since: '2026-01-01T000000Z","path":"keep.txt' }),
      file('b.txt', { since: 'é' }),
      file('c.txt', { ino: '1:2","x":"y' }),
      file('d.txt', { ino: '1:2:3:4' }),
    ];
    const entries = readManifest(realFs, handManifest(dir, [...good, ...bad].map(encode))).entries;
    for (const e of good) assert.deepEqual(entries.get(e.path), e);
    for (const e of bad) assert.throws(() => entries.get(e.path), new RegExp(`${e.path.replace('.', '\\.')}" is damaged \\((since|ino)\\)`), e.path);
  });

  it('a malformed line is damaged', (t) => {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const rest = encode(dirEntry('x')).slice(encode(dirEntry('x')).indexOf('\t'));
    const bad = [
      `Ab${rest}`, // no quotes
      `"Ab${rest}`, // no closing quote
      `Ab"${rest}`, // no opening quote
      `"A\\xb"${rest}`, // not an escape of JSON
      `"a\\u00"${rest}`, // a \u cut short
      `"a\\"${rest}`, // the closing quote escaped
      `"a\u0001b"${rest}`, // a raw control character
      `"a"b"${rest}`, // a quote not escaped
      `"a\\u0041`, // no tab at all
      `""`,
      '',
      `"\\"${rest}`,
    ];
    for (const line of bad) {
      const file = handManifest(dir, [encode(dirEntry('first')), line, encode(dirEntry('last'))]);
      assert.throws(() => readManifest(realFs, file), /line 3 is damaged/, JSON.stringify(line));
      const table = new StateTable();
      const text = `x\n${line}\n`;
      assert.equal(table.addLineAt(text, 2, 2 + line.length), 'damaged', JSON.stringify(line));
      assert.equal(table.size, 0);
    }
    // pathAt gives the path of a good line in a text, undefined for a line without one.
    const text = `${withPathJson(encode(dirEntry('Ab')), '"\\u0041b"')}\nAb${rest}\n"x"`;
    const nl = text.indexOf('\n');
    assert.equal(StateTable.pathAt(text, 0, nl), 'Ab');
    assert.equal(StateTable.pathAt(text, nl + 1, text.indexOf('\n', nl + 1)), undefined);
    assert.equal(StateTable.pathAt(text, text.lastIndexOf('\n') + 1, text.length), undefined, 'no tab before its end');
  });
});

describe('compare() on a table read from a manifest and its delta', () => {
  const entry = (i: number): StateEntry => ({ ...bulkEntry(i), path: `${NAMES[i % NAMES.length] as string}/e${i}` });
  const key = (e: StateEntry) => quickKey(e);

  function readWithDeletions(t: { after(fn: () => void): void }) {
    const dir = tempDir('hb-state-table-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'manifest.jsonl');
    writeManifest(realFs, file, { source: '/src', lastIncrement: '1' }, StateTable.from(Array.from({ length: 40 }, (_, i) => entry(i))));
    const run = readManifest(realFs, file).entries;
    for (const i of [0, 17, 39]) run.delete(entry(i).path); // first, middle, last
    run.set(entry(5).path, { ...entry(5), size: 5555 });
    run.set('added', dirEntry('added'));
    writeManifest(realFs, file, { source: '/src', lastIncrement: '2' }, run);
    assert.equal(fs.existsSync(manifestDeltaOf(file)), true, 'a delta');
    return readManifest(realFs, file).entries;
  }

  it('hasQuickKey, found and markPath mark what they find; unseen() is the rest, deleted paths never', (t) => {
    const m = readWithDeletions(t);
    const live = [...Array.from({ length: 40 }, (_, i) => entry(i).path).filter((_, i) => ![0, 17, 39].includes(i)), 'added'];
    assert.deepEqual([...m.keys()], live);
    const cmp = m.compare();
    assert.deepEqual([...cmp.unseen()], live, 'nothing marked: every live path, in slot order');
    // Deleted paths: not there for any of them.
    for (const i of [0, 17, 39]) {
      assert.equal(cmp.hasQuickKey(entry(i).path, key(entry(i))), false);
      assert.equal(cmp.found(entry(i).path), undefined);
      assert.equal(cmp.markPath(entry(i).path), undefined);
    }
    assert.equal(cmp.markPath('nowhere'), undefined);
    // A line of the base and a line of the delta, each by its exact key only.
    assert.equal(cmp.hasQuickKey(entry(5).path, key(entry(5))), false, 'the old key of a changed entry');
    assert.equal(cmp.hasQuickKey(entry(5).path, key({ ...entry(5), size: 5555 })), true);
    assert.equal(cmp.hasQuickKey(entry(6).path, key(entry(6)).slice(0, -1)), false, 'a prefix of the key');
    assert.equal(cmp.hasQuickKey(entry(6).path, `${key(entry(6))}5`), false, 'the key and more');
    assert.equal(cmp.hasQuickKey(entry(6).path, key(entry(6))), true);
    assert.deepEqual(cmp.found(entry(20).path), entry(20));
    assert.deepEqual(cmp.found('added'), dirEntry('added'));
    const slot = cmp.markPath(entry(30).path);
    assert.equal(typeof slot, 'number');
    assert.equal(cmp.markPath(entry(30).path), slot, 'marked twice: the same slot');
    const marked = new Set([entry(5).path, entry(6).path, entry(20).path, 'added', entry(30).path]);
    assert.deepEqual([...cmp.unseen()], live.filter((p) => !marked.has(p)));
    assert.deepEqual([...m.compare().unseen()], live, 'another comparison has marks of its own');
    // A path deleted after the marks were made is not unseen either; one stored again is, in its old place.
    m.delete(entry(1).path);
    m.set(entry(17).path, entry(17));
    const after = live.filter((p) => !marked.has(p) && p !== entry(1).path);
    after.splice(after.indexOf(entry(18).path), 0, entry(17).path);
    assert.deepEqual([...cmp.unseen()], after);
  });

  it('a path new to the table after the comparison began (a slot of its own) is never unseen', (t) => {
    const m = readWithDeletions(t);
    const cmp = m.compare();
    for (const p of m.keys()) cmp.markPath(p);
    assert.deepEqual([...cmp.unseen()], []);
    m.set('later', dirEntry('later'));
    assert.equal(typeof cmp.markPath('later'), 'number');
    assert.deepEqual([...cmp.unseen()], [], 'a slot added after the comparison began (and even marked) is reported unseen');
  });
});

test('addLine of a path that was deleted adds it (it is not in the table)', () => {
  const table = StateTable.from([dirEntry('a'), dirEntry('b')]);
  table.delete('a');
  assert.equal(table.has('a'), false);
  assert.equal(table.addLine('a', encode(dirEntry('a', 0o700))), true, 'the path was not in the table');
  assert.deepEqual(table.get('a'), dirEntry('a', 0o700));
});

test('hasQuickKey tries the slot after the last one it found, and takes it only for its own path', () => {
  // Each path of these, asked right after the one before it, is the next slot's: a quote's escape
  // (a\"b) is what a name with a backslash and a quote is as it is; a name that is a prefix of the
  // next; a name the next starts with.
  const paths = ['a', 'a"b', 'c', 'cd', 'e\\f', 'g'];
  const entries = paths.map((p, i) => numberedFile(i, p));
  const table = StateTable.from(entries);
  const key = (i: number) => quickKey(entries[i] as StateEntry);
  const cmp = table.compare();
  assert.equal(cmp.hasQuickKey('a', key(0)), true);
  // Not recorded, though its characters are those of the next slot's line between the quotes.
  assert.equal(cmp.hasQuickKey('a\\"b', key(1)), false, 'a backslash and a quote');
  assert.equal(cmp.hasQuickKey('a"b', key(1)), true);
  assert.equal(cmp.hasQuickKey('cd', key(2)), false, "the next slot's path is a prefix of it");
  assert.equal(cmp.hasQuickKey('cd', key(3)), true, 'found by its hash');
  assert.equal(cmp.hasQuickKey('c', key(2)), true, 'an earlier slot, found by its hash');
  assert.equal(cmp.hasQuickKey('c', key(2)), true, 'asked again');
  assert.equal(cmp.hasQuickKey('e\\\\f', key(4)), false, 'the escape of a backslash, as it is written');
  assert.equal(cmp.hasQuickKey('e\\f', key(4)), true);
  assert.equal(cmp.hasQuickKey('g', key(4)), false, "the next slot's path with another's key");
  assert.equal(cmp.hasQuickKey('g', key(5)), true);
  assert.deepEqual([...cmp.unseen()], []);
  // A deleted path's slot is not taken either.
  table.delete('c');
  const again = table.compare();
  assert.equal(again.hasQuickKey('a"b', key(1)), true);
  assert.equal(again.hasQuickKey('c', key(2)), false, 'deleted');
});

describe('decoding a manifest line checks what a record check checks', () => {
  // The catalog's reader (store/catalog.ts) keeps what decodeLine accepts without checking it again:
  // every entry decodeLine returns must pass entryProblem. Lines of every kind, then each mutated at
  // random in the characters the checks look at; both the accepted and the refused must be many.
  const full = (over: Partial<StateEntry>): StateEntry => ({ path: 'dir/f.txt', type: 'file', size: 12, mtime_ns: '1767225600123456789', mode: 0o644, uid: 1000, gid: 100, tracked: true, sha256: '0123456789abcdef'.repeat(4), ...over });
  const lines = [
    full({}),
    full({ since: '2026-01-01T000000Z', ino: '2049:12' }),
    full({ tracked: false, since: '2026-01-01T000000Z-2', ino: '2049:12:1795793364202915304', mtime_ns: '-5' }),
    { path: 'a dir', type: 'dir', size: 0, mtime_ns: '1', mode: 0o40755, uid: 0, gid: 0, tracked: true },
    { path: 'l', type: 'symlink', size: 0, mtime_ns: '1', mode: 0o120777, uid: 0, gid: 0, tracked: false, target: 'to: "x"\\é' },
  ].map((e) => encode(e as StateEntry));

  /** The lines, each mutated in up to three places by characters the checks look at. */
  const mutated = (seed: number, n: number): string[] => {
    const rng = makeRng(seed);
    const alphabet = [...'\t:0123456789abcdefgAF-"\\lxd. '];
    return Array.from({ length: n }, () => {
      let line = pick(rng, lines);
      for (let k = int(rng, 4); k > 0; k--) {
        const at = int(rng, line.length + 1);
        const ch = pick(rng, alphabet);
        const op = int(rng, 3);
        line = op === 0 ? line.slice(0, at) + ch + line.slice(at) : op === 1 ? line.slice(0, at) + line.slice(at + 1) : line.slice(0, at) + ch + line.slice(at + 1);
      }
      return line;
    });
  };
  /** decodeLine's outcome: the entry, or undefined for a StateError (anything else fails the test). */
  const outcome = (line: string): StateEntry | undefined => {
    try {
      return decodeLine(line);
    } catch (err) {
      assert.ok(err instanceof StateError, `${JSON.stringify(line)}: ${String(err)}`);
      return undefined;
    }
  };

  it('whatever it accepts passes entryProblem', () => {
    let changed = 0; // accepted lines that are not one of the lines as written
    for (const line of mutated(20261129, 20000)) {
      const e = outcome(line);
      if (e === undefined) continue;
      if (!lines.includes(line)) changed++;
      assert.equal(entryProblem(e), undefined, JSON.stringify(line));
    }
    assert.ok(changed > 1000, `accepted ${changed} mutated lines`);
  });

  it('accepts and decodes exactly what the split-based decoder it replaced does', () => {
    // That decoder, kept here as the reference (split at tabs and colons, a pattern per field): the
    // decoder cuts the fields where they are instead, and must not differ from it in what it
    // accepts or in any field of what it returns. (Both accept what the format's writer never
    // writes, such as a symlink key whose tracked part is not 0 or 1: the same laxities.)
    const plain = (line: string): StateEntry | undefined => {
      const path = StateTable.pathOfLine(line);
      const f = line.split('\t');
      if (path === undefined || !isSafeRelPath(path) || f.length !== 9 || !/^-?\d+$/.test(f[2] as string)) return undefined;
      const [key, mtime_ns, mode, uid, gid, sha256, since, ino] = f.slice(1) as string[] as [string, string, string, string, string, string, string, string];
      const k = key.split(':');
      const base = { path, mtime_ns, uid: Number(uid), gid: Number(gid), tracked: k[1] === '1', mode: Number(mode) };
      let e: StateEntry;
      if (k[0] === 'f' && k.length === 5 && /^[0-9a-f]{64}$/.test(sha256)) e = { ...base, type: 'file', size: Number(k[2]), sha256 };
      else if (k[0] === 'd' && k.length === 3) e = { ...base, type: 'dir', size: 0 };
      else if (k[0] === 'l' && k.length > 1) {
        let target: unknown;
        try {
          target = JSON.parse(key.slice(4));
        } catch {
          return undefined;
        }
        if (typeof target !== 'string') return undefined;
        e = { ...base, type: 'symlink', size: 0, target };
      } else return undefined;
      if (![e.size, e.mode, e.uid, e.gid].every(Number.isFinite)) return undefined;
      if (since !== '' && !/^\d{4}-\d{2}-\d{2}T\d{6}Z(?:-\d+)?$/.test(since)) return undefined;
      if (ino !== '' && !/^\d+:\d+(?::\d+)?$/.test(ino)) return undefined;
      return { ...e, ...(since === '' ? {} : { since }), ...(ino === '' ? {} : { ino }) };
    };
    let changed = 0;
    for (const line of [...lines, ...mutated(29112026, 30000)]) {
      const e = outcome(line);
      assert.deepEqual(e, plain(line), JSON.stringify(line));
      if (e !== undefined && !lines.includes(line)) changed++;
    }
    assert.ok(changed > 1000, `accepted ${changed} mutated lines`);
  });

  it('refuses each field out of its format', () => {
    const [file] = lines as [string];
    const fields = file.split('\t');
    const withField = (i: number, v: string) => fields.map((f, k) => (k === i ? v : f)).join('\t');
    const bad: Array<[string, RegExp]> = [
      [withField(6, 'A'.repeat(64)), /\(sha256\)/],
      [withField(6, 'a'.repeat(63)), /\(sha256\)/],
      [withField(6, `${'a'.repeat(64)}0`), /\(sha256\)/],
      [withField(2, '12a'), /\(mtime\)/],
      [withField(2, '-'), /\(mtime\)/],
      [withField(2, ''), /\(mtime\)/],
      [withField(1, 'f:1:12:1767225600123456789'), /\(key\)/],
      [withField(1, 'f:1:12:1:420:9'), /\(key\)/],
      [withField(1, 'd:1'), /\(key\)/],
      [withField(1, 'x:1:2'), /\(key\)/],
      [withField(1, 'l:1:nope'), /\(target\)/],
      [withField(1, 'f:1:1e999:1:420'), /\(numbers\)/],
      [withField(3, 'x'), /\(numbers\)/],
      [withField(7, '2026-01-01'), /\(since\)/],
      [withField(8, '1'), /\(ino\)/],
      [`${file}\t`, /\(field count\)/],
      [fields.slice(0, 8).join('\t'), /\(field count\)/],
      [withField(0, '"../up"'), /\(unsafe path\)/],
    ];
    for (const [line, why] of bad) assert.throws(() => decodeLine(line), why, JSON.stringify(line));
    // What Number() reads beyond plain digits is read as before (a hand-edited line).
    assert.equal(decodeLine(withField(3, '0x1a4')).mode, 0o644);
    assert.equal(decodeLine(withField(4, ' 7')).uid, 7);
    assert.equal(decodeLine(withField(5, '00100')).gid, 100);
    assert.equal(decodeLine(withField(4, '12345678901234567')).uid, 12345678901234567);
  });
});
