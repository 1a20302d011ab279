import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { makeTree, profileFor, removeDir, sha256File, tempDir } from '../helpers/tree.js';

const opts = { dryRun: false, force: false, checksum: false, reporter: silentReporter };

test('a move is recognised by the source inode, never by looks alone', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  // Two different files that look alike: same size, same mtime, same mode.
  makeTree(src, { 'a/n.txt': { content: 'AAAA', mtime: 1_700_000_000 }, 'b/q.txt': { content: 'BBBB', mtime: 1_700_000_000 } });
  await runBackup(profileFor(src, dist), opts);
  // Delete a/n.txt and rename the *other* file onto the same name elsewhere: c/n.txt holds BBBB.
  fs.rmSync(join(src, 'a/n.txt'));
  fs.mkdirSync(join(src, 'c'));
  fs.renameSync(join(src, 'b/q.txt'), join(src, 'c/n.txt'));
  const out = await runBackup(profileFor(src, dist), opts);
  assert.equal(out.status, 'done');
  assert.equal(fs.readFileSync(join(dist, 'mirror/c/n.txt'), 'utf8'), 'BBBB', 'the mirror holds the renamed file, not its look-alike');
  assert.equal(out.summary.bytes_copied, 0, 'the rename itself was linked, not copied');
  assert.equal(sha256File(join(dist, 'increments', String(out.id), 'files/c/n.txt')), sha256File(join(src, 'c/n.txt')));
});

test('a look-alike that is not the same file is copied, not linked', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, { 'old/x.bin': { content: 'one!', mtime: 1_700_000_000 } });
  await runBackup(profileFor(src, dist), opts);
  fs.rmSync(join(src, 'old/x.bin'));
  makeTree(src, { 'new/x.bin': { content: 'two!', mtime: 1_700_000_000 } });
  const out = await runBackup(profileFor(src, dist), opts);
  assert.equal(fs.readFileSync(join(dist, 'mirror/new/x.bin'), 'utf8'), 'two!');
  assert.equal(out.summary.bytes_copied, 4);
});

test('an inode number reused right after a deletion is not taken for a move (birth time differs)', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, { 'a.bin': { content: 'A'.repeat(4096), mtime: 1_600_000_000 } });
  await runBackup(profileFor(src, dist), opts);
  const ino = fs.statSync(join(src, 'a.bin')).ino;
  fs.rmSync(join(src, 'a.bin'));
  // tmpfs and ext4 hand the freed inode number to the next file created.
  makeTree(src, { 'b.bin': { content: 'B'.repeat(4096), mtime: 1_600_000_000 } });
  if (fs.statSync(join(src, 'b.bin')).ino !== ino) t.diagnostic('the filesystem did not reuse the inode number; the test still checks content');
  const out = await runBackup(profileFor(src, dist), opts);
  assert.equal(fs.readFileSync(join(dist, 'mirror/b.bin'), 'utf8'), 'B'.repeat(4096), 'the mirror holds the new file, not the deleted look-alike');
  assert.equal(out.summary.bytes_copied, 4096);
});

test('without a file identity, a look-alike move is confirmed by content before it is linked', async () => {
  const { buildPlan } = await import('../../src/plan/plan.js');
  const base = { size: 4, mtime_ns: '1', mode: 0o644, uid: 0, gid: 0, tracked: true } as const;
  const { StateTable } = await import('../../src/store/state-table.js');
  const last = StateTable.from([{ ...base, path: 'old/x', type: 'file' as const, sha256: 'a'.repeat(64) }]);
  const plan = buildPlan([{ ...base, path: 'new/x', type: 'file' }], last, { checksum: false, caseInsensitive: false, unreadable: [], compared: undefined });
  assert.equal(plan.puts[0]?.moveFrom?.path, 'old/x');
  assert.equal(plan.puts[0]?.verifyMove, true, 'no identity: the content must be confirmed');
  const withId = buildPlan([{ ...base, path: 'new/x', type: 'file', ino: '1:2:3' }], StateTable.from([{ ...base, path: 'old/x', type: 'file' as const, sha256: 'a'.repeat(64), ino: '1:2:4' }]), {
    checksum: false,
    caseInsensitive: false,
    unreadable: [],
    compared: undefined,
  });
  assert.equal(withId.puts[0]?.moveFrom, undefined, 'a different identity is never a move');
});

test('the destination inside src is skipped even when reached through a symlinked path', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  makeTree(join(root, 'real/docs'), { 'a.txt': 'a' });
  fs.symlinkSync(join(root, 'real'), join(root, 'alias'));
  const src = join(root, 'real/docs');
  const dist = join(root, 'alias/docs/backup'); // the same folder as real/docs/backup
  for (let i = 0; i < 3; i++) await runBackup(profileFor(src, dist), opts);
  assert.deepEqual(fs.readdirSync(join(dist, 'mirror')), ['a.txt'], 'the backup never contains itself');
});

test('increment ids keep growing when the clock goes back', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, { 'a.txt': 'v1' });
  const at = (h: number) => () => new Date(Date.UTC(2026, 0, 1, h));
  const r1 = await runBackup(profileFor(src, dist), { ...opts, now: at(11) });
  fs.writeFileSync(join(src, 'a.txt'), 'v2 newer');
  const r2 = await runBackup(profileFor(src, dist), { ...opts, now: at(10) });
  assert.equal(r1.id, '2026-01-01T110000Z');
  assert.equal(r2.id, '2026-01-01T110000Z-2', 'the later run sorts after the earlier one');
});

test('one stored version that two new paths move from is linked to both, not copied for the second', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, { 'a.bin': { content: 'A'.repeat(5000), mtime: 1_650_000_000 }, 'keep.txt': 'stays' });
  await runBackup(profileFor(src, dist), opts);
  const stored = fs.statSync(join(dist, 'mirror/a.bin')).ino;
  // The same source file (one inode) now at two new paths, and gone from its old one.
  fs.mkdirSync(join(src, 'x'));
  fs.mkdirSync(join(src, 'y'));
  fs.linkSync(join(src, 'a.bin'), join(src, 'y/a.bin'));
  fs.renameSync(join(src, 'a.bin'), join(src, 'x/a.bin'));
  const out = await runBackup(profileFor(src, dist), opts);
  assert.equal(out.status, 'done');
  assert.equal(out.summary.bytes_copied, 0, 'both paths were linked to the stored version, neither copied');
  for (const p of ['x/a.bin', 'y/a.bin']) {
    assert.equal(fs.statSync(join(dist, 'mirror', p)).ino, stored, `${p}: the version the mirror held`);
    assert.equal(fs.readFileSync(join(dist, 'increments', String(out.id), 'files', p), 'utf8'), 'A'.repeat(5000));
  }
  assert.equal(fs.existsSync(join(dist, 'mirror/a.bin')), false);
});
