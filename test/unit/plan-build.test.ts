import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlan, hasChanges, storedCount, type Plan, type PlanOptions } from '../../src/plan/plan.js';
import type { Entry, StateEntry } from '../../src/meta/entry.js';
import { StateTable } from '../../src/store/state-table.js';

const sha = (c: string): string => c.repeat(64);
const T0 = '1700000000000000000';

function f(path: string, over: Partial<Entry> = {}): Entry {
  return { path, type: 'file', size: 100, mtime_ns: T0, mode: 0o644, uid: 1000, gid: 1000, tracked: true, ...over };
}
/** A file as the last state holds it: always with its sha256. */
function sf(path: string, over: Partial<StateEntry> = {}): StateEntry {
  return { ...f(path), sha256: sha('0'), since: '2026-01-01T000000Z', ...over };
}
function d(path: string, over: Partial<Entry> = {}): Entry {
  return { path, type: 'dir', size: 0, mtime_ns: T0, mode: 0o755, uid: 1000, gid: 1000, tracked: true, ...over };
}
function l(path: string, target: string, over: Partial<Entry> = {}): Entry {
  return { path, type: 'symlink', size: 0, mtime_ns: T0, mode: 0o777, uid: 1000, gid: 1000, tracked: true, target, ...over };
}
const state = (...entries: StateEntry[]): StateTable => StateTable.from(entries);
const OPTS: PlanOptions = { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined };

/** Paths of plan.keep: recorded paths not found because they lie at or below an unreadable path. */
const keepPaths = (p: Plan): string[] => [...p.keep];

/** The plan as plain path lists, so whole plans compare with one deepEqual. */
function summary(p: Plan) {
  return {
    deletes: p.deletes.map((e) => `${e.type}:${e.path}`),
    mkdirs: p.mkdirs.map((e) => e.path),
    dirChanges: p.dirChanges.map((c) => c.entry.path),
    puts: p.puts.map((x) => `${x.kind}:${x.entry.type}:${x.entry.path}${x.moveFrom ? `<-${x.moveFrom.path}` : ''}`),
    keep: keepPaths(p).sort(),
    errors: p.errors.map((e) => `${e.code}:${e.path}`),
  };
}

describe('buildPlan: new, changed, deleted', () => {
  it('first run: everything is new, folders parents-first', () => {
    const scanned = [d('b'), d('b/c'), f('b/c/x'), f('a'), d('a2'), l('b/l', 'x')];
    const p = buildPlan(scanned, new StateTable(), OPTS);
    assert.deepEqual(summary(p), {
      deletes: [],
      mkdirs: ['a2', 'b', 'b/c'],
      dirChanges: [],
      puts: ['new:file:b/c/x', 'new:file:a', 'new:symlink:b/l'],
      keep: [],
      errors: [],
    });
    assert.equal(hasChanges(p), true);
    // Every entry is stored: 3 folders and 3 puts (what decides capping the heap's growth).
    assert.equal(storedCount(p), 6);
  });

  it('unchanged state: nothing to do, everything kept', () => {
    const last = state(sf('a'), { ...d('dd'), since: '2026-01-01T000000Z' }, { ...l('dd/l', 't'), since: '2026-01-01T000000Z' });
    const p = buildPlan([f('a'), d('dd', { mtime_ns: '1' }), l('dd/l', 't')], last, OPTS);
    assert.deepEqual(summary(p), { deletes: [], mkdirs: [], dirChanges: [], puts: [], keep: [], errors: [] });
    assert.equal(hasChanges(p), false);
    assert.equal(storedCount(p), 0);
  });

  it('changed file, changed folder mode, retargeted symlink, deleted file', () => {
    const last = state(sf('a'), sf('gone'), { ...d('dd'), since: '2026-01-01T000000Z' }, { ...l('dd/l', 't'), since: '2026-01-01T000000Z' });
    const p = buildPlan([f('a', { size: 101 }), d('dd', { mode: 0o700 }), l('dd/l', 'u')], last, OPTS);
    assert.deepEqual(summary(p), {
      deletes: ['file:gone'],
      mkdirs: [],
      dirChanges: ['dd'],
      puts: ['changed:file:a', 'changed:symlink:dd/l'],
      keep: [],
      errors: [],
    });
    // A deletion stores nothing; a folder's new mode is a stored entry.
    assert.equal(storedCount(p), 3);
    const put = p.puts[0];
    assert.equal(put?.reason, 'size');
    assert.equal(put?.prev?.path, 'a');
    assert.equal(p.puts[1]?.reason, 'target');
  });
});

describe('buildPlan: type swaps', () => {
  it('file → folder: the file is deleted, the folder and its content are new', () => {
    const p = buildPlan([d('x'), f('x/inner', { size: 7 })], state(sf('x')), OPTS);
    assert.deepEqual(summary(p), { deletes: ['file:x'], mkdirs: ['x'], dirChanges: [], puts: ['new:file:x/inner'], keep: [], errors: [] });
  });

  it('folder → file: the folder and its content are deleted children-first, the file is new', () => {
    const last = state({ ...d('x'), since: '2026-01-01T000000Z' }, sf('x/a', { sha256: sha('1'), size: 7 }), { ...d('x/s'), since: '2026-01-01T000000Z' }, sf('x/s/b', { size: 9 }));
    const p = buildPlan([f('x', { size: 5 })], last, OPTS);
    assert.deepEqual(summary(p), {
      deletes: ['file:x/s/b', 'dir:x/s', 'file:x/a', 'dir:x'],
      mkdirs: [],
      dirChanges: [],
      puts: ['new:file:x'],
      keep: [],
      errors: [],
    });
  });

  it('file → symlink and symlink → file', () => {
    const last = state(sf('a'), { ...l('b', 'tgt'), since: '2026-01-01T000000Z' });
    const p = buildPlan([l('a', 'tgt'), f('b', { size: 3 })], last, OPTS);
    assert.deepEqual(summary(p), { deletes: ['symlink:b', 'file:a'], mkdirs: [], dirChanges: [], puts: ['new:symlink:a', 'new:file:b'], keep: [], errors: [] });
  });

  it('folder → symlink', () => {
    const last = state({ ...d('a'), since: '2026-01-01T000000Z' }, sf('a/f', { size: 1 }));
    const p = buildPlan([l('a', 'elsewhere')], last, OPTS);
    assert.deepEqual(summary(p).deletes, ['file:a/f', 'dir:a']);
    assert.deepEqual(summary(p).puts, ['new:symlink:a']);
  });
});

describe('buildPlan: ordering', () => {
  it('deletes children before parents, also around names sorting near "/"', () => {
    const paths = ['a', 'a/b', 'a/b/c', 'a-b', 'a b', 'a/b-c', 'a.b/z', 'a.b', 'z'];
    const last = state(...paths.map((p) => (p.endsWith('c') || p.endsWith('z') ? sf(p) : ({ ...d(p), since: '2026-01-01T000000Z' } as StateEntry))));
    const p = buildPlan([], last, OPTS);
    const order = p.deletes.map((e) => e.path);
    assert.equal(order.length, paths.length);
    for (const path of paths) {
      for (const other of paths) {
        if (other.startsWith(`${path}/`)) {
          assert.ok(order.indexOf(other) < order.indexOf(path), `${other} must be deleted before ${path}: ${order.join(', ')}`);
        }
      }
    }
  });

  it('mkdirs parents before children whatever the scan order', () => {
    const scanned = [d('p/q/r'), d('p-x'), d('p/q'), d('p'), d('p q'), d('p/q r')];
    const order = buildPlan(scanned, new StateTable(), OPTS).mkdirs.map((e) => e.path);
    assert.deepEqual(order, ['p', 'p q', 'p-x', 'p/q', 'p/q r', 'p/q/r']);
  });
});

describe('buildPlan: unreadable paths keep the last state', () => {
  const last = state({ ...d('locked'), since: '2026-01-01T000000Z' }, sf('locked/a'), { ...d('locked/sub'), since: '2026-01-01T000000Z' }, sf('locked/sub/b'), sf('other'), sf('lockedx'));
  it('what is at or below an unreadable folder is kept, not deleted', () => {
    const p = buildPlan([], last, { ...OPTS, unreadable: ['locked'] });
    assert.deepEqual(summary(p).deletes, ['file:other', 'file:lockedx']);
    assert.deepEqual(summary(p).keep, ['locked', 'locked/a', 'locked/sub', 'locked/sub/b']);
  });
  it('an unreadable file keeps only itself', () => {
    const p = buildPlan([d('locked'), d('locked/sub'), f('locked/sub/b'), f('lockedx'), f('other')], last, { ...OPTS, unreadable: ['locked/a'] });
    assert.deepEqual(summary(p).deletes, []);
    assert.ok(keepPaths(p).includes('locked/a'));
  });
  it('an unreadable source root keeps everything', () => {
    const p = buildPlan([], last, { ...OPTS, unreadable: [''] });
    assert.deepEqual(p.deletes, []);
    assert.equal(p.keep.length, last.size);
  });
});

describe('buildPlan: move detection', () => {
  const M = '1700000123000000001';
  it('a new file with the same size, mtime and mode as a deleted one is a move', () => {
    const last = state(sf('old/photo.jpg', { size: 5000, mtime_ns: M, sha256: sha('7') }));
    const p = buildPlan([d('new'), f('new/photo.jpg', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:new/photo.jpg<-old/photo.jpg']);
    assert.deepEqual(summary(p).deletes, ['file:old/photo.jpg']);
  });

  it('a rename (another name) with one candidate is a move', () => {
    const last = state(sf('a.bin', { size: 5000, mtime_ns: M }));
    const p = buildPlan([f('b.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:b.bin<-a.bin']);
  });

  const variants: [string, Partial<Entry>][] = [
    ['size', { size: 5001 }],
    ['mtime', { mtime_ns: '1700000123000000002' }],
    ['mode', { mode: 0o600 }],
    ['owner', { uid: 1001 }],
  ];
  for (const [what, over] of variants) {
    it(`a different ${what} is no move`, () => {
      const last = state(sf('a.bin', { size: 5000, mtime_ns: M }));
      const p = buildPlan([f('b.bin', { size: 5000, mtime_ns: M, ...over })], last, OPTS);
      assert.deepEqual(summary(p).puts, ['new:file:b.bin']);
    });
  }

  it('the same name is preferred among several candidates', () => {
    const last = state(sf('x/a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }), sf('x/b.bin', { size: 5000, mtime_ns: M, sha256: sha('2') }));
    const p = buildPlan([f('y/b.bin', { size: 5000, mtime_ns: M }), f('y/a.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:y/b.bin<-x/b.bin', 'new:file:y/a.bin<-x/a.bin']);
  });

  it('two candidates with the same name are ambiguous too: no move', () => {
    const last = state(sf('x/a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }), sf('y/a.bin', { size: 5000, mtime_ns: M, sha256: sha('2') }));
    const p = buildPlan([f('z/a.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:z/a.bin']);
  });

  it('one same-named candidate among others wins', () => {
    const last = state(sf('x/a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }), sf('y/b.bin', { size: 5000, mtime_ns: M, sha256: sha('2') }));
    const p = buildPlan([f('z/b.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:z/b.bin<-y/b.bin']);
  });

  it('ambiguous candidates without the same name: no move', () => {
    const last = state(sf('x/a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }), sf('x/b.bin', { size: 5000, mtime_ns: M, sha256: sha('2') }));
    const p = buildPlan([f('y/c.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:y/c.bin']);
  });

  it('a changed file (same path) never becomes a move', () => {
    const last = state(sf('a.bin', { size: 5000, mtime_ns: M }), sf('b.bin', { size: 1 }));
    const p = buildPlan([f('b.bin', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['changed:file:b.bin']);
  });

  // (A recorded file always has its hash: the state keeps entries as manifest lines, which need it.)
  it('empty files are never move sources', () => {
    const last = state(sf('e0', { size: 0, mtime_ns: M }));
    const p = buildPlan([f('e1', { size: 0, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:e1']);
  });

  it('checksum mode requires an equal sha256', () => {
    const last = state(sf('a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }));
    const differs = buildPlan([f('b.bin', { size: 5000, mtime_ns: M, sha256: sha('2') })], last, { ...OPTS, checksum: true });
    assert.deepEqual(summary(differs).puts, ['new:file:b.bin']);
    const unknown = buildPlan([f('b.bin', { size: 5000, mtime_ns: M })], last, { ...OPTS, checksum: true });
    assert.deepEqual(summary(unknown).puts, ['new:file:b.bin']);
    const equal = buildPlan([f('b.bin', { size: 5000, mtime_ns: M, sha256: sha('1') })], last, { ...OPTS, checksum: true });
    assert.deepEqual(summary(equal).puts, ['new:file:b.bin<-a.bin']);
  });

  it('checksum mode: the same name with another sha loses to the candidate whose sha matches', () => {
    const last = state(sf('x/a.bin', { size: 5000, mtime_ns: M, sha256: sha('1') }), sf('x/b.bin', { size: 5000, mtime_ns: M, sha256: sha('2') }));
    const p = buildPlan([f('y/a.bin', { size: 5000, mtime_ns: M, sha256: sha('2') })], last, { ...OPTS, checksum: true });
    assert.deepEqual(summary(p).puts, ['new:file:y/a.bin<-x/b.bin']);
  });

  it('a file that became a folder can be the source of a move into it', () => {
    const last = state(sf('x', { size: 5000, mtime_ns: M }));
    const p = buildPlan([d('x'), f('x/x', { size: 5000, mtime_ns: M })], last, OPTS);
    assert.deepEqual(summary(p), { deletes: ['file:x'], mkdirs: ['x'], dirChanges: [], puts: ['new:file:x/x<-x'], keep: [], errors: [] });
  });
});

describe('buildPlan: case-insensitive destination', () => {
  const CI: PlanOptions = { ...OPTS, caseInsensitive: true };
  it('the name the last state holds wins; the newcomer is an error', () => {
    const last = state(sf('Readme.md'));
    const p = buildPlan([f('README.md', { size: 3 }), f('Readme.md')], last, CI);
    assert.deepEqual(summary(p), { deletes: [], mkdirs: [], dirChanges: [], puts: [], keep: [], errors: ['ECASE:README.md'] });
    assert.match(p.errors[0]?.message ?? '', /Readme\.md/);
  });

  it('a colliding folder drops with everything below it', () => {
    const last = state({ ...d('Dir'), since: '2026-01-01T000000Z' }, sf('Dir/a'));
    const scanned = [d('Dir'), f('Dir/a'), d('dir'), f('dir/b'), d('dir/sub'), f('dir/sub/c'), f('dirx')];
    const p = buildPlan(scanned, last, CI);
    assert.deepEqual(summary(p), {
      deletes: [],
      mkdirs: [],
      dirChanges: [],
      puts: ['new:file:dirx'],
      keep: [],
      errors: ['ECASE:dir'],
    });
  });

  it('two newcomers: the first in code-point order wins', () => {
    const p = buildPlan([f('b.txt'), f('B.txt')], new StateTable(), CI);
    assert.deepEqual(summary(p).puts, ['new:file:B.txt']);
    assert.deepEqual(summary(p).errors, ['ECASE:b.txt']);
  });

  it('on a case-sensitive destination both are kept', () => {
    const p = buildPlan([f('b.txt'), f('B.txt')], new StateTable(), OPTS);
    assert.deepEqual(summary(p).puts, ['new:file:b.txt', 'new:file:B.txt']);
    assert.deepEqual(p.errors, []);
  });
});

describe('buildPlan: the comparison the scan marked', () => {
  it('entries the scan found unchanged are only marked: with that comparison nothing is deleted, a comparison of another state is refused', () => {
    const last = state(sf('a'), sf('b'));
    const cmp = last.compare();
    assert.equal(cmp.hasQuickKey('a', `f:1:100:${T0}:${0o644}`), true, 'the scan found a unchanged');
    const p = buildPlan([f('b', { size: 5 })], last, { ...OPTS, compared: cmp });
    assert.deepEqual(summary(p).deletes, []);
    assert.deepEqual(summary(p).puts, ['changed:file:b']);
    assert.throws(() => buildPlan([], last, { ...OPTS, compared: state(sf('a')).compare() }), /another state/);
  });
});
