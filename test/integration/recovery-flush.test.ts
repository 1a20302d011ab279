/**
 * Recovery of an interrupted run (src/apply/recover.ts; docs/reliability.md, "fsync policy"): what
 * the interrupted run's done changes did (renames into the mirror, links into files/ and deleted/,
 * deletions, new folders) and what recovery itself removes may still be only in the page cache after
 * kill -9 or a fault that stopped the run. Recovery makes it durable before the increment.json that
 * lists those changes goes into place and before the journal is removed: one `sync -f` of the
 * destination with syncfs, or, without it, an fsync of each folder they changed.
 *
 * Both callers are covered: the next start (runBackup's recoverDestination) on a crash image taken
 * before the second put's rename into the mirror, and the run itself when that rename fails with
 * EIO (run.ts stopped()). The log (helpers/durability.ts) holds the interrupted run's changes up to
 * the interruption, then recovery's calls.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { join, resolve } from 'node:path';
import type { Fs } from '../../src/io/fs.js';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { Layout } from '../../src/store/layout.js';
import { makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';
import { changedFolders, logLines, loggingFs, loggingSync, syncfsWorks } from '../helpers/durability.js';
import { imagingFs, injected } from '../helpers/fault-images.js';
import { killLockHolder } from '../helpers/fault-scenario.js';

const T1 = new Date('2026-01-01T00:00:00Z');
const T2 = new Date('2026-01-02T00:00:00Z');
const T3 = new Date('2026-01-03T00:00:00Z');

let root = '';
let undoSync: (() => void) | undefined;
before(() => {
  root = tempDir('hb-recflush-');
});
after(() => {
  undoSync?.();
  removeDir(root);
});

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };
const options = (fs: Fs, now: Date) => ({ fs, dryRun: false, force: false, checksum: false, reporter, now: () => now });

/**
 * A first run, then source changes whose run changes a file (d/b.txt), deletes one (d/c.txt) and a
 * folder with what it holds, replaces a folder by a symlink, and adds files in new folders. Puts are
 * placed in path order: d/b.txt first, then n/m/new.txt, n/p/q.txt, swap.
 */
async function fixture(name: string, sync: 'syncfs' | 'per-file'): Promise<{ src: string; dist: string; log: string }> {
  const src = join(root, name, 'src');
  const dist = join(root, name, 'dist');
  const log = join(root, name, 'log');
  undoSync?.();
  undoSync = loggingSync(log, sync === 'per-file');
  makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b', 'd/c.txt': 'c', 'gone/x.txt': 'x', 'gone/sub/y.txt': 'y', 'swap/z.txt': 'z' });
  assert.equal((await runBackup(profileFor(src, dist), options(realFs as Fs, T1))).status, 'done');
  realFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
  realFs.rmSync(join(src, 'd/c.txt'));
  realFs.rmSync(join(src, 'gone'), { recursive: true });
  realFs.rmSync(join(src, 'swap'), { recursive: true });
  realFs.symlinkSync('d', join(src, 'swap'));
  makeTree(src, { 'n/m/new.txt': 'new', 'n/p/q.txt': 'q' });
  realFs.writeFileSync(log, '');
  return { src, dist, log };
}

/** A put's rename into the mirror: its source is a temp file in .hardback/tmp. */
const isPutRename = (dist: string, from: string) => resolve(from).startsWith(`${new Layout(dist).tmp}/`);

/**
 * In `lines`: where recovery (from `start` on) puts increment.json into place and removes the
 * journal; both must come after the interruption.
 */
function recoveryEnd(lines: string[], start: number, dist: string): { inc: number; journal: number } {
  const layout = new Layout(dist);
  const inc = lines.findIndex((l, i) => i >= start && /^rename \S+ \S+\/increment\.json$/.test(l));
  const journal = lines.indexOf(`unlink ${layout.journal}`, start);
  assert.ok(inc >= 0, `recovery puts increment.json into place:\n${lines.join('\n')}`);
  assert.ok(journal > inc, `recovery removes the journal after increment.json is in place:\n${lines.join('\n')}`);
  assert.ok(lines.slice(start, inc).some((l) => l.startsWith('unlink ')), 'the link of a put that did not happen is removed (by recovery, or by the run that stopped)');
  return { inc, journal };
}

/**
 * With syncfs: a `sync -f` of the destination after recovery's last change (`start` on) and before
 * increment.json is renamed into place (so before the journal goes too). At a start the first is
 * the probe that asks whether syncfs works (durabilityFor), which is a flush too but not recovery's
 * own: `probes` of them come first.
 */
function assertFlushed(lines: string[], start: number, dist: string, probes: number): void {
  const { inc, journal } = recoveryEnd(lines, start, dist);
  const lastChange = lines.reduce((k, l, i) => (i >= start && i < inc && changedFolders(l).length > 0 ? i : k), start - 1);
  const flushes = lines.slice(lastChange + 1, inc).filter((l) => l === `sync -f ${dist}`).length;
  assert.ok(flushes >= probes + 1 && inc < journal, `recovery's own sync -f after its last change (line ${lastChange}) and before increment.json (${inc}), beside ${probes} probe(s):\n${lines.join('\n')}`);
}

/**
 * Without syncfs: every folder of the backup (mirror, increments, .hardback/tmp) that a change
 * before increment.json is in place changed (the interrupted run's, or recovery's own), and that is
 * still a folder, is fsynced after that change, by recovery (`start` on), before increment.json is
 * renamed into place. `changes` are the interrupted run's, as logged (`from`: the destination they
 * were made on).
 */
function assertFoldersSynced(lines: string[], start: number, dist: string, changes: string[]): void {
  const { inc } = recoveryEnd(lines, start, dist);
  const layout = new Layout(dist);
  const watched = [layout.mirror, layout.increments, layout.tmp];
  const synced = new Set(lines.slice(start, inc).filter((l) => l.startsWith('fsync ')).map((l) => l.slice('fsync '.length)));
  const ownChanges = lines.slice(start, inc).map((l, i) => ({ l, i: start + i }));
  let checked = 0;
  for (const { line, at } of [...changes.map((line) => ({ line, at: -1 })), ...ownChanges.map(({ l, i }) => ({ line: l, at: i }))]) {
    for (const dir of changedFolders(line)) {
      if (!watched.some((w) => dir === w || dir.startsWith(`${w}/`))) continue;
      if (realFs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
      checked++;
      const after = at < 0 ? synced.has(dir) : lines.slice(at + 1, inc).includes(`fsync ${dir}`);
      assert.ok(after, `${dir} is fsynced by recovery after "${line}" and before increment.json is in place:\n${[...changes, '--- recovery', ...lines.slice(start)].join('\n')}`);
    }
  }
  assert.ok(checked >= 10, `the interrupted run changed folders (${checked} changes checked)`);
}

/**
 * The second run, imaged (a kill -9) just before the rename into the mirror of its second put; the
 * image, and the interrupted run's changes up to then (on the image's paths).
 */
async function crashImage(name: string, sync: 'syncfs' | 'per-file'): Promise<{ src: string; image: string; log: string; changes: string[] }> {
  const { src, dist, log } = await fixture(name, sync);
  let puts = 0;
  let logged = -1;
  const img = imagingFs(dist, join(root, name, 'img'), {
    base: loggingFs(log),
    pick: (_n, call) => {
      const [op, path] = call.split(' ') as [string, string];
      if (op !== 'renameSync' || !path.startsWith('.hardback/tmp/') || ++puts !== 2) return false;
      logged = logLines(log).length;
      return true;
    },
  });
  assert.equal((await runBackup(profileFor(src, dist), options(img.fs, T2))).status, 'done');
  assert.equal(img.images.length, 1, 'the run is imaged before its second put is placed');
  const image = (img.images[0] as { dir: string }).dir;
  const changes = logLines(log)
    .slice(0, logged)
    .filter((l) => changedFolders(l).length > 0)
    .map((l) => l.split(`${dist}/`).join(`${image}/`));
  killLockHolder(image);
  realFs.writeFileSync(log, '');
  return { src, image, log, changes };
}

/** The second run, its second put's rename into the mirror failing with EIO; the log, and where the fault struck. */
async function faultedRun(name: string, sync: 'syncfs' | 'per-file'): Promise<{ dist: string; lines: string[]; fault: number }> {
  const { src, dist, log } = await fixture(name, sync);
  const logging = loggingFs(log);
  let puts = 0;
  let fault = -1;
  const fs = new Proxy(logging, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'renameSync') return value;
      return (a: string, b: string) => {
        if (isPutRename(dist, a) && ++puts === 2) {
          fault = logLines(log).length;
          throw injected('EIO', 'renameSync', a);
        }
        return (value as (a: string, b: string) => void)(a, b);
      };
    },
  });
  await assert.rejects(runBackup(profileFor(src, dist), options(fs, T2)), /the backup drive failed or was removed .*what was written so far is recorded/);
  assert.ok(fault >= 0, 'the fault struck');
  assert.ok(!realFs.existsSync(new Layout(dist).journal), 'the run recovered in process');
  return { dist, lines: logLines(log), fault };
}

describe('recovery of an interrupted run makes its changes durable before it records them', () => {
  it('a run killed between the renames of its complete increment.json and of its manifest: the next start fsyncs the increment folder before the journal goes', async () => {
    const { src, dist, log } = await fixture('complete', 'per-file');
    const img = imagingFs(dist, join(root, 'complete', 'img'), {
      base: loggingFs(log),
      pick: (_n, call) => {
        const [op, path] = call.split(' ') as [string, string];
        return op === 'renameSync' && path.startsWith('.hardback/.manifest.jsonl.');
      },
    });
    assert.equal((await runBackup(profileFor(src, dist), options(img.fs, T2))).status, 'done');
    assert.equal(img.images.length, 1, 'the run is imaged before its manifest is renamed into place');
    const image = (img.images[0] as { dir: string }).dir;
    killLockHolder(image);
    const layout = new Layout(image);
    const id = realFs.readdirSync(layout.increments).sort().at(-1) as string;
    assert.equal(JSON.parse(realFs.readFileSync(layout.incrementJson(id), 'utf8')).complete, true, 'the premise: the image holds the run\'s complete increment.json');
    assert.ok(realFs.existsSync(layout.journal), 'the premise: and its journal');
    const complete = realFs.readFileSync(layout.incrementJson(id));
    realFs.writeFileSync(log, '');
    // Recovery finishes the run (its manifest), and the run that recovered finds nothing more to do.
    assert.equal((await runBackup(profileFor(src, image), options(loggingFs(log), T3))).status, 'no-change');
    assert.deepEqual(realFs.readFileSync(layout.incrementJson(id)), complete, "the run's complete increment.json is kept as it was");
    const lines = logLines(log);
    const journal = lines.indexOf(`unlink ${layout.journal}`);
    assert.ok(journal >= 0, `the journal is removed:\n${lines.join('\n')}`);
    for (const dir of [layout.incrementDir(id), layout.increments]) {
      const at = lines.indexOf(`fsync ${dir}`);
      assert.ok(at >= 0 && at < journal, `${dir} is fsynced before the journal is removed:\n${lines.join('\n')}`);
    }
  });


  it('at the next start, with syncfs: a sync -f of the destination after recovery\'s changes and before increment.json goes into place and the journal goes', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const { src, image, log } = await crashImage('start-syncfs', 'syncfs');
    assert.equal((await runBackup(profileFor(src, image), options(loggingFs(log), T3))).status, 'done');
    assertFlushed(logLines(log), 0, image, 1);
  });

  it('at the next start, without syncfs: each folder the interrupted run and recovery changed is fsynced before increment.json goes into place and the journal goes', async () => {
    const { src, image, log, changes } = await crashImage('start-perfile', 'per-file');
    assert.equal((await runBackup(profileFor(src, image), options(loggingFs(log), T3))).status, 'done');
    assertFoldersSynced(logLines(log), 0, image, changes);
  });

  it('when a fault stops the run, with syncfs: a sync -f after recovery\'s changes and before increment.json goes into place and the journal goes', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const { dist, lines, fault } = await faultedRun('fault-syncfs', 'syncfs');
    assertFlushed(lines, fault, dist, 0);
  });

  it('when a fault stops the run, without syncfs: each folder the run and recovery changed is fsynced by recovery before increment.json goes into place and the journal goes', async () => {
    const { dist, lines, fault } = await faultedRun('fault-perfile', 'per-file');
    const changes = lines.slice(0, fault).filter((l) => changedFolders(l).length > 0);
    assertFoldersSynced(lines, fault, dist, changes);
  });
});
