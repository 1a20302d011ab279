/**
 * SPEC §6 "A full drive": the run stops with a clear message and exit 1, wherever it meets the full
 * (or read-only) drive. These are the places outside stopped() (run.ts driveStop): before the
 * run's journal exists (taking the lock, finishing an interrupted run, making the increment's
 * folder), and once its metadata is in place (removing the journal). The drive's answer
 * is said in the user's words, the backup stays as it was (an interrupted run's journal too), and
 * the next run on a working drive completes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { realFs, type Fs } from '../../src/io/fs.js';
import { HardbackError } from '../../src/io/errors.js';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { Layout } from '../../src/store/layout.js';
import { JournalWriter } from '../../src/store/journal.js';
import { parseIncrementJson } from '../../src/meta/increment.js';
import { makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { checkBackup } from '../helpers/fault-check.js';

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };
const backupAt = (src: string, dist: string, at: string, fs: Fs = realFs) =>
  runBackup(profileFor(src, dist), { fs, dryRun: false, force: false, checksum: false, reporter, now: () => new Date(`2026-11-27T${at}Z`) });

let root = '';
before(() => {
  root = tempDir('hb-drivestart-');
});
after(() => removeDir(root));

/** A backup of a small tree, then a change in the source for the next run. */
async function backedUp(name: string): Promise<{ src: string; dist: string; layout: Layout }> {
  const src = join(root, name, 'src');
  const dist = join(root, name, 'dist');
  makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b' });
  assert.equal((await backupAt(src, dist, '10:00:00')).status, 'done');
  nodeFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
  return { src, dist, layout: new Layout(dist) };
}

/** The run's rejection: a HardbackError (exit 1) whose message names the drive's trouble and its errno. */
async function stopsSaying(run: Promise<unknown>, trouble: string, code: string): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof HardbackError, `a HardbackError, not ${String(err)}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.message, new RegExp(`^${trouble} \\(${code}: .*\\); the run stopped\\. The backup is consistent; run backup again once the problem is solved\\.$`));
    return true;
  });
}

const increments = (layout: Layout): string[] => nodeFs.readdirSync(layout.increments).sort();

describe('a drive that fails outside stopped()', () => {
  it('full when the lock is taken: said so, nothing changes; the next run completes', async () => {
    const { src, dist, layout } = await backedUp('lock');
    const before = increments(layout);
    const manifest = nodeFs.readFileSync(layout.manifest);
    await stopsSaying(backupAt(src, dist, '10:01:00', faultyFs({ writeFileSync: (p) => String(p).includes('/.lock-') && 'ENOSPC' })), 'the backup drive is full', 'ENOSPC');
    assert.deepEqual(increments(layout), before);
    assert.deepEqual(nodeFs.readFileSync(layout.manifest), manifest);
    assert.equal(nodeFs.existsSync(layout.lock), false);
    assert.equal((await backupAt(src, dist, '10:02:00')).status, 'done');
    assert.deepEqual(checkBackup(dist), []);
  });

  it('read-only when an interrupted run is finished: said so, its journal stays; the next run finishes it and completes', async () => {
    const { src, dist, layout } = await backedUp('recovery');
    // A run killed after it made a folder: its journal announces it, and the mirror holds it.
    const id = '2026-11-27T100030Z';
    const folder = { path: 'e', type: 'dir' as const, size: 0, mtime_ns: '1795780830000000000', mode: 0o755, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, tracked: true };
    nodeFs.mkdirSync(join(src, 'e'));
    nodeFs.mkdirSync(layout.incrementDir(id));
    const w = new JournalWriter(realFs, layout.journal, { journal: 1, id, profile: 'default', source: src, started: '2026-11-27T10:00:30.000Z', link_mode: 'hardlink' });
    w.append({ op: 'mkdir', entry: folder });
    w.flush();
    w.close();
    nodeFs.mkdirSync(layout.mirrorPath('e'));
    const journal = nodeFs.readFileSync(layout.journal);

    await stopsSaying(backupAt(src, dist, '10:01:00', faultyFs({ openSync: (p) => String(p).includes('.tmp-') && 'EROFS' })), 'the backup drive is read-only', 'EROFS');
    assert.deepEqual(nodeFs.readFileSync(layout.journal), journal, 'the journal stays for the next start');
    assert.equal(nodeFs.existsSync(layout.incrementJson(id)), false);

    assert.equal((await backupAt(src, dist, '10:02:00')).status, 'done');
    assert.equal(nodeFs.existsSync(layout.journal), false);
    const finished = parseIncrementJson(nodeFs.readFileSync(layout.incrementJson(id), 'utf8'), id);
    assert.ok(finished.ok);
    assert.equal(finished.value.complete, false);
    assert.deepEqual(
      finished.value.new.map((r) => r.path),
      ['e'],
    );
    assert.deepEqual(checkBackup(dist), []);
  });

  it("full when the increment's folder is made: said so, nothing changes; the next run completes", async () => {
    const { src, dist, layout } = await backedUp('increment');
    const before = increments(layout);
    const full = faultyFs({ mkdirSync: (p) => String(p).startsWith(`${layout.increments}/`) && 'ENOSPC' });
    await stopsSaying(backupAt(src, dist, '10:01:00', full), 'the backup drive is full', 'ENOSPC');
    assert.deepEqual(increments(layout), before);
    assert.equal(nodeFs.existsSync(layout.journal), false);
    assert.equal((await backupAt(src, dist, '10:02:00')).status, 'done');
    assert.equal(increments(layout).length, before.length + 1);
    assert.deepEqual(checkBackup(dist), []);
  });

  it("failed when the journal is removed, once the run's metadata is in place: said so; the next start finds the increment complete", async () => {
    const { src, dist, layout } = await backedUp('journal');
    const before = increments(layout);
    await stopsSaying(backupAt(src, dist, '10:01:00', faultyFs({ unlinkSync: (p) => String(p) === layout.journal && nodeFs.existsSync(layout.journal) && 'EIO' })), 'the backup drive failed or was removed', 'EIO');
    const made = increments(layout).filter((id) => !before.includes(id));
    assert.equal(made.length, 1);
    const id = made[0] as string;
    const complete = nodeFs.readFileSync(layout.incrementJson(id));
    assert.equal((JSON.parse(complete.toString('utf8')) as { complete: boolean }).complete, true);
    assert.equal(nodeFs.existsSync(layout.journal), true);
    assert.equal((await backupAt(src, dist, '10:02:00')).status, 'no-change');
    assert.equal(nodeFs.existsSync(layout.journal), false);
    assert.deepEqual(nodeFs.readFileSync(layout.incrementJson(id)), complete, 'the complete increment.json is kept');
    assert.deepEqual(checkBackup(dist), []);
  });

  it('a fault that is not the drive is given back as it was', async () => {
    const { src, dist } = await backedUp('other');
    await assert.rejects(
      backupAt(src, dist, '10:01:00', faultyFs({ writeFileSync: (p) => String(p).includes('/.lock-') && 'EACCES' })),
      (err: unknown) => !(err instanceof HardbackError) && (err as NodeJS.ErrnoException).code === 'EACCES',
    );
  });
});
