import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { EntryRecord, EntryType, StateEntry } from '../../src/meta/entry.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { buildHistory, stateAt, versionsOf, type Cutoff, type History, type StateItem } from '../../src/restore/state-at.js';
import { compileMasks, searchHistory, type SearchOptions, type SearchResult } from '../../src/restore/search.js';
import { compareIds } from '../../src/store/ids.js';

// Small histories written as increments, with the current state a backup would hold after them.

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let clock = 1_700_000_000_000_000_000n;

interface Spec {
  type?: EntryType;
  content?: string;
  tracked?: boolean;
  mode?: number;
  target?: string;
}

function rec(path: string, s: Spec = {}): EntryRecord {
  const type = s.type ?? 'file';
  clock += 1_000_000_000n;
  const r: EntryRecord = {
    path,
    type,
    size: type === 'file' ? (s.content ?? path).length : 0,
    mtime: '',
    mtime_ns: clock.toString(),
    mode: s.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: 0,
    gid: 0,
    tracked: s.tracked ?? true,
  };
  if (type === 'file') r.sha256 = sha(s.content ?? path);
  if (type === 'symlink') r.target = s.target ?? 'x';
  return r;
}

type Op = ['new' | 'changed' | 'deleted', EntryRecord];

/** Increment ids: one per hour of one day. */
const id = (n: number) => `2026-01-01T${String(n).padStart(2, '0')}0000Z`;

function increment(n: number, ops: Op[], extra: Partial<IncrementJson> = {}): IncrementJson {
  const pick = (k: Op[0]) => ops.filter((o) => o[0] === k).map((o) => o[1]);
  return {
    format: 1,
    id: id(n),
    profile: 'default',
    source: '/src',
    started: '',
    finished: '',
    complete: true,
    link_mode: 'hardlink',
    hardback_version: 'test',
    previous: n > 1 ? id(n - 1) : null,
    summary: { new: 0, changed: 0, deleted: 0, errors: 0, bytes_copied: 0 },
    new: pick('new'),
    changed: pick('changed'),
    deleted: pick('deleted'),
    errors: [],
    ...extra,
  };
}

/** The manifest after all increments: each path's last version, with `since`. */
function currentAfter(incs: IncrementJson[]): Map<string, StateEntry> {
  const cur = new Map<string, StateEntry>();
  for (const inc of incs) {
    for (const r of [...(inc.carried ?? []), ...inc.deleted]) {
      if (inc.deleted.includes(r) || ('status' in r && r.status === 'deleted')) cur.delete(r.path);
      else cur.set(r.path, { ...r, since: inc.id });
    }
    for (const r of [...inc.new, ...inc.changed]) cur.set(r.path, { ...r, since: inc.id });
  }
  return cur;
}

function history(incs: IncrementJson[], opts: { drop?: number[]; unreadable?: number[]; current?: Map<string, StateEntry> } = {}): History {
  const current = opts.current ?? currentAfter(incs);
  const drop = new Set((opts.drop ?? []).map(id));
  const unreadable = new Set((opts.unreadable ?? []).map(id));
  return buildHistory({
    increments: incs.filter((i) => !drop.has(i.id)).map((i) => ({ id: i.id, json: unreadable.has(i.id) ? undefined : i })),
    current,
    lastIncrement: incs[incs.length - 1]?.id ?? null,
  });
}

/** A compact view of a state: path → "type[:sha8]@source". */
function view(state: Map<string, StateItem>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [p, it] of state) {
    const s = it.source;
    const src =
      s.kind === 'increment' ? `${s.id.slice(11, 13)}/${s.path}` : s.kind === 'unavailable' ? `unavailable:${s.why}` : s.kind;
    const ver = it.entry === undefined ? '?' : it.entry.type === 'file' ? (it.entry.sha256 ?? '').slice(0, 6) : it.entry.type === 'symlink' ? `→${it.entry.target}` : `${it.entry.mode.toString(8)}`;
    o[p] = `${it.type}:${ver}@${src}`;
  }
  return o;
}

const at = (n: number): Cutoff => ({ at: id(n) });
const s6 = (c: string) => sha(c).slice(0, 6);

describe('stateAt: complete histories', () => {
  const a1 = rec('a', { content: 'a1' });
  const a2 = rec('a', { content: 'a2' });
  const u1 = rec('u', { content: 'u1', tracked: false });
  const u2 = rec('u', { content: 'u2', tracked: false });
  const keep = rec('keep', { content: 'k', tracked: false });
  const d = rec('d', { type: 'dir', mode: 0o700 });
  const d2 = rec('d', { type: 'dir', mode: 0o750 });
  const l1 = rec('l', { type: 'symlink', target: 'a' });
  const incs = [
    increment(1, [['new', a1], ['new', u1], ['new', keep], ['new', d], ['new', l1]]),
    increment(2, [['changed', a2], ['changed', u2], ['changed', d2]]),
    increment(3, [['deleted', a2], ['deleted', l1]]),
  ];
  const h = history(incs);

  const table: [string, Cutoff, Record<string, string>][] = [
    ['first run', at(1), { a: `file:${s6('a1')}@01/files`, d: 'dir:700@metadata', keep: `file:${s6('k')}@mirror`, l: 'symlink:→a@metadata', u: 'file:' + s6('u1') + '@unavailable:untracked' }],
    ['a change', at(2), { a: `file:${s6('a2')}@02/files`, d: 'dir:750@metadata', keep: `file:${s6('k')}@mirror`, l: 'symlink:→a@metadata', u: `file:${s6('u2')}@mirror` }],
    ['deletions', at(3), { d: 'dir:750@metadata', keep: `file:${s6('k')}@mirror`, u: `file:${s6('u2')}@mirror` }],
    ['just before the deletions', { before: id(3) }, { a: `file:${s6('a2')}@02/files`, d: 'dir:750@metadata', keep: `file:${s6('k')}@mirror`, l: 'symlink:→a@metadata', u: `file:${s6('u2')}@mirror` }],
    ['before everything', { before: id(1) }, {}],
    ['latest', 'latest', { d: 'dir:750@metadata', keep: `file:${s6('k')}@mirror`, u: `file:${s6('u2')}@mirror` }],
  ];
  for (const [name, cut, want] of table) {
    it(name, () => assert.deepEqual(view(stateAt(h, cut)), want));
  }

  it('filters paths with `want`', () => {
    assert.deepEqual([...stateAt(h, at(1), (p) => p === 'a').keys()], ['a']);
  });

  it('lists every version of a path, newest first, with where its content is', () => {
    const v = versionsOf(h, 'a').map((x) => `${x.status}@${x.id?.slice(11, 13)}:${x.source.kind}`);
    assert.deepEqual(v, ['deleted@03:increment', 'changed@02:increment', 'new@01:increment']);
    const u = versionsOf(h, 'u').map((x) => `${x.status}:${x.source.kind}`);
    assert.deepEqual(u, ['changed:mirror', 'new:unavailable']);
  });
});

describe('stateAt: a file that became a folder', () => {
  const f = rec('x', { content: 'file' });
  const xd = rec('x', { type: 'dir' });
  const xy = rec('x/y', { content: 'inner' });
  const h = history([increment(1, [['new', f]]), increment(2, [['deleted', f], ['new', xd], ['new', xy]])]);
  it('is a file before the swap and a folder with content after', () => {
    assert.deepEqual(view(stateAt(h, at(1))), { x: `file:${s6('file')}@01/files` });
    assert.deepEqual(view(stateAt(h, at(2))), { x: 'dir:755@metadata', 'x/y': `file:${s6('inner')}@02/files` });
    assert.deepEqual(view(stateAt(h, { before: id(2) })), { x: `file:${s6('file')}@01/files` });
  });
});

describe('stateAt: an increment deleted by hand', () => {
  // 1: a, b, e, f new · 2: a, e, f changed, c new · 3: nothing of these · 4: a changed, e deleted, f changed
  const a1 = rec('a', { content: 'a1' });
  const a2 = rec('a', { content: 'a2' });
  const a4 = rec('a', { content: 'a4' });
  const b = rec('b', { content: 'b' });
  const c = rec('c', { content: 'c' });
  const e1 = rec('e', { content: 'e1' });
  const e2 = rec('e', { content: 'e2' });
  const f1 = rec('f', { content: 'f1' });
  const f2 = rec('f', { content: 'f2' });
  const f4 = rec('f', { content: 'f4' });
  const other = rec('other', { content: 'o' });
  const incs = [
    increment(1, [['new', a1], ['new', b], ['new', e1], ['new', f1]]),
    increment(2, [['changed', a2], ['new', c], ['changed', e2], ['changed', f2]]),
    increment(3, [['new', other]]),
    increment(4, [['changed', a4], ['deleted', e2], ['changed', f4]]),
  ];
  const h = history(incs, { drop: [2] });

  it('is detected from the `previous` chain', () => assert.deepEqual(h.missing, [id(2)]));
  it('leaves the states before it whole', () => {
    assert.deepEqual(view(stateAt(h, at(1))), {
      a: `file:${s6('a1')}@01/files`,
      b: `file:${s6('b')}@01/files`,
      e: `file:${s6('e1')}@01/files`,
      f: `file:${s6('f1')}@01/files`,
    });
  });
  it('makes the versions only it held unavailable, and takes the rest from later records', () => {
    assert.deepEqual(view(stateAt(h, at(3))), {
      // a changed in 2 and again in 4: its version at 3 is not known
      a: 'file:?@unavailable:missing',
      // b never changed: the mirror still holds the version of 1
      b: `file:${s6('b')}@mirror`,
      // c was new in 2 and is unchanged since: the current state says so (since = 2 ≤ 3)
      c: `file:${s6('c')}@mirror`,
      // e was deleted in 4: its deleted/ copy is the version it had at 3
      e: `file:${s6('e2')}@04/deleted`,
      f: 'file:?@unavailable:missing',
      other: `file:${s6('o')}@03/files`,
    });
  });
  it('keeps the latest state whole', () => {
    assert.deepEqual(view(stateAt(h, at(4))), {
      a: `file:${s6('a4')}@04/files`,
      b: `file:${s6('b')}@mirror`,
      c: `file:${s6('c')}@mirror`,
      f: `file:${s6('f4')}@04/files`,
      other: `file:${s6('o')}@03/files`,
    });
  });
  it('treats an unreadable increment.json like a missing increment', () => {
    const u = history(incs, { unreadable: [2] });
    assert.deepEqual(u.missing, [id(2)]);
    assert.deepEqual(view(stateAt(u, at(3))), view(stateAt(h, at(3))));
  });
  it('reports a path the current state holds but no increment mentions as present from its `since`', () => {
    const cur = currentAfter(incs);
    cur.set('g', { ...rec('g', { content: 'g' }), since: id(2) });
    cur.set('nosince', { ...rec('nosince', { content: 'n' }) });
    const hg = history(incs, { drop: [2], current: cur });
    assert.equal(stateAt(hg, at(1)).has('g'), false);
    assert.equal(stateAt(hg, at(3)).get('g')?.source.kind, 'mirror');
    assert.equal(stateAt(hg, at(1)).get('nosince')?.source.kind, 'mirror');
  });
});

describe('stateAt: records carried by prune', () => {
  // 2 was pruned: its records are carried by 3, older than 3's own.
  const a1 = rec('a', { content: 'a1' });
  const a2 = rec('a', { content: 'a2' });
  const b1 = rec('b', { content: 'b1' });
  const c1 = rec('c', { content: 'c1' });
  const c3 = rec('c', { content: 'c3' });
  const incs = [
    increment(1, [['new', a1], ['new', b1]]),
    increment(3, [['changed', c3]], {
      previous: id(2),
      pruned: [id(2)],
      carried: [
        { ...a2, status: 'changed', from: id(2) },
        { ...b1, status: 'deleted', from: id(2) },
        { ...c1, status: 'new', from: id(2) },
      ],
    }),
  ];
  const h = history(incs);
  it('counts a pruned increment as no gap', () => assert.deepEqual(h.missing, []));
  it('replays carried records before the increment’s own', () => {
    assert.deepEqual(view(stateAt(h, at(1))), { a: `file:${s6('a1')}@01/files`, b: `file:${s6('b1')}@01/files` });
    assert.deepEqual(view(stateAt(h, at(3))), { a: `file:${s6('a2')}@03/files`, c: `file:${s6('c3')}@03/files` });
  });
});

// A seeded model: random runs over a few paths; the truth at each run is known, the history is built
// from the records a backup would write. Without missing increments the state must be exact; with one
// dropped, every version the state claims to know must be the true one.
describe('stateAt: randomized model', () => {
  function rng(seed: number) {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  const PATHS = ['p', 'q', 'r', 'r/x', 's'];
  function run(seed: number) {
    const rand = rng(seed);
    const truth = new Map<string, EntryRecord>();
    const truths: Map<string, EntryRecord>[] = [];
    const incs: IncrementJson[] = [];
    for (let n = 1; n <= 12; n++) {
      const ops: Op[] = [];
      for (const p of PATHS) {
        if (rand() < 0.5) continue;
        const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : undefined;
        const cur = truth.get(p);
        const roll = rand();
        if (cur === undefined) {
          if (parent !== undefined && truth.get(parent)?.type !== 'dir') continue;
          const type: EntryType = p === 'r' ? (roll < 0.5 ? 'dir' : 'file') : roll < 0.2 ? 'symlink' : 'file';
          if (p === 'r' && type === 'file' && truth.has('r/x')) continue;
          const r = rec(p, { type, content: `${p}${n}`, tracked: rand() < 0.6, target: `t${n}` });
          truth.set(p, r);
          ops.push(['new', r]);
        } else if (roll < 0.3) {
          if (cur.type === 'dir' && truth.has('r/x')) continue;
          truth.delete(p);
          ops.push(['deleted', cur]);
        } else if (cur.type !== 'dir' || !truth.has('r/x')) {
          const r = rec(p, { type: cur.type, content: `${p}${n}`, tracked: cur.tracked, target: `t${n}`, mode: cur.type === 'dir' ? 0o700 + n : 0o644 });
          truth.set(p, r);
          ops.push(['changed', r]);
        }
      }
      incs.push(increment(n, ops));
      truths.push(new Map(truth));
    }
    return { incs, truths };
  }

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}`, () => {
      const { incs, truths } = run(seed);
      const whole = history(incs);
      truths.forEach((truth, i) => {
        const got = stateAt(whole, at(i + 1));
        assert.deepEqual([...got.keys()].sort(), [...truth.keys()].sort(), `paths at ${i + 1}`);
        for (const [p, item] of got) assert.equal(item.entry, truth.get(p), `${p} at ${i + 1}`);
      });
      for (const dropped of [3, 6, 9]) {
        const h = history(incs, { drop: [dropped] });
        truths.forEach((truth, i) => {
          if (i + 1 === dropped) return;
          for (const [p, item] of stateAt(h, at(i + 1))) {
            if (item.entry === undefined) continue;
            const t = truth.get(p);
            assert.ok(t !== undefined, `${p} claimed present at ${i + 1} with ${dropped} dropped`);
            assert.equal(item.entry.mtime_ns, t.mtime_ns, `${p} at ${i + 1} with ${dropped} dropped`);
          }
        });
      }
    });
  }
});

describe('searchHistory: the paths of the records and of the current state, merged', () => {
  // The definition it replaced: every path once (a set), sorted, its current entry and versions looked up.
  function oracle(h: History, opts: SearchOptions): SearchResult[] {
    const matches = compileMasks(opts.masks);
    const inRange = (v: { id: string | undefined }) =>
      v.id !== undefined && (opts.since === undefined || compareIds(v.id, opts.since) >= 0) && (opts.until === undefined || compareIds(v.id, opts.until) <= 0);
    const out: SearchResult[] = [];
    for (const path of [...new Set([...h.timeline.keys(), ...h.current.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!matches(path)) continue;
      const current = h.current.get(path);
      if (opts.deleted === true && current !== undefined) continue;
      let versions = versionsOf(h, path);
      if (opts.since !== undefined || opts.until !== undefined) versions = versions.filter(inRange);
      if (versions.length === 0 && (opts.since !== undefined || opts.until !== undefined)) continue;
      out.push({ path, current, versions });
    }
    return out;
  }
  // Names that sort apart in code units and in code points, a folder and what is below it, a pair.
  const PATHS = ['a', 'a b', 'a/b', 'a/b.md', 'a.md', 'B', 'é.md', 'Ω/x.md', '日本/y', '\u{1F600}.md', '\uFF61', 'z/z/z.md'];
  // Paths no increment records.
  const UNRECORDED = ['a/c.md', 'b', '\u{1F601}', 'ü/z'];
  const MASKS: string[][] = [[], ['*.md'], ['a/**'], ['a*'], ['**/x.md', 'B'], ['nothing']];

  it('gives what the definition gives, on random histories with paths only in one of them', () => {
    let rand = 7;
    const next = () => ((rand = (rand * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    let onlyCurrent = 0;
    let onlyRecords = 0;
    for (let seed = 0; seed < 60; seed++) {
      const incs: IncrementJson[] = [];
      for (let n = 1; n <= 6; n++) {
        const ops: Op[] = [];
        for (const p of PATHS) {
          const roll = next();
          if (roll < 0.15) ops.push(['new', rec(p, { content: `${p}${n}`, tracked: next() < 0.7 })]);
          else if (roll < 0.25) ops.push(['changed', rec(p, { content: `${p}${n}c` })]);
          else if (roll < 0.32) ops.push(['deleted', rec(p, { content: `${p}${n}d` })]);
        }
        incs.push(increment(n, ops));
      }
      const current = currentAfter(incs);
      // A path the current state holds that no readable increment records (pruned, or gone by hand).
      for (const p of [...PATHS, ...UNRECORDED]) if (next() < 0.3) current.set(p, { ...rec(p, { content: `${p}-cur` }), since: id(1) });
      const h = history(incs, { current, drop: next() < 0.5 ? [1 + Math.floor(next() * 6)] : [] });
      for (const p of [...PATHS, ...UNRECORDED]) {
        if (h.current.has(p) && !h.timeline.has(p)) onlyCurrent++;
        if (!h.current.has(p) && h.timeline.has(p)) onlyRecords++;
      }
      for (const masks of MASKS) {
        for (const opts of [{ masks }, { masks, deleted: true }, { masks, since: id(2) }, { masks, since: id(3), until: id(4) }, { masks, until: id(1) }] as SearchOptions[]) {
          assert.deepEqual(searchHistory(h, opts), oracle(h, opts), `seed ${seed}: ${JSON.stringify(opts)}`);
        }
      }
    }
    assert.ok(onlyCurrent > 20 && onlyRecords > 20, `paths only in the current state: ${onlyCurrent}, only in the records: ${onlyRecords}`);
  });
});
