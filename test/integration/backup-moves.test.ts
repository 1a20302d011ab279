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
