import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { runPrune } from '../../src/apply/prune.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { compareIds } from '../../src/store/ids.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { imagingFs } from '../helpers/fault-images.js';
import { killLockHolder } from '../helpers/fault-scenario.js';
import { makeTree, profileFor, readTree, removeDir, sha256File, tempDir } from '../helpers/tree.js';

/** State at `upTo` from the increment.json files (carried, deleted, new/changed), each tracked file checked against its stored content. */
function storedState(dist: string, upTo: string): Map<string, string> {
  const state = new Map<string, { line: string; holder: string; sha?: string; tracked: boolean; type: string }>();
  for (const id of fs.readdirSync(join(dist, 'increments')).sort(compareIds)) {
    if (compareIds(id, upTo) > 0) break;
    const j = JSON.parse(fs.readFileSync(join(dist, 'increments', id, 'increment.json'), 'utf8')) as IncrementJson;
    const set = (r: { path: string; type: string; mode: number; sha256?: string; target?: string; tracked: boolean }) =>
      state.set(r.path, { line: `${r.type} ${r.mode.toString(8)} ${r.sha256 ?? r.target ?? ''}`, holder: id, sha: r.sha256, tracked: r.tracked, type: r.type });
    for (const c of j.carried ?? []) (c.status === 'deleted' ? state.delete(c.path) : set(c));
    for (const r of j.deleted) state.delete(r.path);
    for (const r of [...j.new, ...j.changed]) set(r);
  }
  const out = new Map<string, string>();
  for (const [p, v] of state) {
    if (v.type === 'file' && !v.tracked) continue;
    if (v.type === 'file') {
      const stored = join(dist, 'increments', v.holder, 'files', p);
      assert.ok(fs.existsSync(stored), `state at ${upTo}: ${p} must be stored in ${v.holder}`);
      assert.equal(sha256File(stored), v.sha, `${stored} hashes to its record`);
    }
    out.set(p, v.line);
  }
  return out;
}

test('a prune killed at any system call leaves every kept state restorable, and the next prune finishes', async (t) => {
  process.env.TZ = 'UTC';
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  const profile = profileFor(src, dist, { rules: { track_dirs: ['P'] } });
  makeTree(src, { 'P/a.txt': 'a0', 'P/b.txt': 'b0', 'P/d/c.txt': 'c0', 'N/n.txt': 'n0' });
  const edits: ((s: string) => void)[] = [
    (s) => fs.writeFileSync(join(s, 'P/a.txt'), 'a1 changed'),
    (s) => fs.rmSync(join(s, 'P/b.txt')),
    (s) => fs.renameSync(join(s, 'P/d'), join(s, 'P/e')),
    (s) => fs.writeFileSync(join(s, 'P/new.txt'), 'new in 4'),
    (s) => fs.writeFileSync(join(s, 'N/n.txt'), 'n5'),
    (s) => fs.writeFileSync(join(s, 'P/e/c.txt'), 'c6'),
  ];
  const ids: string[] = [];
  for (let day = 0; day <= edits.length; day++) {
    if (day > 0) edits[day - 1]?.(src);
    const out = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1 + day, 12)) });
    ids.push(out.id as string);
  }
  const policy = { last: 2, weekly: 1 };
  const before = new Map(ids.map((id) => [id, storedState(dist, id)]));
  const plan = await runPrune({ dist, policy, dryRun: true });
  const kept = plan.decisions.filter((d) => d.keep).map((d) => d.id);
  assert.ok(kept.length < ids.length, 'the policy prunes something');

  const imagesDir = join(root, 'images');
  const work = join(root, 'work');
  fs.cpSync(dist, work, { recursive: true, verbatimSymlinks: true });
  const imagingWork = imagingFs(work, imagesDir);
  await runPrune({ fs: imagingWork.fs, dist: work, policy, dryRun: false });
  assert.ok(imagingWork.images.length > 5, `crash images were taken (${imagingWork.images.length})`);

  for (const image of imagingWork.images) {
    const where = `crash before call ${image.n} (${image.call})`;
    // Right after the crash: every kept state still restorable from what is on disk.
    for (const id of kept) assert.deepEqual(storedState(image.dir, id), before.get(id), `${where}: state at ${id} before the next prune`);
    killLockHolder(image.dir);
    await runPrune({ dist: image.dir, policy, dryRun: false });
    assert.deepEqual(fs.readdirSync(join(image.dir, 'increments')).sort(compareIds), [...kept].sort(compareIds), `${where}: the next prune finished`);
    for (const id of kept) assert.deepEqual(storedState(image.dir, id), before.get(id), `${where}: state at ${id} after the next prune`);
    assert.equal(fs.existsSync(join(image.dir, '.hardback', 'prune.json')), false, `${where}: no prune plan left`);
    assert.deepEqual(fs.readdirSync(join(image.dir, '.hardback', 'tmp')), [], `${where}: no temp files left`);
    assert.deepEqual([...readTree(join(image.dir, 'mirror')).keys()], [...readTree(join(dist, 'mirror')).keys()], `${where}: the mirror is untouched`);
    removeDir(image.dir);
  }
});
