import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { BACKUP_JS, readTree, removeDir, runCli, tempDir, treeView } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { workerShare } from '../../src/scan/parallel.js';
import type { IncrementJson } from '../../src/meta/increment.js';

test('workerShare splits top-level names by the weights the last run recorded', () => {
  assert.deepEqual([...workerShare(['a', 'b', 'c', 'd'], undefined)].sort(), ['b', 'd'], 'first run: alternate');
  const share = workerShare(['big', 's1', 's2', 's3'], { big: 90, s1: 30, s2: 30, s3: 30 });
  assert.deepEqual([...share].sort(), ['s1', 's2', 's3'], 'the big folder on one side, the rest on the other');
  assert.deepEqual([...workerShare(['constructor', 'x'], { x: 5 })].sort(), ['constructor'], 'no inherited "weights"');
  assert.equal(workerShare(['only'], { only: 3 }).size, 0, 'one name: nothing to share');
  const names = Array.from({ length: 100 }, (_, i) => `n${i}`);
  assert.equal(workerShare(names, Object.fromEntries(names.map((n) => [n, 10]))).size, 50, 'equal weights: half each');
});

test('the built program scans and copies on two threads, and reports exactly the changes in both shares', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  // Enough entries for the second run to scan on two threads too (run.ts: at least 5,000 recorded).
  for (let d = 0; d < 8; d++) for (let f = 0; f < 700; f++) {
    fs.mkdirSync(join(src, `top${d}`, `sub${f % 4}`), { recursive: true });
    fs.writeFileSync(join(src, `top${d}`, `sub${f % 4}`, `f${f}.txt`), `${d}/${f}`);
  }
  fs.mkdirSync(join(src, 'top3', 'empty'));
  fs.symlinkSync('../top0/sub0/f0.txt', join(src, 'top5', 'link'));
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist' }));
  const first = runCli(BACKUP_JS, [cfg, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const view = (dir: string) => Object.fromEntries(Object.entries(treeView(readTree(dir))).filter(([k]) => !k.startsWith('dist')));
  // 5,600 new files: the copies run on two threads as well (src/apply/copier.ts).
  assert.deepEqual(view(join(root, 'dist', 'mirror')), view(src), 'the first run: the mirror equals the source');
  const firstId = (JSON.parse(first.stdout) as { profiles: { increment: string }[] }).profiles[0]?.increment;
  const inc1 = JSON.parse(fs.readFileSync(join(root, 'dist', 'increments', String(firstId), 'increment.json'), 'utf8')) as IncrementJson;
  const files = inc1.new.filter((r) => r.type === 'file');
  assert.equal(files.length, 5600, 'every file is listed as new');
  for (const r of files) {
    const content = fs.readFileSync(join(src, r.path));
    assert.equal(r.sha256, createHash('sha256').update(content).digest('hex'), `${r.path}: recorded sha256`);
    const kept = fs.statSync(join(root, 'dist', 'increments', String(firstId), 'files', r.path));
    assert.equal(kept.ino, fs.statSync(join(root, 'dist', 'mirror', r.path)).ino, `${r.path}: the increment links the mirror's version`);
  }
  // Changes in every top-level folder, so both threads' shares have some.
  const changed: string[] = [];
  const added: string[] = [];
  const deleted: string[] = [];
  for (let d = 0; d < 8; d++) {
    fs.writeFileSync(join(src, `top${d}`, 'sub1', 'f1.txt'), `changed ${d} with more bytes`);
    changed.push(`top${d}/sub1/f1.txt`);
    fs.writeFileSync(join(src, `top${d}`, `added${d}.txt`), 'new');
    added.push(`top${d}/added${d}.txt`);
    fs.rmSync(join(src, `top${d}`, 'sub2', 'f2.txt'));
    deleted.push(`top${d}/sub2/f2.txt`);
  }
  // A whole folder gone, in one share or the other: its entries are what neither thread found.
  const goneDir = join(src, 'top6', 'sub3');
  for (const name of fs.readdirSync(goneDir)) deleted.push(`top6/sub3/${name}`);
  deleted.push('top6/sub3');
  fs.rmSync(goneDir, { recursive: true });
  // A dry run: its worker sends every entry of its share and this thread compares them (run.ts).
  const dry = runCli(BACKUP_JS, [cfg, '--json', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const plan = (JSON.parse(dry.stdout) as { profiles: { plan: { new: string[]; changed: string[]; deleted: string[] } }[] }).profiles[0]?.plan;
  assert.deepEqual(plan?.changed.slice().sort(), changed.slice().sort(), 'dry run: changed');
  assert.deepEqual(plan?.new.slice().sort(), added.slice().sort(), 'dry run: new');
  assert.deepEqual(plan?.deleted.slice().sort(), deleted.slice().sort(), 'dry run: deleted');
  const second = runCli(BACKUP_JS, [cfg, '--json']);
  assert.equal(second.code, 0, second.stderr);
  const id = (JSON.parse(second.stdout) as { profiles: { increment: string }[] }).profiles[0]?.increment;
  const inc = JSON.parse(fs.readFileSync(join(root, 'dist', 'increments', String(id), 'increment.json'), 'utf8')) as IncrementJson;
  assert.deepEqual(inc.changed.map((r) => r.path).sort(), changed.sort());
  assert.deepEqual(inc.new.map((r) => r.path).sort(), added.sort());
  assert.deepEqual(inc.deleted.map((r) => r.path).sort(), deleted.sort());
  assert.deepEqual(view(join(root, 'dist', 'mirror')), view(src), 'the mirror equals the source');
  const third = runCli(BACKUP_JS, [cfg]);
  assert.match(third.stdout, /no changes/, 'and a third run finds nothing to do');
  // --checksum on the built program: in every top-level folder (both shares), content rewritten
  // under the same size and mtime, and a file rewritten with a new mtime. Each change is stored
  // once (what the worker's share marks found: integration/scan-worker).
  const sameLooks = Array.from({ length: 8 }, (_, d) => `top${d}/sub0/f4.txt`);
  const then = new Date(2002, 0, 1); // whole seconds: utimes sets it exactly
  for (const rel of sameLooks) fs.utimesSync(join(src, rel), then, then);
  assert.equal(runCli(BACKUP_JS, [cfg, '--quiet']).code, 0);
  for (const rel of sameLooks) {
    fs.writeFileSync(join(src, rel), fs.readFileSync(join(src, rel), 'utf8').replace(/\d/g, 'x'));
    fs.utimesSync(join(src, rel), then, then);
  }
  // And in each, a file rewritten with a new mtime: the worker sends those of its share, and marks them found.
  const touched = Array.from({ length: 8 }, (_, d) => `top${d}/sub1/f5.txt`);
  for (const rel of touched) {
    fs.writeFileSync(join(src, rel), fs.readFileSync(join(src, rel), 'utf8').replace(/\d/g, 'y'));
    fs.utimesSync(join(src, rel), new Date(2001, 0, 1), new Date(2001, 0, 1));
  }
  const plain = runCli(BACKUP_JS, [cfg, '--json', '--dry-run']);
  assert.deepEqual((JSON.parse(plain.stdout) as { profiles: { plan: { changed: string[] } }[] }).profiles[0]?.plan.changed.sort(), touched.slice().sort(), 'without --checksum only the mtimes are seen');
  // A dry run's worker sends every entry of its share (run.ts): those that look unchanged are hashed too.
  const dryChecksum = runCli(BACKUP_JS, [cfg, '--json', '--checksum', '--dry-run']);
  assert.equal(dryChecksum.code, 0, dryChecksum.stderr);
  const dryChanged = (JSON.parse(dryChecksum.stdout) as { profiles: { plan: { changed: string[] } }[] }).profiles[0]?.plan.changed;
  assert.deepEqual(dryChanged?.slice().sort(), [...sameLooks, ...touched].sort(), '--checksum --dry-run: each change, in both shares');
  const summed = runCli(BACKUP_JS, [cfg, '--json', '--checksum']);
  assert.equal(summed.code, 0, summed.stderr);
  const sid = (JSON.parse(summed.stdout) as { profiles: { increment: string }[] }).profiles[0]?.increment;
  const sinc = JSON.parse(fs.readFileSync(join(root, 'dist', 'increments', String(sid), 'increment.json'), 'utf8')) as IncrementJson;
  assert.deepEqual(sinc.changed.map((r) => r.path).sort(), [...sameLooks, ...touched].sort(), '--checksum: each change once');
  assert.deepEqual([sinc.new.length, sinc.deleted.length], [0, 0]);
  assert.deepEqual(view(join(root, 'dist', 'mirror')), view(src), 'the mirror equals the source');
  assert.match(runCli(BACKUP_JS, [cfg, '--checksum']).stdout, /no changes/, 'and a --checksum run after it finds nothing to do');
});

test('a run that fails before its scan ends (a damaged manifest) exits, the scan worker does not keep it alive', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  // Enough entries for the scan worker to be used (run.ts: at least 5,000 recorded).
  for (let d = 0; d < 4; d++) {
    fs.mkdirSync(join(src, `top${d}`), { recursive: true });
    for (let f = 0; f < 1300; f++) fs.writeFileSync(join(src, `top${d}`, `f${f}.txt`), `${d}/${f}`);
  }
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist' }));
  assert.equal(runCli(BACKUP_JS, [cfg, '--quiet']).code, 0);
  const manifest = join(root, 'dist', '.hardback', 'manifest.jsonl');
  const text = fs.readFileSync(manifest);
  fs.writeFileSync(manifest, text.subarray(0, text.length - 5)); // cut inside the last line
  const r = spawnSync(process.execPath, [BACKUP_JS, cfg], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.signal, null, 'the run exited by itself (it was not killed at the timeout)');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cut short/);
});
