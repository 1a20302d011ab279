import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkGuards, MASS_DELETE_MIN, type GuardInput } from '../../src/plan/guards.js';
import { buildPlan } from '../../src/plan/plan.js';
import { StateTable } from '../../src/store/state-table.js';
import type { StateEntry } from '../../src/meta/entry.js';

function sf(path: string): StateEntry {
  return { path, type: 'file', size: 1, mtime_ns: '1', mode: 0o644, uid: 0, gid: 0, tracked: true, sha256: '0'.repeat(64) };
}
function sd(path: string): StateEntry {
  return { path, type: 'dir', size: 0, mtime_ns: '1', mode: 0o755, uid: 0, gid: 0, tracked: true };
}

/** A last state of `files` files (plus one folder) and a scan that still holds `keep` of them. */
function input(files: number, keep: number, over: Partial<GuardInput> = {}): GuardInput {
  const all = [sd('d'), ...Array.from({ length: files }, (_, i) => sf(`d/f${String(i).padStart(4, '0')}`))];
  const last = StateTable.from(all);
  const scanned = [sd('d'), ...all.slice(1, 1 + keep)];
  const plan = buildPlan(scanned, last, { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
  return { plan, last, topLevelNames: 1, recordedSource: '/src', source: '/src', maxDeleteRatio: 0.5, force: false, ...over };
}

describe('checkGuards', () => {
  it('MASS_DELETE_MIN is the 20 files of SPEC §6', () => {
    assert.equal(MASS_DELETE_MIN, 20);
  });

  it('a normal run passes', () => {
    assert.equal(checkGuards(input(100, 90)), undefined);
  });

  it('an empty source against a non-empty backup is refused', () => {
    const r = checkGuards(input(3, 0, { topLevelNames: 0 }));
    assert.equal(r?.guard, 'empty-source');
    assert.match(r?.message ?? '', /empty/);
    assert.match(r?.message ?? '', /--force/);
  });

  it('an empty source against an empty backup (first run) passes', () => {
    const plan = buildPlan([], new StateTable(), { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
    assert.equal(checkGuards({ ...input(0, 0), plan, last: new StateTable(), topLevelNames: 0, recordedSource: undefined }), undefined);
  });

  it('--force overrides the empty-source guard', () => {
    assert.equal(checkGuards(input(3, 0, { topLevelNames: 0, force: true })), undefined);
  });

  it('deleting more than max_delete_ratio of at least 20 files is refused', () => {
    // 40 files, 21 deleted: 52.5% > 50%
    const r = checkGuards(input(40, 19));
    assert.equal(r?.guard, 'mass-delete');
    assert.match(r?.message ?? '', /21 of 40/);
  });

  it('exactly the ratio is allowed (more than, not at least)', () => {
    assert.equal(checkGuards(input(40, 20)), undefined);
  });

  it('19 deletions never trip the guard, even when they are 100% of the mirror', () => {
    assert.equal(checkGuards(input(19, 0)), undefined);
  });

  it('20 deletions out of 20 do', () => {
    assert.equal(checkGuards(input(20, 0))?.guard, 'mass-delete');
  });

  it('folders do not count as files', () => {
    // 20 files, 19 deleted plus folders: still under the minimum.
    const base = input(20, 1);
    const extraDirs = Array.from({ length: 30 }, (_, i) => sd(`e${i}`));
    const last = StateTable.from([...base.last.values(), ...extraDirs]);
    const plan = buildPlan([sd('d'), ...[...base.last.values()].slice(1, 2)], last, { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
    assert.equal(plan.deletes.length, 49);
    assert.equal(checkGuards({ ...base, last, plan }), undefined);
  });

  it('moved files are not deletions: renaming most of the source passes', () => {
    const files = Array.from({ length: 30 }, (_, i) => ({ ...sf(`old/p${i}.jpg`), size: 100 + i, mtime_ns: `${1000 + i}` }));
    const last = StateTable.from([sd('old'), ...files]);
    const scanned = [sd('new'), ...files.map((e) => ({ ...e, path: e.path.replace('old/', 'new/'), sha256: undefined }))];
    const plan = buildPlan(scanned, last, { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
    assert.equal(plan.puts.filter((p) => p.moveFrom !== undefined).length, 30);
    assert.equal(checkGuards({ plan, last, topLevelNames: 1, recordedSource: '/src', source: '/src', maxDeleteRatio: 0.5, force: false }), undefined);
    // The same run without the moved files is refused.
    const gone = buildPlan([sd('new')], last, { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
    assert.equal(checkGuards({ plan: gone, last, topLevelNames: 1, recordedSource: '/src', source: '/src', maxDeleteRatio: 0.5, force: false })?.guard, 'mass-delete');
  });

  it('max_delete_ratio is honoured', () => {
    assert.equal(checkGuards(input(100, 70, { maxDeleteRatio: 0.25 }))?.guard, 'mass-delete');
    assert.equal(checkGuards(input(100, 70, { maxDeleteRatio: 0.3 })), undefined);
    assert.equal(checkGuards(input(100, 0, { maxDeleteRatio: 1 })), undefined);
  });

  it('--force overrides the mass-delete guard', () => {
    assert.equal(checkGuards(input(40, 0, { force: true })), undefined);
  });

  it('a backup of another source is refused, naming both', () => {
    const r = checkGuards(input(5, 5, { recordedSource: '/home/a/Documents', source: '/home/b/Documents' }));
    assert.equal(r?.guard, 'wrong-source');
    assert.match(r?.message ?? '', /\/home\/a\/Documents/);
    assert.match(r?.message ?? '', /\/home\/b\/Documents/);
  });

  it('a backup without a recorded source (new) accepts any source', () => {
    assert.equal(checkGuards(input(5, 5, { recordedSource: undefined, source: '/x' })), undefined);
  });

  it('--force overrides the wrong-source guard', () => {
    assert.equal(checkGuards(input(5, 5, { recordedSource: '/a', source: '/b', force: true })), undefined);
  });
});
