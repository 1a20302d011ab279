/**
 * runBackup in-process against real temp trees (SPEC §2, §3): the mirror, the increments, hard links,
 * moves, special files, owners, dry runs, type changes, increment ids.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runBackup, type BackupOptions, type BackupOutcome } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { compareIds } from '../../src/store/ids.js';
import { Layout } from '../../src/store/layout.js';
import { readManifest, readManifestHeader } from '../../src/store/manifest.js';
import { JournalWriter } from '../../src/store/journal.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { realFs } from '../../src/io/fs.js';
import { beforeOpen } from '../helpers/faulty-fs.js';
import type { Profile } from '../../src/config/profiles.js';
import { isRootUser, makeTree, profileFor, readTree, tempDir, treeView, type TreeSpec } from '../helpers/tree.js';
import { forceRemove, fingerprint, incrementIds, nonDirs, readDiskTree, readIncrement, sha256Of, uniqueInodeBytes } from '../helpers/model-dist.js';

const cleanup: string[] = [];
after(() => {
  for (const d of cleanup) forceRemove(d);
});

interface Fixture {
  root: string;
  src: string;
  dist: string;
  profile: Profile;
  backup(over?: Partial<BackupOptions>): Promise<BackupOutcome>;
}

function fixture(spec: TreeSpec, over: Partial<Profile> = {}): Fixture {
  const root = tempDir('hb-run-');
  cleanup.push(root);
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, spec);
  const profile = profileFor(src, dist, over);
  return {
    root,
    src,
    dist,
    profile,
    backup: (o = {}) => runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, ...o }),
  };
}

/**
 * The mirror must equal the source: content, mode, symlinks, empty folders, and file mtimes to the
 * ms (compared exactly in ns, within 1 ms: utimes cannot set ns, and a floor to ms could differ by
 * one across a ms boundary).
 */
function assertMirrorEqualsSource(f: Fixture): void {
  const mirror = join(f.dist, 'mirror');
  assert.deepEqual(treeView(readTree(mirror)), treeView(readTree(f.src)));
  for (const [p, e] of readDiskTree(f.src)) {
    if (e.type !== 'file') continue;
    const m = fs.lstatSync(join(mirror, p), { bigint: true }).mtimeNs;
    assert.ok(m - e.mtimeNs < 1_000_000n && e.mtimeNs - m < 1_000_000n, `${p}: mirror mtime ${m}, source ${e.mtimeNs}`);
  }
}

const T = (s: number): number => 1_700_000_000 + s; // whole seconds: exact on every filesystem

describe('the mirror', () => {
  it('equals the source after each run: content, mode, mtime, symlinks, empty folders', async () => {
    const f = fixture({
      'a.txt': { content: 'alpha', mode: 0o640, mtime: T(1.5) },
      'exec.sh': { content: '#!/bin/sh\n', mode: 0o755, mtime: T(2.25) },
      'ro.txt': { content: 'read only', mode: 0o444, mtime: T(3) },
      'd/e/deep.bin': Buffer.from([0, 1, 2, 255]),
      'd/empty': { dir: true },
      'private': { dir: true, mode: 0o700 },
      'link-rel': { symlink: 'a.txt' },
      'link-dangling': { symlink: '../nowhere/ü x' },
      'name with spaces and ünïcödé 日本.txt': 'unicode',
      '.hidden': 'dot file',
      'zero': '',
    });
    fs.chmodSync(join(f.src, 'd/e'), 0o750);
    const first = await f.backup();
    assert.equal(first.status, 'done');
    assert.deepEqual(first.errors, []);
    assertMirrorEqualsSource(f);
    const m = fs.lstatSync(join(f.dist, 'mirror', 'link-rel'));
    assert.equal(m.isSymbolicLink(), true);
    assert.equal(fs.lstatSync(join(f.dist, 'mirror', 'a.txt')).mtimeMs, T(1.5) * 1000);

    // Second run: edits of every kind.
    fs.writeFileSync(join(f.src, 'a.txt'), 'alpha, longer now');
    fs.chmodSync(join(f.src, 'exec.sh'), 0o700);
    fs.utimesSync(join(f.src, 'ro.txt'), T(9), T(9));
    fs.rmSync(join(f.src, 'd/e'), { recursive: true });
    fs.mkdirSync(join(f.src, 'new/empty/deeper'), { recursive: true });
    fs.unlinkSync(join(f.src, 'link-rel'));
    fs.symlinkSync('exec.sh', join(f.src, 'link-rel'));
    fs.chmodSync(join(f.src, 'private'), 0o755);
    const second = await f.backup();
    assert.equal(second.status, 'done');
    assertMirrorEqualsSource(f);
    const inc = readIncrement(f.dist, second.id as string);
    assert.deepEqual(inc.changed.map((r) => r.path).sort(), ['a.txt', 'exec.sh', 'link-rel', 'private', 'ro.txt']);
    assert.deepEqual(inc.new.map((r) => r.path).sort(), ['new', 'new/empty', 'new/empty/deeper']);
    assert.deepEqual(inc.deleted.map((r) => r.path).sort(), ['d/e', 'd/e/deep.bin']);
    assert.equal(inc.changed.find((r) => r.path === 'link-rel')?.target, 'exec.sh');
  });

  it('names with a backslash or a drive-letter look are ordinary names here: stored, changed, deleted, read back', async (t) => {
    if (process.platform === 'win32') return t.skip('separators and roots on Windows');
    const f = fixture({ 'a\\b.txt': 'one', 'C:x.txt': 'two', 'd\\e/f.txt': 'three' });
    assert.deepEqual((await f.backup()).errors, []);
    fs.writeFileSync(join(f.src, 'a\\b.txt'), 'one, changed');
    fs.rmSync(join(f.src, 'C:x.txt'));
    const second = await f.backup();
    assert.deepEqual(second.errors, []);
    const inc = readIncrement(f.dist, second.id as string);
    assert.deepEqual(inc.changed.map((r) => r.path), ['a\\b.txt']);
    assert.deepEqual(inc.deleted.map((r) => r.path), ['C:x.txt']);
    assertMirrorEqualsSource(f);
    assert.equal((await f.backup()).status, 'no-change');
  });

  it('a folder whose mtime alone changed is no change', async () => {
    const f = fixture({ 'd/x': 'x' });
    await f.backup();
    fs.writeFileSync(join(f.src, 'd/tmpfile'), 'y');
    fs.unlinkSync(join(f.src, 'd/tmpfile')); // d's mtime moved, its content is as before
    fs.utimesSync(join(f.src, 'd'), T(5), T(5));
    const o = await f.backup();
    assert.equal(o.status, 'no-change');
    assert.equal(o.id, null);
    assert.equal(incrementIds(f.dist).length, 1);
  });

  it('no change: no increment, status no-change, nothing in the mirror touched', async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b' });
    const first = await f.backup();
    const before = fingerprint(join(f.dist, 'mirror'));
    const o = await f.backup();
    assert.equal(o.status, 'no-change');
    assert.equal(o.id, null);
    assert.deepEqual(o.summary, { new: 0, changed: 0, deleted: 0, errors: 0, bytes_copied: 0 });
    assert.deepEqual(incrementIds(f.dist), [first.id]);
    assert.deepEqual(fingerprint(join(f.dist, 'mirror')), before);
  });

  it('a mirror file is never modified in place: an increment keeps its version', async () => {
    const f = fixture({ 'doc.txt': 'version one' });
    const first = await f.backup();
    const kept = join(f.dist, 'increments', first.id as string, 'files', 'doc.txt');
    const fd = fs.openSync(kept, 'r');
    try {
      const ino = fs.fstatSync(fd).ino;
      assert.equal(fs.statSync(join(f.dist, 'mirror', 'doc.txt')).ino, ino);
      // Same size, new content, new mtime.
      fs.writeFileSync(join(f.src, 'doc.txt'), 'version two');
      fs.utimesSync(join(f.src, 'doc.txt'), T(100), T(100));
      const second = await f.backup();
      assert.equal(second.summary.changed, 1);
      const buf = Buffer.alloc(64);
      const n = fs.readSync(fd, buf, 0, 64, 0);
      assert.equal(buf.subarray(0, n).toString(), 'version one');
      assert.equal(fs.readFileSync(kept, 'utf8'), 'version one');
      assert.equal(fs.statSync(kept).ino, ino);
      assert.notEqual(fs.statSync(join(f.dist, 'mirror', 'doc.txt')).ino, ino);
      assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'doc.txt'), 'utf8'), 'version two');
      assert.equal(fs.readFileSync(join(f.dist, 'increments', second.id as string, 'files', 'doc.txt'), 'utf8'), 'version two');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('dist inside src is not backed up', async () => {
    const f = fixture({ 'a.txt': 'a', 'sub/b.txt': 'b' });
    const profile = profileFor(f.src, join(f.src, 'backup'));
    const run = () => runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter });
    const o = await run();
    assert.equal(o.status, 'done');
    const mirror = readDiskTree(join(f.src, 'backup', 'mirror'));
    assert.deepEqual([...mirror.keys()].sort(), ['a.txt', 'sub', 'sub/b.txt']);
    // The backup's own writes are not changes of the source.
    const again = await run();
    assert.equal(again.status, 'no-change');
  });
});

describe('the manifest delta (docs/format.md)', () => {
  it('small runs write a delta the next run reads: it finds no change, and the base is rewritten once the delta outgrows it', async () => {
    const spec: TreeSpec = {};
    for (let i = 0; i < 80; i++) spec[`d${i % 4}/f${i}.txt`] = `file ${i}`;
    const f = fixture(spec);
    const layout = new Layout(f.dist);
    await f.backup();
    const base = fs.readFileSync(layout.manifest);
    const firstId = readManifestHeader(realFs, layout.manifest)?.id;
    let compacted = false;
    let deltas = 0;
    for (let round = 0; round < 8; round++) {
      fs.writeFileSync(join(f.src, `d1/f${round}.txt`), `changed in round ${round}`);
      fs.rmSync(join(f.src, `d2/f${40 + round}.txt`), { force: true });
      fs.writeFileSync(join(f.src, `d3/new${round}.txt`), `added in round ${round}`);
      const out = await f.backup();
      assert.equal(out.status, 'done', `round ${round}`);
      const id = readManifestHeader(realFs, layout.manifest)?.id;
      if (id === firstId) {
        assert.deepEqual(fs.readFileSync(layout.manifest), base, `round ${round}: the base is untouched`);
        assert.ok(fs.existsSync(layout.manifestDelta), `round ${round}: the change is in the delta`);
        deltas++;
      } else compacted = true;
      assertMirrorEqualsSource(f);
      const again = await f.backup();
      assert.equal(again.status, 'no-change', `round ${round}: the state read back (base + delta) is the source`);
      const state = readManifest(realFs, layout.manifest).entries;
      assert.equal(state.get(`d1/f${round}.txt`)?.size, `changed in round ${round}`.length);
      assert.equal(state.has(`d2/f${40 + round}.txt`), false);
    }
    assert.ok(deltas >= 2, `${deltas} rounds wrote a delta`);
    assert.ok(compacted, 'three changes a round outgrow an eighth of ~100 entries: the manifest was rewritten whole');
  });
});

describe('increments', () => {
  it('files/ and deleted/ hold hard links whose sha256 matches increment.json', async () => {
    const f = fixture({ 'a.txt': 'a1', 'd/b.txt': 'b1', 'd/c.txt': 'c1', 'link': { symlink: 'a.txt' }, 'e': { dir: true } });
    const first = await f.backup();
    const dir1 = join(f.dist, 'increments', first.id as string);
    const mirror1 = readDiskTree(join(f.dist, 'mirror'));
    const files1 = nonDirs(readDiskTree(join(dir1, 'files')));
    assert.deepEqual([...files1.keys()].sort(), ['a.txt', 'd/b.txt', 'd/c.txt']);
    const inc1 = readIncrement(f.dist, first.id as string);
    assert.equal(inc1.format, 1);
    assert.equal(inc1.id, first.id);
    assert.equal(inc1.profile, 'default');
    assert.equal(inc1.source, f.src);
    assert.equal(inc1.complete, true);
    assert.equal(inc1.link_mode, 'hardlink');
    for (const r of inc1.new) {
      if (r.type !== 'file') continue;
      const file = files1.get(r.path);
      assert.equal(file?.ino, mirror1.get(r.path)?.ino, `${r.path}: same inode as the mirror`);
      assert.equal(file?.sha256, r.sha256, `${r.path}: sha256`);
      assert.match(r.mtime_ns, /^\d+$/);
      assert.equal(r.mtime, new Date(Number(BigInt(r.mtime_ns) / 1_000_000n)).toISOString());
    }
    assert.equal(inc1.new.find((r) => r.path === 'link')?.target, 'a.txt');

    fs.writeFileSync(join(f.src, 'a.txt'), 'a2, longer');
    fs.rmSync(join(f.src, 'd/b.txt'));
    const second = await f.backup();
    const dir2 = join(f.dist, 'increments', second.id as string);
    const inc2 = readIncrement(f.dist, second.id as string);
    assert.equal(inc2.previous, first.id);
    const deleted = nonDirs(readDiskTree(join(dir2, 'deleted')));
    assert.deepEqual([...deleted.keys()], ['d/b.txt']);
    assert.equal(deleted.get('d/b.txt')?.ino, mirror1.get('d/b.txt')?.ino, 'deleted/ links the version the mirror held');
    assert.equal(deleted.get('d/b.txt')?.sha256, inc2.deleted[0]?.sha256);
    assert.equal(inc2.deleted[0]?.sha256, sha256Of(join(dir1, 'files', 'd/b.txt')));
    const files2 = nonDirs(readDiskTree(join(dir2, 'files')));
    assert.deepEqual([...files2.keys()], ['a.txt']);
    assert.equal(files2.get('a.txt')?.ino, fs.statSync(join(f.dist, 'mirror', 'a.txt'), { bigint: true }).ino);
    assert.equal(files2.get('a.txt')?.sha256, inc2.changed[0]?.sha256);
    // The first version stays in the first increment, now with one link less.
    assert.equal(fs.readFileSync(join(dir1, 'files', 'a.txt'), 'utf8'), 'a1');
    // deleted/ shares the inode with files/ of the increment that saved it: stored once.
    assert.equal(fs.statSync(join(dir1, 'files', 'd/b.txt'), { bigint: true }).ino, deleted.get('d/b.txt')?.ino);
  });

  it('untracked files are mirrored only, but listed', async () => {
    const f = fixture({ 'keep/t.txt': 't1', 'u.txt': 'u1', 'gone.txt': 'g' }, { rules: { track_dirs: ['keep'] } });
    const first = await f.backup();
    assert.deepEqual([...nonDirs(readDiskTree(join(f.dist, 'increments', first.id as string, 'files'))).keys()], ['keep/t.txt']);
    fs.writeFileSync(join(f.src, 'u.txt'), 'u2 changed');
    fs.rmSync(join(f.src, 'gone.txt'));
    const second = await f.backup();
    const inc = readIncrement(f.dist, second.id as string);
    assert.deepEqual(inc.changed.map((r) => [r.path, r.tracked]), [['u.txt', false]]);
    assert.deepEqual(inc.deleted.map((r) => [r.path, r.tracked]), [['gone.txt', false]]);
    assert.equal(fs.existsSync(join(f.dist, 'increments', second.id as string, 'files')), false);
    assert.equal(fs.existsSync(join(f.dist, 'increments', second.id as string, 'deleted')), false);
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'u.txt'), 'utf8'), 'u2 changed');
  });

  it('a deleted entry is listed with the record it was stored with, field for field', async () => {
    // The run keeps the deleted entries' recorded lines, not their objects (apply/run-state.ts): each
    // record must come back whole, times, modes, owners, hashes and link targets included.
    const f = fixture({
      'keep.txt': 'stays',
      'gone.txt': { content: 'a file', mode: 0o640, mtime: 1_234_567_890 },
      'Thèse/ch1.md': 'chapter one',
      'Thèse/fig "a".png': Buffer.alloc(3000, 7),
      'link': { symlink: 'keep.txt' },
      'empty': { dir: true, mode: 0o750 },
    });
    const first = await f.backup();
    const stored = new Map(readIncrement(f.dist, first.id as string).new.map((r) => [r.path, r]));
    for (const p of ['gone.txt', 'Thèse', 'link', 'empty']) fs.rmSync(join(f.src, p), { recursive: true });
    const o = await f.backup();
    const inc = readIncrement(f.dist, o.id as string);
    const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    const want = ['empty', 'gone.txt', 'link', 'Thèse', 'Thèse/ch1.md', 'Thèse/fig "a".png'].flatMap((p) => stored.get(p) ?? []).sort(byPath);
    assert.equal(want.length, 6);
    assert.deepEqual([...inc.deleted].sort(byPath), want);
    assert.equal(inc.deleted.find((r) => r.path === 'gone.txt')?.mtime_ns, '1234567890000000000');
  });

  it('a file that became a folder is a deleted file plus a new folder and its content', async () => {
    const f = fixture({ 'x': 'i was a file', 'y/inner.txt': 'i was in a folder' });
    await f.backup();
    fs.rmSync(join(f.src, 'x'));
    makeTree(join(f.src, 'x'), { 'child.txt': 'now a folder', 'sub/deep.txt': 'deep' });
    fs.rmSync(join(f.src, 'y'), { recursive: true });
    fs.writeFileSync(join(f.src, 'y'), 'now a file');
    const o = await f.backup();
    const inc = readIncrement(f.dist, o.id as string);
    assert.deepEqual(inc.deleted.map((r) => `${r.type}:${r.path}`).sort(), ['dir:y', 'file:x', 'file:y/inner.txt']);
    assert.deepEqual(inc.new.map((r) => `${r.type}:${r.path}`).sort(), ['dir:x', 'dir:x/sub', 'file:x/child.txt', 'file:x/sub/deep.txt', 'file:y']);
    assert.deepEqual(inc.changed, []);
    assert.equal(fs.readFileSync(join(f.dist, 'increments', o.id as string, 'deleted', 'x'), 'utf8'), 'i was a file');
    assert.equal(fs.readFileSync(join(f.dist, 'increments', o.id as string, 'deleted', 'y/inner.txt'), 'utf8'), 'i was in a folder');
    assert.equal(fs.readFileSync(join(f.dist, 'increments', o.id as string, 'files', 'x/child.txt'), 'utf8'), 'now a folder');
    assert.equal(fs.readFileSync(join(f.dist, 'increments', o.id as string, 'files', 'y'), 'utf8'), 'now a file');
    assertMirrorEqualsSource(f);
  });

  it('a file that became a symlink, and back', async () => {
    const f = fixture({ 'a': 'file a', 'b': { symlink: 'a' } });
    await f.backup();
    fs.rmSync(join(f.src, 'a'));
    fs.symlinkSync('b', join(f.src, 'a'));
    fs.rmSync(join(f.src, 'b'));
    fs.writeFileSync(join(f.src, 'b'), 'file b');
    const o = await f.backup();
    const inc = readIncrement(f.dist, o.id as string);
    assert.deepEqual(inc.deleted.map((r) => `${r.type}:${r.path}`).sort(), ['file:a', 'symlink:b']);
    assert.deepEqual(inc.new.map((r) => `${r.type}:${r.path}`).sort(), ['file:b', 'symlink:a']);
    assertMirrorEqualsSource(f);
  });

  it('two runs in the same second get -2 and -3 ids, ordered by suffix number', async () => {
    const f = fixture({ 'a.txt': 'a' });
    const when = new Date('2026-03-04T05:06:07.890Z');
    const now = () => when;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(join(f.src, 'a.txt'), `a${'x'.repeat(i + 1)}`);
      const o = await f.backup({ now });
      assert.equal(o.started, when.toISOString());
      ids.push(o.id as string);
    }
    // A run with no change allocates no id.
    assert.equal((await f.backup({ now })).id, null);
    fs.writeFileSync(join(f.src, 'a.txt'), 'last');
    ids.push((await f.backup({ now })).id as string);
    assert.deepEqual(ids, ['2026-03-04T050607Z', '2026-03-04T050607Z-2', '2026-03-04T050607Z-3', '2026-03-04T050607Z-4']);
    assert.deepEqual(incrementIds(f.dist), ids);
    assert.equal(readIncrement(f.dist, ids[2] as string).previous, ids[1]);
    assert.equal(readIncrement(f.dist, ids[3] as string).started, when.toISOString());
  });

  it('ten runs in one second: …Z-10 sorts after …Z-9', async () => {
    const f = fixture({ 'a.txt': 'a' });
    const when = new Date('2026-03-04T05:06:08Z');
    for (let i = 0; i < 10; i++) {
      fs.writeFileSync(join(f.src, 'a.txt'), 'a'.repeat(i + 2));
      await f.backup({ now: () => when });
    }
    const ids = fs.readdirSync(join(f.dist, 'increments')).sort(compareIds);
    assert.equal(ids.length, 10);
    assert.equal(ids[8], '2026-03-04T050608Z-9');
    assert.equal(ids[9], '2026-03-04T050608Z-10');
    assert.equal(readIncrement(f.dist, '2026-03-04T050608Z-10').previous, '2026-03-04T050608Z-9');
  });
});

describe('moves', () => {
  it('a moved folder of large files costs no copy and no space', async () => {
    const MiB = 1024 * 1024;
    const spec: TreeSpec = { 'other.txt': 'other' };
    for (let i = 0; i < 5; i++) {
      const b = Buffer.alloc(8 * MiB, i + 1);
      b.writeUInt32BE(i * 7919, 0);
      spec[`Photos/2024/img${i}.raw`] = { content: b, mtime: T(10 + i) };
    }
    const f = fixture(spec);
    const first = await f.backup();
    assert.equal(first.summary.bytes_copied, 5 * 8 * MiB + 5);
    const usage = uniqueInodeBytes(f.dist);

    fs.renameSync(join(f.src, 'Photos'), join(f.src, 'Pictures'));
    const second = await f.backup();
    assert.equal(second.status, 'done');
    assert.equal(second.summary.bytes_copied, 0);
    assert.equal(second.summary.new, 7); // Pictures, Pictures/2024, 5 files
    assert.equal(second.summary.deleted, 7);
    const growth = uniqueInodeBytes(f.dist) - usage;
    assert.ok(growth >= 0 && growth < 64 * 1024, `the move grew the backup by ${growth} bytes`);
    assertMirrorEqualsSource(f);
    // Each version: mirror, first increment's files/, second's deleted/ and files/ — all one inode.
    const ino = fs.statSync(join(f.dist, 'mirror', 'Pictures/2024/img3.raw')).ino;
    assert.equal(fs.statSync(join(f.dist, 'increments', first.id as string, 'files', 'Photos/2024/img3.raw')).ino, ino);
    assert.equal(fs.statSync(join(f.dist, 'increments', second.id as string, 'deleted', 'Photos/2024/img3.raw')).ino, ino);
    assert.equal(fs.statSync(join(f.dist, 'increments', second.id as string, 'files', 'Pictures/2024/img3.raw')).ino, ino);
    assert.equal(sha256Of(join(f.dist, 'mirror', 'Pictures/2024/img3.raw')), sha256Of(join(f.src, 'Pictures/2024/img3.raw')));
  });

  it('moving most of the source is not a mass deletion', async () => {
    const spec: TreeSpec = { 'a.txt': 'a' };
    for (let i = 0; i < 30; i++) spec[`Photos/p${i}.jpg`] = { content: `photo ${i} `.repeat(20), mtime: T(i) };
    const f = fixture(spec);
    await f.backup();
    fs.renameSync(join(f.src, 'Photos'), join(f.src, 'Pictures'));
    const o = await f.backup();
    assert.equal(o.status, 'done');
    assert.equal(o.summary.bytes_copied, 0);
    assertMirrorEqualsSource(f);
  });

  it('two same-named candidates for a move are ambiguous: the content is copied, never guessed', async () => {
    // Two different files with the same name, size, mtime and mode in two folders.
    const f = fixture({
      'd1/f.txt': { content: 'content A', mtime: T(50) },
      'd2/f.txt': { content: 'content B', mtime: T(50) },
    });
    await f.backup();
    fs.rmSync(join(f.src, 'd2'), { recursive: true });
    fs.mkdirSync(join(f.src, 'd3'));
    fs.renameSync(join(f.src, 'd1/f.txt'), join(f.src, 'd3/f.txt'));
    const o = await f.backup();
    assert.equal(o.status, 'done');
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'd3/f.txt'), 'utf8'), 'content A');
    assertMirrorEqualsSource(f);
  });

  it('with checksum on, a moved file is still linked, not copied', async () => {
    const f = fixture({ 'big/a.bin': { content: Buffer.alloc(300_000, 7), mtime: T(1) }, 'x.txt': 'x' }, { checksum: true });
    await f.backup({ checksum: true });
    fs.renameSync(join(f.src, 'big'), join(f.src, 'moved'));
    const o = await f.backup({ checksum: true });
    assert.equal(o.summary.bytes_copied, 0);
    assert.equal(fs.statSync(join(f.dist, 'mirror', 'moved/a.bin')).ino, fs.statSync(join(f.dist, 'increments', o.id as string, 'deleted', 'big/a.bin')).ino);
    assertMirrorEqualsSource(f);
  });

  it('with checksum on, same size and mtime but other content is a change', async () => {
    const f = fixture({ 'a.txt': { content: 'AAAA', mtime: T(1) } });
    await f.backup();
    fs.writeFileSync(join(f.src, 'a.txt'), 'BBBB');
    fs.utimesSync(join(f.src, 'a.txt'), T(1), T(1));
    assert.equal((await f.backup()).status, 'no-change', 'without checksum metadata decides');
    const o = await f.backup({ checksum: true });
    assert.equal(o.status, 'done');
    assert.deepEqual(readIncrement(f.dist, o.id as string).changed.map((r) => r.path), ['a.txt']);
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'a.txt'), 'utf8'), 'BBBB');
  });
});

describe('--checksum reads what it must', () => {
  // A copy reads a small file with readSync (copyAndHash); a hash, with read on the thread pool (hashFile).
  // Each read of a source file, by the file (one read each: the files hold 4 bytes or none).
  const readsOf = (log: string[][], src: string, copy: boolean) =>
    log.filter(([p, kind]) => kind === (copy ? 'copy' : 'hash') && p?.startsWith(`${src}/`)).map(([p]) => (p as string).slice(src.length + 1)).sort();
  const logging = (log: string[][]): typeof realFs => {
    const paths = new Map<number, string>();
    return new Proxy(realFs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'openSync') {
          return (path: fs.PathLike, ...rest: unknown[]) => {
            const fd = (value as (...a: unknown[]) => number).call(target, path, ...rest);
            paths.set(fd, String(path));
            return fd;
          };
        }
        if (prop === 'read' || prop === 'readSync') {
          return (fd: number, ...rest: unknown[]) => {
            log.push([paths.get(fd) ?? '?', prop === 'read' ? 'hash' : 'copy']);
            return (value as (...a: unknown[]) => unknown).call(target, fd, ...rest);
          };
        }
        return value;
      },
    });
  };

  it('hashes the files whose metadata is as recorded, and copies only what changed: a file whose metadata changed is not read twice', async () => {
    const f = fixture({ 'same.txt': { content: 'same', mtime: T(1) }, 'rewritten.txt': { content: 'AAAA', mtime: T(1) }, 'touched.txt': { content: 'tttt', mtime: T(1) }, 'empty.txt': '' });
    await f.backup();
    fs.writeFileSync(join(f.src, 'rewritten.txt'), 'BBBB');
    fs.utimesSync(join(f.src, 'rewritten.txt'), T(1), T(1));
    fs.utimesSync(join(f.src, 'touched.txt'), T(2), T(2));
    const log: string[][] = [];
    const o = await f.backup({ checksum: true, fs: logging(log) });
    assert.deepEqual(o.errors, []);
    assert.deepEqual(readsOf(log, f.src, false), ['empty.txt', 'rewritten.txt', 'same.txt'], 'hashed: the files whose metadata is as recorded');
    assert.deepEqual(readsOf(log, f.src, true), ['rewritten.txt', 'touched.txt'], 'copied: what changed');
    assert.deepEqual(readIncrement(f.dist, o.id as string).changed.map((r) => r.path).sort(), ['rewritten.txt', 'touched.txt']);
    assertMirrorEqualsSource(f);
  });

  it('a file found changed by content but no longer a file when it is looked at again is a per-file fault, and keeps its last version', async () => {
    const f = fixture({ 'a.txt': { content: 'AAAA', mtime: T(1) }, 'b.txt': { content: 'bbbb', mtime: T(1) } });
    await f.backup();
    // Just before its hash opens it (the first open of it), a.txt becomes a FIFO: its hash is that of
    // nothing (the open does not block: src/io/copy.ts), and the look at it after finds no file.
    let opens = 0;
    const fifo = beforeOpen((path) => {
      if (path === join(f.src, 'a.txt') && ++opens === 1) {
        fs.rmSync(path);
        assert.equal(spawnSync('mkfifo', [path]).status, 0);
      }
    });
    const o = await f.backup({ checksum: true, fs: fifo });
    assert.deepEqual(o.errors.map((e) => [e.path, e.op, e.code]), [['a.txt', 'read', 'ECHANGED']]);
    assert.match(o.errors[0]?.message ?? '', /no longer a regular file/);
    assert.equal(o.status, 'no-change', 'nothing stored');
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'a.txt'), 'utf8'), 'AAAA', 'the mirror keeps the last version');
  });
});

describe('--checksum, content that changes during the run', () => {
  it('a file rewritten between its hash and its copy is a per-file fault: the old version stays, and its bytes are not counted', async () => {
    const f = fixture({ 'a.txt': { content: 'AAAA', mtime: T(1) }, 'b.txt': { content: 'bbbb', mtime: T(1) } });
    await f.backup();
    for (const [name, content] of [['a.txt', 'BBBB'], ['b.txt', 'cccc']] as const) {
      fs.writeFileSync(join(f.src, name), content);
      fs.utimesSync(join(f.src, name), T(1), T(1));
    }
    // The checksum pass opens a.txt first, its copy after. Just before the copy opens it, its
    // content changes again (same size, same mtime).
    let rewritten = 0;
    let opens = 0;
    const racing = beforeOpen((path) => {
      if (path === join(f.src, 'a.txt') && ++opens === 2) {
        fs.writeFileSync(path, 'CCCC');
        fs.utimesSync(path, T(1), T(1));
        rewritten++;
      }
    });
    const o = await f.backup({ checksum: true, fs: racing });
    assert.equal(rewritten, 1, 'the copy of a.txt opened its source once');
    assert.deepEqual(o.errors.map((e) => [e.path, e.op]), [['a.txt', 'read']]);
    assert.equal(o.summary.bytes_copied, 4, 'only b.txt was copied and kept');
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'a.txt'), 'utf8'), 'AAAA', 'the mirror keeps the last good version');
    assert.equal(fs.readFileSync(join(f.dist, 'mirror', 'b.txt'), 'utf8'), 'cccc');
    assert.deepEqual(readIncrement(f.dist, o.id as string).changed.map((r) => r.path), ['b.txt']);
  });
});

describe('special files and owners', () => {
  it('FIFOs and sockets are skipped and listed', async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b' });
    const r = spawnSync('mkfifo', [join(f.src, 'd/pipe')]);
    assert.equal(r.status, 0, `mkfifo failed: ${r.stderr}`);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(join(f.src, 'sock'), resolve));
    try {
      const o = await f.backup();
      assert.equal(o.status, 'done');
      assert.deepEqual(o.errors, []);
      assert.deepEqual([...o.skipped].sort((a, b) => (a.path < b.path ? -1 : 1)), [
        { path: 'd/pipe', kind: 'fifo' },
        { path: 'sock', kind: 'socket' },
      ]);
      const inc = readIncrement(f.dist, o.id as string);
      assert.deepEqual(inc.skipped?.map((s) => s.path).sort(), ['d/pipe', 'sock']);
      assert.deepEqual([...readDiskTree(join(f.dist, 'mirror')).keys()].sort(), ['a.txt', 'd', 'd/b.txt']);
      assert.equal(inc.new.some((e) => e.path === 'sock' || e.path === 'd/pipe'), false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('owner and group are preserved when run as root', async (t) => {
    if (!isRootUser()) {
      t.skip('not root: owners cannot be set, nothing to check');
      return;
    }
    const f = fixture({ 'mine.txt': 'root owns it', 'theirs.txt': 'nobody owns it', 'dir/x': 'x', 'lnk': { symlink: 'mine.txt' } });
    fs.chownSync(join(f.src, 'theirs.txt'), 65534, 65534);
    fs.chownSync(join(f.src, 'dir'), 65534, 65533);
    fs.lchownSync(join(f.src, 'lnk'), 65534, 65534);
    const o = await f.backup();
    const mirror = readDiskTree(join(f.dist, 'mirror'));
    assert.deepEqual([mirror.get('theirs.txt')?.uid, mirror.get('theirs.txt')?.gid], [65534, 65534]);
    assert.deepEqual([mirror.get('mine.txt')?.uid, mirror.get('mine.txt')?.gid], [0, 0]);
    assert.deepEqual([mirror.get('dir')?.uid, mirror.get('dir')?.gid], [65534, 65533]);
    assert.deepEqual([mirror.get('lnk')?.uid, mirror.get('lnk')?.gid], [65534, 65534]);
    const inc = readIncrement(f.dist, o.id as string);
    const rec = inc.new.find((r) => r.path === 'theirs.txt');
    assert.deepEqual([rec?.uid, rec?.gid], [65534, 65534]);
    assert.equal(fs.statSync(join(f.dist, 'increments', o.id as string, 'files', 'theirs.txt')).uid, 65534);
  });
});

describe('--dry-run', () => {
  it('writes nothing at all: not even dist is created', async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b', 'e': { dir: true } });
    const o = await f.backup({ dryRun: true });
    assert.equal(o.status, 'dry-run');
    assert.equal(o.id, null);
    assert.deepEqual(o.preview?.new.sort(), ['a.txt', 'd', 'd/b.txt', 'e']);
    assert.deepEqual(o.summary, { new: 4, changed: 0, deleted: 0, errors: 0, bytes_copied: 0 });
    assert.equal(fs.existsSync(f.dist), false);
  });

  it('against an existing backup: the plan is reported, no byte of dist changes', async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b', 'move/m.bin': { content: 'moving content', mtime: T(3) } });
    await f.backup();
    const before = fingerprint(f.dist);
    const statDist = fs.statSync(f.dist).mtimeMs;
    fs.writeFileSync(join(f.src, 'a.txt'), 'a changed');
    fs.rmSync(join(f.src, 'd/b.txt'));
    fs.writeFileSync(join(f.src, 'c.txt'), 'new');
    fs.renameSync(join(f.src, 'move'), join(f.src, 'moved'));
    const o = await f.backup({ dryRun: true });
    assert.equal(o.status, 'dry-run');
    assert.deepEqual(o.preview?.changed, ['a.txt']);
    assert.deepEqual(o.preview?.new.sort(), ['c.txt', 'moved', 'moved/m.bin']);
    assert.deepEqual(o.preview?.deleted.sort(), ['d/b.txt', 'move', 'move/m.bin']);
    assert.deepEqual(o.preview?.moved, [{ from: 'move/m.bin', to: 'moved/m.bin' }]);
    assert.deepEqual(fingerprint(f.dist), before);
    assert.equal(fs.statSync(f.dist).mtimeMs, statDist);
  });

  it("with an interrupted run's journal: what that run finished is not planned again, and no byte of dist changes", async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b', 'd/c.txt': 'c' });
    await f.backup();
    const layout = new Layout(f.dist);
    const recorded = readManifest(realFs, layout.manifest).entries;
    // A run killed after it deleted d/b.txt from the mirror, before it deleted d/c.txt.
    fs.rmSync(join(f.src, 'd/b.txt'));
    fs.rmSync(join(f.src, 'd/c.txt'));
    const id = '2099-01-01T000000Z';
    const w = new JournalWriter(realFs, layout.journal, { journal: 1, id, profile: 'default', source: f.src, started: new Date().toISOString(), link_mode: 'hardlink' });
    w.append({ op: 'del', entry: recorded.get('d/b.txt') as StateEntry });
    w.append({ op: 'del', entry: recorded.get('d/c.txt') as StateEntry });
    w.flush();
    w.close();
    fs.rmSync(layout.mirrorPath('d/b.txt'));
    const before = fingerprint(f.dist);
    const o = await f.backup({ dryRun: true });
    assert.equal(o.status, 'dry-run');
    assert.deepEqual(o.preview?.deleted, ['d/c.txt'], 'd/b.txt was deleted by the interrupted run');
    assert.deepEqual(fingerprint(f.dist), before, 'the journal stays, and nothing is recovered');
  });
});

describe('guards, as a run meets them', () => {
  const untouched = (f: Fixture) => ({ mirror: fingerprint(join(f.dist, 'mirror')), increments: fingerprint(join(f.dist, 'increments')) });

  it('an empty source against a non-empty backup is refused; --force empties the mirror', async () => {
    const f = fixture({ 'a.txt': 'a', 'd/b.txt': 'b' });
    await f.backup();
    for (const name of fs.readdirSync(f.src)) fs.rmSync(join(f.src, name), { recursive: true });
    const before = untouched(f);
    await assert.rejects(f.backup(), (err: Error) => /empty/.test(err.message) && (err as { exitCode?: number }).exitCode === 1);
    assert.deepEqual(untouched(f), before);
    const o = await f.backup({ force: true });
    assert.equal(o.status, 'done');
    assert.deepEqual(fs.readdirSync(join(f.dist, 'mirror')), []);
    assert.equal(fs.readFileSync(join(f.dist, 'increments', o.id as string, 'deleted', 'd/b.txt'), 'utf8'), 'b');
  });

  it('deleting more than half of at least 20 files is refused; --force goes ahead', async () => {
    const spec: TreeSpec = {};
    for (let i = 0; i < 50; i++) spec[`f${i}.txt`] = `file ${i}`;
    const f = fixture(spec);
    await f.backup();
    for (let i = 0; i < 26; i++) fs.rmSync(join(f.src, `f${i}.txt`));
    const before = untouched(f);
    await assert.rejects(f.backup(), /26 of 50/);
    assert.deepEqual(untouched(f), before);
    const o = await f.backup({ force: true });
    assert.equal(o.summary.deleted, 26);
    assertMirrorEqualsSource(f);
  });

  it('a source inside the destination through a symlink is refused before anything is written', async () => {
    const root = tempDir('hb-run-');
    cleanup.push(root);
    const dist = join(root, 'dist');
    makeTree(join(dist, 'inner'), { 'a.txt': 'a' });
    fs.symlinkSync(dist, join(root, 'alias'));
    const profile = profileFor(join(root, 'alias', 'inner'), dist);
    await assert.rejects(runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter }), /lies inside the destination/);
    assert.deepEqual(fs.readdirSync(dist), ['inner'], 'nothing was created in dist');
  });

  it('a backup of another source is refused; --force adopts it', async () => {
    const f = fixture({ 'a.txt': 'a' });
    await f.backup();
    const other = join(f.root, 'other');
    makeTree(other, { 'a.txt': 'a', 'z.txt': 'z' });
    const run = (force: boolean) => runBackup(profileFor(other, f.dist), { dryRun: false, force, checksum: false, reporter: silentReporter });
    const before = untouched(f);
    await assert.rejects(run(false), (err: Error) => err.message.includes(f.src) && err.message.includes(other));
    assert.deepEqual(untouched(f), before);
    const o = await run(true);
    assert.equal(o.status, 'done');
    assert.equal(readIncrement(f.dist, o.id as string).source, other);
    // Adopted: the next run without --force is accepted.
    fs.writeFileSync(join(other, 'y.txt'), 'y');
    assert.equal((await run(false)).status, 'done');
  });
});
