import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runBackup } from '../../src/apply/run.js';
import { runPrune } from '../../src/apply/prune.js';
import { diskUsage } from '../../src/store/du.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { compareIds } from '../../src/store/ids.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { makeTree, profileFor, readTree, removeDir, sha256File, tempDir } from '../helpers/tree.js';

/**
 * An independent oracle for the state at increment K: replay every increment.json up to K (carried,
 * then deleted, then new/changed), remembering which increment holds each record's content.
 */
function replay(dist: string, upTo: string): Map<string, { type: string; sha256?: string; target?: string; mode: number; tracked: boolean; holder: string }> {
  const state = new Map<string, { type: string; sha256?: string; target?: string; mode: number; tracked: boolean; holder: string }>();
  const ids = fs.readdirSync(join(dist, 'increments')).sort(compareIds);
  for (const id of ids) {
    if (compareIds(id, upTo) > 0) break;
    const j = JSON.parse(fs.readFileSync(join(dist, 'increments', id, 'increment.json'), 'utf8')) as IncrementJson;
    for (const c of j.carried ?? []) {
      if (c.status === 'deleted') state.delete(c.path);
      else state.set(c.path, { type: c.type, sha256: c.sha256, target: c.target, mode: c.mode, tracked: c.tracked, holder: id });
    }
    for (const r of j.deleted) state.delete(r.path);
    for (const r of [...j.new, ...j.changed]) state.set(r.path, { type: r.type, sha256: r.sha256, target: r.target, mode: r.mode, tracked: r.tracked, holder: id });
  }
  return state;
}

type Snapshot = Map<string, string>;

/** The tracked view of the source: tracked files with content, all folders and symlinks. */
function snapshotSource(src: string): Snapshot {
  const out: Snapshot = new Map();
  for (const [p, v] of readTree(src)) {
    if (v.type === 'file' && !p.startsWith('Projects/')) continue;
    out.set(p, `${v.type} ${v.mode.toString(8)} ${v.sha256 ?? v.target ?? ''}`);
  }
  return out;
}

/** What a recreate of increment `id` could produce, checked against the stored content. */
function storedState(dist: string, id: string): Snapshot {
  const out: Snapshot = new Map();
  for (const [p, r] of replay(dist, id)) {
    if (r.type === 'file' && !r.tracked) continue;
    if (r.type === 'file') {
      const stored = join(dist, 'increments', r.holder, 'files', p);
      assert.ok(fs.existsSync(stored), `increment ${id}: ${p} must be stored in ${r.holder}/files`);
      assert.equal(sha256File(stored), r.sha256, `${stored} hashes to its record`);
    }
    out.set(p, `${r.type} ${r.mode.toString(8)} ${r.sha256 ?? r.target ?? ''}`);
  }
  return out;
}

test('prune keeps time travel exact for every kept increment and frees the rest', async (t) => {
  process.env.TZ = 'UTC';
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  const profile = profileFor(src, dist, { rules: { track_dirs: ['Projects'] } });
  makeTree(src, { 'Projects/a.txt': 'a1', 'Projects/b.txt': 'b1', 'Projects/d/c.txt': 'c1', 'Notes/n.txt': 'n1', 'Projects/empty': { dir: true } });
  const edits: ((s: string) => void)[] = [
    (s) => fs.writeFileSync(join(s, 'Projects/a.txt'), 'a2 longer'),
    (s) => fs.rmSync(join(s, 'Projects/b.txt')),
    (s) => fs.renameSync(join(s, 'Projects/d'), join(s, 'Projects/e')),
    (s) => fs.writeFileSync(join(s, 'Projects/b.txt'), 'b3 is back'),
    (s) => fs.symlinkSync('a.txt', join(s, 'Projects/link')),
    (s) => fs.writeFileSync(join(s, 'Notes/n.txt'), 'n6'),
    (s) => {
      fs.rmSync(join(s, 'Projects/a.txt'));
      fs.mkdirSync(join(s, 'Projects/a.txt'));
    },
    (s) => fs.writeFileSync(join(s, 'Projects/e/c.txt'), 'c8 changed'),
    (s) => fs.chmodSync(join(s, 'Projects/b.txt'), 0o600),
  ];
  const snaps = new Map<string, Snapshot>();
  for (let day = 0; day <= edits.length; day++) {
    if (day > 0) edits[day - 1]?.(src);
    const out = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1 + day, 12)) });
    assert.equal(out.status, 'done', `day ${day} makes an increment`);
    snaps.set(out.id as string, snapshotSource(src));
  }
  for (const [id, snap] of snaps) assert.deepEqual(storedState(dist, id), snap, `before prune: state at ${id}`);

  const usageBefore = diskUsage(fs, dist);
  const outcome = await runPrune({ dist, policy: { last: 2, weekly: 2 }, dryRun: false });
  const kept = outcome.decisions.filter((d) => d.keep).map((d) => d.id);
  assert.ok(outcome.removed.length > 0 && kept.length > 0);
  assert.deepEqual(fs.readdirSync(join(dist, 'increments')).sort(compareIds), [...kept].sort(compareIds));
  for (const id of kept) assert.deepEqual(storedState(dist, id), snaps.get(id), `after prune: state at kept ${id}`);
  assert.deepEqual(readdirTmp(dist), [], 'no leftovers in .hardback/tmp');
  assert.equal(fs.existsSync(join(dist, '.hardback', 'prune.json')), false);

  // du agrees with an independent count of unique inodes.
  const usage = diskUsage(fs, dist);
  assert.ok(usage.onDisk.bytes <= usageBefore.onDisk.bytes);
  const lines = execFileSync('find', [join(dist, 'mirror'), join(dist, 'increments'), '-type', 'f', '-not', '-name', 'increment.json', '-printf', '%i %s\n'], { encoding: 'utf8' }).trim().split('\n');
  const unique = new Map(lines.map((l) => l.split(' ') as [string, string]));
  assert.equal(usage.onDisk.files, unique.size);
  assert.equal(usage.onDisk.bytes, [...unique.values()].reduce((s, v) => s + Number(v), 0));
  assert.equal(usage.apparent, lines.reduce((s, l) => s + Number(l.split(' ')[1]), 0));

  // A later backup still works on the pruned backup, and prune is idempotent.
  fs.writeFileSync(join(src, 'Projects/new.txt'), 'after prune');
  const after = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 1, 1)) });
  assert.equal(after.status, 'done');
  const again = await runPrune({ dist, policy: { last: 2, weekly: 2 }, dryRun: true });
  assert.ok(again.decisions.some((d) => d.id === after.id && d.keep));
});

function readdirTmp(dist: string): string[] {
  return fs.readdirSync(join(dist, '.hardback', 'tmp'));
}

test('du: unique bytes are what deleting an increment would free', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  const profile = profileFor(src, dist);
  makeTree(src, { 'a.bin': Buffer.alloc(1000, 1), 'b.bin': Buffer.alloc(3000, 2) });
  const first = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter });
  fs.writeFileSync(join(src, 'a.bin'), Buffer.alloc(500, 3));
  await new Promise((r) => setTimeout(r, 1100));
  const second = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter });
  const r = diskUsage(fs, dist);
  const inc1 = r.increments.find((i) => i.id === first.id);
  const inc2 = r.increments.find((i) => i.id === second.id);
  // The first a.bin (1000 B) is only in increment 1; b.bin is shared with the mirror; the new a.bin too.
  const meta = (id: string | null) => fs.statSync(join(dist, 'increments', String(id), 'increment.json')).size;
  assert.deepEqual(inc1, { id: first.id, files: 2, bytes: 4000, unique: 1000, metadata: meta(first.id) });
  assert.deepEqual(inc2, { id: second.id, files: 1, bytes: 500, unique: 0, metadata: meta(second.id) });
  assert.deepEqual(r.mirror, { files: 2, bytes: 3500, unique: 0 });
  assert.deepEqual(r.onDisk, { files: 3, bytes: 4500 });
  assert.equal(r.apparent, 8000);
  assert.deepEqual(r.source, { files: 2, bytes: 3500 });
});

test('prune_after_backup runs the keep policy after a successful backup (backup CLI, in-process)', async (t) => {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  makeTree(src, { 'a.txt': 'one' });
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist', keep: { last: 2 }, prune_after_backup: true }));
  const { main } = await import('../../src/cli/backup.js');
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    for (let i = 0; i < 4; i++) {
      fs.writeFileSync(join(src, 'a.txt'), `version ${i}`);
      fs.utimesSync(join(src, 'a.txt'), 1_700_000_000 + i, 1_700_000_000 + i);
      assert.equal(await main([cfg, '--quiet']), 0);
      await new Promise((r) => setTimeout(r, 1050)); // distinct increment ids
    }
  } finally {
    process.stdout.write = write;
  }
  assert.equal(fs.readdirSync(join(root, 'dist', 'increments')).length, 2, 'only the two newest increments remain');
});
