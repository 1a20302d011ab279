/**
 * link_mode "copy" (a drive without hard links): the increment holds copies of versions, and a copy
 * is only as good as its data on the disk. Each copy the increment keeps is durable (data and name)
 * before the change that relies on it: a deletion's unlink from the mirror (after which the copy in
 * deleted/ is this increment's only one) and a put's rename over the mirror (recovery reads a put
 * whose temp file is gone as done, and increment.json then lists the copy in files/). With syncfs one
 * `sync -f` comes between; without it each copy is fsynced, and each folder from the copy's up to
 * increments/ (the run may have just made them). Without syncfs, the temp folder is fsynced too
 * before a batch's puts are announced (docs/reliability.md, "fsync policy").
 *
 * The log is this test's fs (loggingFs: copies, links, renames, unlinks, fsyncs) with the calls of a
 * `sync` first on PATH that logs each call and runs the real one, or fails (as without syncfs).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { dirname, join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { makeTree, profileFor } from '../helpers/tree.js';
import { logLines, loggingFs, flushLogFixture, syncfsWorks } from '../helpers/durability.js';

const t = flushLogFixture('hb-copydur-');

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };

interface SecondRun {
  lines: string[];
  dist: string;
  id: string;
}

/**
 * A first run, then one that changes d/b.txt, deletes d/c.txt and moves m/moved.txt to n/moved.txt;
 * the second run's log. `noLinks`: the drive holds no hard links (link_mode "copy").
 */
async function secondRun(name: string, o: { syncfs: boolean; noLinks: boolean }): Promise<SecondRun> {
  t.useSync(!o.syncfs);
  const src = join(t.root, `${name}-src`);
  const dist = join(t.root, `${name}-dist`);
  makeTree(src, {
    'a.txt': 'a',
    'd/b.txt': 'b',
    'd/c.txt': 'c, to be deleted',
    'm/moved.txt': 'content found again elsewhere: linked or copied from the backup, not from the source',
    ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`e/f${i}.txt`, `${i}`])),
  });
  const fs = loggingFs(t.log, { noLinks: o.noLinks });
  const opts = { fs, dryRun: false, force: false, checksum: false, reporter };
  const first = await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-01T00:00:00Z') });
  assert.equal(first.linkMode, o.noLinks ? 'copy' : 'hardlink');
  realFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
  realFs.rmSync(join(src, 'd/c.txt'));
  realFs.mkdirSync(join(src, 'n'));
  realFs.renameSync(join(src, 'm/moved.txt'), join(src, 'n/moved.txt'));
  realFs.writeFileSync(t.log, '');
  const r = await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-02T00:00:00Z') });
  assert.equal(r.status, 'done');
  assert.deepEqual([r.summary.new, r.summary.changed, r.summary.deleted, r.summary.bytes_copied], [2, 1, 2, 'b, changed'.length], 'n and n/moved.txt new (moved: nothing copied from the source), d/b.txt changed, d/c.txt and m/moved.txt deleted');
  return { lines: logLines(t.log), dist, id: r.id as string };
}

/** The index of the one line equal to `line` (it must be there once). */
function at(lines: string[], line: string): number {
  const i = lines.indexOf(line);
  assert.ok(i >= 0, `the log has "${line}":\n${lines.join('\n')}`);
  assert.equal(lines.lastIndexOf(line), i, `"${line}" once`);
  return i;
}

/** The index of the one line matching `re`, and the line. */
function match(lines: string[], re: RegExp): { i: number; line: string } {
  const found = lines.map((line, i) => ({ i, line })).filter((x) => re.test(x.line));
  assert.equal(found.length, 1, `one line matches ${re}:\n${lines.join('\n')}`);
  return found[0] as { i: number; line: string };
}

/** The folders from `file`'s up to `top`, both included. */
function foldersUp(file: string, top: string): string[] {
  const out: string[] = [];
  for (let d = dirname(file); d.startsWith(`${top}/`) || d === top; d = dirname(d)) out.push(d);
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The increment's copy of each version this run relies on, and the change that relies on it: the
 * deletions' copies in deleted/ and their unlinks, the puts' copies in files/ and their renames.
 */
function copiesAndChanges(r: SecondRun): { copy: string; made: number; change: number }[] {
  const { lines, dist, id } = r;
  const mirror = join(dist, 'mirror');
  const inc = join(dist, 'increments', id);
  const out: { copy: string; made: number; change: number }[] = [];
  for (const rel of ['d/c.txt', 'm/moved.txt']) {
    const copy = join(inc, 'deleted', rel);
    out.push({ copy, made: at(lines, `copy ${join(mirror, rel)} ${copy}`), change: at(lines, `unlink ${join(mirror, rel)}`) });
  }
  for (const rel of ['d/b.txt', 'n/moved.txt']) {
    const copy = join(inc, 'files', rel);
    const made = match(lines, new RegExp(`^copy ${escape(join(dist, '.hardback', 'tmp'))}/\\S+ ${escape(copy)}$`));
    const tmp = made.line.split(' ')[1] as string;
    out.push({ copy, made: made.i, change: at(lines, `rename ${tmp} ${join(mirror, rel)}`) });
  }
  return out;
}

describe('link_mode "copy": the increment\'s copies are durable before the changes that rely on them', () => {
  it('with syncfs, a sync -f comes between the copies and the unlinks (deletions) or renames (puts) that rely on them', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const r = await secondRun('syncfs', { syncfs: true, noLinks: true });
    for (const { copy, made, change } of copiesAndChanges(r)) {
      assert.ok(made < change, `${copy} is made before the change that relies on it`);
      assert.ok(
        r.lines.slice(made + 1, change).some((l) => l.startsWith('sync -f ')),
        `a sync -f between the copy to ${copy} (line ${made}) and the change that relies on it (line ${change}):\n${r.lines.join('\n')}`,
      );
    }
  });

  it('without syncfs, each copy and every folder above it up to increments/ are fsynced between the copy and the change that relies on it', async () => {
    const r = await secondRun('perfile', { syncfs: false, noLinks: true });
    for (const { copy, made, change } of copiesAndChanges(r)) {
      const between = r.lines.slice(made + 1, change);
      for (const synced of [copy, ...foldersUp(copy, join(r.dist, 'increments'))]) {
        assert.ok(between.includes(`fsync ${synced}`), `${synced} is fsynced between the copy (line ${made}) and the change that relies on it (line ${change}):\n${r.lines.join('\n')}`);
      }
    }
  });

  it('without syncfs, a first run\'s copies into files/ and the folders above them are fsynced before the renames into the mirror', async () => {
    t.useSync(true);
    const src = join(t.root, 'first-src');
    const dist = join(t.root, 'first-dist');
    makeTree(src, { 'top.txt': 't', 'x/y/deep.txt': 'd' });
    realFs.writeFileSync(t.log, '');
    const o = await runBackup(profileFor(src, dist), { fs: loggingFs(t.log, { noLinks: true }), dryRun: false, force: false, checksum: false, reporter, now: () => new Date('2026-01-01T00:00:00Z') });
    assert.equal(o.linkMode, 'copy');
    const lines = logLines(t.log);
    for (const rel of ['top.txt', 'x/y/deep.txt']) {
      const copy = join(dist, 'increments', o.id as string, 'files', rel);
      const made = match(lines, new RegExp(`^copy ${escape(join(dist, '.hardback', 'tmp'))}/\\S+ ${escape(copy)}$`));
      const change = at(lines, `rename ${made.line.split(' ')[1] as string} ${join(dist, 'mirror', rel)}`);
      for (const synced of [copy, ...foldersUp(copy, join(dist, 'increments'))]) {
        assert.ok(lines.slice(made.i + 1, change).includes(`fsync ${synced}`), `${synced} is fsynced between the copy (line ${made.i}) and the rename (line ${change}):\n${lines.join('\n')}`);
      }
    }
  });

  it('without syncfs, a move\'s temp copy is fsynced, and the temp folder, before the journal announces the puts', async () => {
    const r = await secondRun('perfile-tmp', { syncfs: false, noLinks: true });
    const { lines, dist } = r;
    const tmpDir = join(dist, '.hardback', 'tmp');
    const journal = `fsync ${join(dist, '.hardback', 'journal.jsonl')}`;
    // The moved file's stored version, copied from the mirror into a temp file (which the put renames).
    const moveTemp = match(lines, new RegExp(`^copy ${escape(join(dist, 'mirror', 'm', 'moved.txt'))} ${escape(tmpDir)}/\\S+$`));
    const tmp = moveTemp.line.split(' ')[2] as string;
    // Both puts (the changed file's copy from the source, the move's temp file) are renamed after one journal fsync.
    for (const [rel, tmpOf] of [
      ['n/moved.txt', tmp],
      ['d/b.txt', undefined],
    ] as const) {
      const renamed = match(lines, new RegExp(`^rename ${escape(tmpDir)}/\\S+ ${escape(join(dist, 'mirror', rel))}$`));
      if (tmpOf !== undefined) assert.equal(renamed.line.split(' ')[1], tmpOf, 'the move\'s temp file is the one renamed');
      const announced = lines.slice(0, renamed.i).lastIndexOf(journal);
      assert.ok(announced >= 0, `the journal is fsynced before ${rel} is renamed`);
      const folder = lines.slice(0, announced).lastIndexOf(`fsync ${tmpDir}`);
      const lastTemp = lines.slice(0, announced).reduce((k, l, i) => (l.startsWith('copy ') && l.split(' ')[2]?.startsWith(`${tmpDir}/`) ? i : k), -1);
      assert.ok(folder > lastTemp, `the temp folder is fsynced after the batch's temp files are made (line ${lastTemp}) and before the journal announces them (line ${announced}):\n${lines.join('\n')}`);
    }
    const synced = lines.indexOf(`fsync ${tmp}`);
    assert.ok(synced > moveTemp.i && synced < lines.indexOf(journal, moveTemp.i), `the move's temp copy is fsynced before it is announced:\n${lines.join('\n')}`);
  });

  it('hard links need no flush between a deletion\'s link into deleted/ and its unlink', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const r = await secondRun('links', { syncfs: true, noLinks: false });
    const { lines, dist, id } = r;
    const mirror = join(dist, 'mirror', 'd', 'c.txt');
    const linked = at(lines, `link ${mirror} ${join(dist, 'increments', id, 'deleted', 'd', 'c.txt')}`);
    const unlinked = at(lines, `unlink ${mirror}`);
    assert.ok(linked < unlinked);
    assert.ok(!lines.slice(linked, unlinked).some((l) => l.startsWith('sync ') || l.startsWith('fsync ')), `nothing is flushed between:\n${lines.join('\n')}`);
  });
});
