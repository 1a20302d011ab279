/**
 * A prune carries still-needed versions from the increments it removes into the kept increment after
 * them (a second link, or a copy on a drive without hard links), then removes the pruned folders
 * (src/apply/prune-exec.ts). A pruned folder may be the version's only other place, so what was
 * carried is durable before any pruned folder goes: one `sync -f` of the drive, or without syncfs an
 * fsync of each copy and of each folder that got one. And a copy an interrupted prune made is kept
 * only if it holds the version's bytes (a power cut may have taken its data), else made again.
 *
 * The log is this test's fs (loggingFs) with the calls of a `sync` first on PATH that logs each call
 * and runs the real one, or fails (as without syncfs).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { dirname, join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { runPrune } from '../../src/apply/prune.js';
import type { Fs } from '../../src/io/fs.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { makeTree, profileFor, sha256File } from '../helpers/tree.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { logLines, loggingFs, flushLogFixture, syncfsWorks } from '../helpers/durability.js';

const t = flushLogFixture('hb-pruneflush-');

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };

interface Backups {
  dist: string;
  /** The three increments, oldest first: a prune keeping the last one prunes the first two. */
  ids: string[];
}

/**
 * Three runs: a.txt and b.txt, then b.txt changed, then c.txt new. Keeping the last increment carries
 * a.txt (saved by the first) and b.txt's second version (saved by the second) into it.
 */
async function threeBackups(name: string, fs: Fs): Promise<Backups> {
  const src = join(t.root, `${name}-src`);
  const dist = join(t.root, `${name}-dist`);
  makeTree(src, { 'a.txt': 'a, saved by the first run', 'd/b.txt': 'b0' });
  // Modes and mtimes of their own, which a carried copy must keep.
  realFs.chmodSync(join(src, 'a.txt'), 0o640);
  realFs.utimesSync(join(src, 'a.txt'), 978_307_200.25, 978_307_200.25);
  const ids: string[] = [];
  const edits = [
    () => {},
    () => {
      realFs.writeFileSync(join(src, 'd/b.txt'), 'b1, saved by the second run');
      realFs.utimesSync(join(src, 'd/b.txt'), 1_009_843_200.5, 1_009_843_200.5);
    },
    () => realFs.writeFileSync(join(src, 'c.txt'), 'c'),
  ];
  for (const [day, edit] of edits.entries()) {
    edit();
    const o = await runBackup(profileFor(src, dist), { fs, dryRun: false, force: false, checksum: false, reporter, now: () => new Date(Date.UTC(2026, 0, 1 + day, 12)) });
    assert.equal(o.status, 'done');
    ids.push(o.id as string);
  }
  return { dist, ids };
}

/** Prunes all but the last increment through `fs`, with a `sync` that logs and works (`syncfs`) or fails; the prune's log. */
async function pruneLog(b: Backups, fs: Fs, syncfs: boolean): Promise<string[]> {
  t.useSync(!syncfs);
  realFs.writeFileSync(t.log, '');
  const o = await runPrune({ fs, dist: b.dist, policy: { last: 1 }, dryRun: false });
  assert.deepEqual(o.removed, b.ids.slice(0, 2));
  return logLines(t.log);
}

/** The carried versions in the kept increment, and the log's index of the change that made each. */
function carried(lines: string[], b: Backups, verb: 'link' | 'copy'): { to: string; at: number }[] {
  const kept = join(b.dist, 'increments', b.ids[2] as string, 'files');
  return [
    [b.ids[0], 'a.txt'],
    [b.ids[1], 'd/b.txt'],
  ].map(([id, rel]) => {
    const to = join(kept, rel as string);
    const line = `${verb} ${join(b.dist, 'increments', id as string, 'files', rel as string)} ${to}`;
    const at = lines.indexOf(line);
    assert.ok(at >= 0, `the prune made "${line}":\n${lines.join('\n')}`);
    return { to, at };
  });
}

/** The log's index of the first removal of a pruned folder (its rename into .hardback/tmp). */
function firstRemoval(lines: string[], b: Backups): number {
  const at = lines.findIndex((l) => b.ids.slice(0, 2).some((id) => l.startsWith(`rename ${join(b.dist, 'increments', id)} `)));
  assert.ok(at >= 0, `a pruned folder is renamed away:\n${lines.join('\n')}`);
  return at;
}

describe('prune: what it carries is durable before a pruned folder is removed', () => {
  it('with syncfs, a sync -f comes between the carried links and the removal of the pruned folders', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const b = await threeBackups('syncfs', realFs);
    const lines = await pruneLog(b, loggingFs(t.log), true);
    const removal = firstRemoval(lines, b);
    for (const { to, at } of carried(lines, b, 'link')) {
      // Two: the first asks whether syncfs works (durabilityFor, asked here for the first time), the second is the flush.
      const flushes = lines.slice(at + 1, removal).filter((l) => l.startsWith('sync -f ')).length;
      assert.equal(flushes, 2, `the probe's sync -f and the flush between the link to ${to} (line ${at}) and the first removal (line ${removal}):\n${lines.join('\n')}`);
    }
  });

  it('without syncfs, the folder of each carried link, and those above it, are fsynced before a pruned folder is removed', async () => {
    const b = await threeBackups('perfile', realFs);
    const lines = await pruneLog(b, loggingFs(t.log), false);
    const removal = firstRemoval(lines, b);
    for (const { to, at } of carried(lines, b, 'link')) {
      // files/d was made by this prune: an entry of files/.
      for (const dir of [dirname(to), join(b.dist, 'increments', b.ids[2] as string, 'files')]) {
        assert.ok(lines.slice(at + 1, removal).includes(`fsync ${dir}`), `${dir} is fsynced between the link (line ${at}) and the first removal (line ${removal}):\n${lines.join('\n')}`);
      }
    }
  });

  it('without hard links or syncfs, each carried copy and its folder are fsynced before a pruned folder is removed', async () => {
    const noLinks = loggingFs(t.log, { noLinks: true });
    const b = await threeBackups('copies', noLinks);
    const lines = await pruneLog(b, noLinks, false);
    const removal = firstRemoval(lines, b);
    for (const { to, at } of carried(lines, b, 'copy')) {
      for (const synced of [to, dirname(to)]) {
        assert.ok(lines.slice(at + 1, removal).includes(`fsync ${synced}`), `${synced} is fsynced between the copy (line ${at}) and the first removal (line ${removal}):\n${lines.join('\n')}`);
      }
    }
    // Each copy keeps the mode and mtime of the version it carries (the source's, never changed since).
    const kept = join(b.dist, 'increments', b.ids[2] as string, 'files');
    for (const rel of ['a.txt', 'd/b.txt']) {
      const copy = realFs.statSync(join(kept, rel));
      const source = realFs.statSync(join(t.root, 'copies-src', rel));
      assert.deepEqual([copy.mode & 0o7777, copy.mtimeMs], [source.mode & 0o7777, source.mtimeMs], `${rel}: mode and mtime of the version`);
    }
  });

  it('a copy an interrupted prune made that holds the version is kept: the prune finishes on a full drive', async () => {
    const noLinks = faultyFs({ linkSync: () => 'EPERM' });
    const b = await threeBackups('kept', noLinks);
    const pruned = b.ids.slice(0, 2).map((id) => join(b.dist, 'increments', id));
    const stopped = faultyFs({ linkSync: () => 'EPERM', renameSync: (p) => pruned.includes(String(p)) && 'EIO' });
    await assert.rejects(runPrune({ fs: stopped, dist: b.dist, policy: { last: 1 }, dryRun: false }), /EIO/);
    const copy = join(b.dist, 'increments', b.ids[2] as string, 'files', 'a.txt');
    const want = sha256File(join(pruned[0] as string, 'files', 'a.txt'));
    const version = realFs.statSync(join(pruned[0] as string, 'files', 'a.txt'));
    // What a prune stopped between a copy and its metadata leaves: the bytes, another mode and mtime.
    realFs.chmodSync(copy, 0o600);
    realFs.utimesSync(copy, new Date(), new Date());
    // No room for another copy: the ones made hold the versions, and the interrupted prune is finished without one.
    const full = faultyFs({ linkSync: () => 'EPERM', copyFileSync: () => 'ENOSPC' });
    await runPrune({ fs: full, dist: b.dist, policy: { last: 1 }, dryRun: false });
    assert.deepEqual(realFs.readdirSync(join(b.dist, 'increments')), [b.ids[2]]);
    assert.equal(sha256File(copy), want);
    const kept = realFs.statSync(copy);
    assert.deepEqual([kept.mode & 0o7777, kept.mtimeMs], [version.mode & 0o7777, version.mtimeMs], 'the kept copy is given the version\'s mode and mtime again');
  });

  it('as root, a carried copy keeps the owner of the copy it was made from', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
    const noLinks = faultyFs({ linkSync: () => 'EPERM' });
    const b = await threeBackups('owner', noLinks);
    const versions = [join(b.dist, 'increments', b.ids[0] as string, 'files', 'a.txt'), join(b.dist, 'increments', b.ids[1] as string, 'files', 'd/b.txt')];
    for (const v of versions) realFs.chownSync(v, 65534, 65534);
    await runPrune({ fs: noLinks, dist: b.dist, policy: { last: 1 }, dryRun: false });
    for (const rel of ['a.txt', 'd/b.txt']) {
      const st = realFs.statSync(join(b.dist, 'increments', b.ids[2] as string, 'files', rel));
      assert.deepEqual([st.uid, st.gid], [65534, 65534], rel);
    }
  });

  it('a copy an interrupted prune made is made again while its source is there (a power cut may have taken its data)', async () => {
    const noLinks = faultyFs({ linkSync: () => 'EPERM' });
    const b = await threeBackups('again', noLinks);
    const pruned = b.ids.slice(0, 2).map((id) => join(b.dist, 'increments', id));
    const source = join(pruned[0] as string, 'files', 'a.txt');
    const want = sha256File(source);
    // The prune stops where it would remove the first pruned folder: its copies are made.
    const stopped = faultyFs({ linkSync: () => 'EPERM', renameSync: (p) => pruned.includes(String(p)) && 'EIO' });
    await assert.rejects(runPrune({ fs: stopped, dist: b.dist, policy: { last: 1 }, dryRun: false }), /EIO/);
    const copy = join(b.dist, 'increments', b.ids[2] as string, 'files', 'a.txt');
    assert.equal(sha256File(copy), want, 'the interrupted prune copied a.txt');
    // What a power cut can leave of a copy whose data never reached the disk: its name, no data.
    realFs.truncateSync(copy, 0);
    // A second attempt (the next prune's recovery) that cannot make the copy again (a full drive):
    // the kept increment, whose increment.json lists a.txt already, still holds a file of that name.
    const full = faultyFs({ linkSync: () => 'EPERM', copyFileSync: () => 'ENOSPC' });
    await assert.rejects(runPrune({ fs: full, dist: b.dist, policy: { last: 1 }, dryRun: false }), /ENOSPC/);
    assert.equal(realFs.existsSync(copy), true, 'the carried copy is replaced, never removed first');
    const o = await runPrune({ fs: noLinks, dist: b.dist, policy: { last: 1 }, dryRun: false });
    assert.deepEqual(o.removed, [], 'the interrupted prune was finished by recovery, before this one planned');
    assert.deepEqual(realFs.readdirSync(join(b.dist, 'increments')), [b.ids[2]]);
    assert.equal(sha256File(copy), want, 'the carried copy holds the version');
  });
});
