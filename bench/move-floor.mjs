#!/usr/bin/env node
// The floor of a moved folder under SPEC §3: the five namespace operations a moved tracked file
// needs (a temp link to its stored version, a link into the increment's files/ under the new path,
// one into deleted/ under the old path, the rename into the mirror, the old name's removal), and
// nothing else, for N files, with synchronous Node calls. Compare with `cp -a` of the same folder.
//
//   node bench/move-floor.mjs <empty-or-scratch-dir> <files>
//
// The folder is removed and recreated; put it on the filesystem you measure (tmpfs, an ext4 image).

import { mkdirSync, rmSync, writeFileSync, linkSync, renameSync, unlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const [root, count] = process.argv.slice(2);
const n = Number(count);
if (!root || !Number.isInteger(n) || n <= 0) {
  process.stderr.write('usage: move-floor.mjs <scratch-dir> <files>\n');
  process.exit(2);
}
rmSync(root, { recursive: true, force: true });
for (const d of ['mirror/old', 'mirror/new', 'tmp', 'inc/files/new', 'inc/deleted/old']) mkdirSync(`${root}/${d}`, { recursive: true });
for (let i = 0; i < n; i++) writeFileSync(`${root}/mirror/old/f${i}`, 'x');
spawnSync('sync');
const t = performance.now();
for (let i = 0; i < n; i++) {
  const old = `${root}/mirror/old/f${i}`;
  const tmp = `${root}/tmp/t${i}`;
  linkSync(old, tmp);
  linkSync(tmp, `${root}/inc/files/new/f${i}`);
  linkSync(old, `${root}/inc/deleted/old/f${i}`);
  renameSync(tmp, `${root}/mirror/new/f${i}`);
  unlinkSync(old);
}
process.stdout.write(`${n} files, 5 namespace operations each: ${(performance.now() - t).toFixed(0)} ms\n`);
rmSync(root, { recursive: true, force: true });
