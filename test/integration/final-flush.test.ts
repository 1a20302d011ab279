/**
 * The end of a run (src/apply/run.ts, io/atomic.ts AtomicWrites; docs/reliability.md, "fsync
 * policy"): the final increment.json and the manifest's delta are written to temp files, then one
 * `sync -f` of the destination makes them durable with every version the run placed, each temp file
 * is fsynced (syncfs(2) reports no writeback error before Linux 5.8), and only then are they renamed
 * into place. Where `sync -f` fails (no syncfs), each temp file is fsynced as it is written, and
 * every folder whose entries the run changed is fsynced before increment.json is in place.
 *
 * A `sync` first on PATH logs each call into the same log as this test's fs, then runs the real one,
 * so the log is the run's order of flushes, fsyncs and changes to folders.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { basename, join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { isAtomicTempName } from '../../src/io/atomic.js';
import { makeTree, profileFor } from '../helpers/tree.js';
import { changedFolders, loggingFs as logTo, flushLogFixture, syncfsWorks } from '../helpers/durability.js';

const t = flushLogFixture('hb-finalflush-');

/** The real fs, logging fsyncs and changes to folders into the log (helpers/durability.ts). */
const loggingFs = () => logTo(t.log);

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };

/**
 * A first run (its increment.json streamed while it stores, the whole manifest written), then a
 * change (a delta); the log of each run's calls.
 */
async function runLogs(name: string): Promise<{ first: string[]; second: string[] }> {
  const src = join(t.root, `${name}-src`);
  const dist = join(t.root, `${name}-dist`);
  // Enough files that a change of two is written as a delta (at most an eighth of the state).
  makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b', 'd/c.txt': 'c', ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`e/f${i}.txt`, `${i}`])) });
  const fs = loggingFs();
  const opts = { fs, dryRun: false, force: false, checksum: false, reporter };
  const logged = (): string[] => realFs.readFileSync(t.log, 'utf8').trim().split('\n');
  realFs.writeFileSync(t.log, '');
  assert.equal((await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-01T00:00:00Z') })).status, 'done');
  const first = logged();
  realFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
  realFs.rmSync(join(src, 'd/c.txt'));
  realFs.writeFileSync(t.log, '');
  const o = await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-02T00:00:00Z') });
  assert.equal(o.status, 'done');
  assert.deepEqual([o.summary.changed, o.summary.deleted], [1, 1]);
  return { first, second: logged() };
}

/** Index of the last line matching `re` (-1 when none). */
const lastIndex = (lines: string[], re: RegExp) => lines.reduce((k, l, i) => (re.test(l) ? i : k), -1);

/** The temp file of the last rename onto `target` (the run's final write of it), and that rename's index. */
function finalWrite(lines: string[], target: string): { tmp: string; at: number } {
  const at = lastIndex(lines, new RegExp(`^rename \\S+ \\S+/${target.replace(/[.]/g, '\\.')}$`));
  assert.ok(at >= 0, `${target} is renamed into place`);
  const tmp = (lines[at] as string).split(' ')[1] as string;
  assert.ok(isAtomicTempName(basename(tmp)), `${tmp} is an atomic write's temp file`);
  return { tmp, at };
}

describe('the end of a run', () => {
  it('one sync -f covers the placed versions, increment.json and the manifest (its delta), then each temp file is fsynced, before they are renamed into place', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    t.useSync(false);
    const { first, second } = await runLogs('syncfs');
    // The first run's last version placed (any), the second's: its changed file.
    for (const [lines, manifest, placedRe] of [
      [first, 'manifest.jsonl', /^rename .*\/tmp\/\S+ .*\/mirror\/\S+$/],
      [second, 'manifest.delta.jsonl', /^rename .*\/tmp\/\S+ .*\/mirror\/d\/b\.txt$/],
    ] as const) {
      const inc = finalWrite(lines, 'increment.json');
      const delta = finalWrite(lines, manifest);
      const placed = lastIndex(lines, placedRe);
      assert.ok(placed >= 0, 'a version is renamed into the mirror');
      // The last flush comes after the last version was placed and before either file is in place.
      const flush = lastIndex(lines.slice(0, Math.min(inc.at, delta.at)), /^sync -f /);
      assert.ok(flush > placed, `a sync -f between placing (line ${placed}) and the renames (${inc.at}, ${delta.at}):\n${lines.join('\n')}`);
      assert.ok(inc.at < delta.at, 'increment.json goes into place before the manifest');
      // Each temp file is fsynced once, after the flush (which wrote its data) and before the renames.
      for (const { tmp } of [inc, delta]) {
        const fsynced = lines.indexOf(`fsync ${tmp}`);
        assert.ok(fsynced > flush && fsynced < Math.min(inc.at, delta.at), `${tmp} is fsynced between the flush and the renames:\n${lines.join('\n')}`);
        assert.equal(lines.lastIndexOf(`fsync ${tmp}`), fsynced, `${tmp} is fsynced once`);
      }
      assert.ok(!lines.slice(inc.at).some((l) => l.startsWith('sync ')), 'no flush after the renames');
      // Their folders are fsynced after the renames.
      for (const [w, dir] of [[inc, basename(join(inc.tmp, '..'))], [delta, '.hardback']] as const) {
        assert.ok(lines.slice(w.at).some((l) => l.startsWith('fsync ') && l.endsWith(`/${dir}`)), `${dir} is fsynced after its rename`);
      }
    }
  });

  it('without syncfs each of the two temp files is fsynced before it is renamed', async () => {
    t.useSync(true);
    const { first, second } = await runLogs('perfile');
    for (const [lines, manifest] of [[first, 'manifest.jsonl'], [second, 'manifest.delta.jsonl']] as const) {
      for (const target of ['increment.json', manifest]) {
        const w = finalWrite(lines, target);
        const fsynced = lines.indexOf(`fsync ${w.tmp}`);
        assert.ok(fsynced >= 0 && fsynced < w.at, `${w.tmp} is fsynced before its rename:\n${lines.join('\n')}`);
      }
    }
  });

  it('without syncfs, every folder whose entries a run changed is fsynced after that change and before increment.json is renamed into place', async () => {
    t.useSync(true);
    const src = join(t.root, 'folders-src');
    const dist = join(t.root, 'folders-dist');
    makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b', 'd/c.txt': 'c', 'gone/x.txt': 'x', 'gone/sub/y.txt': 'y', 'swap/z.txt': 'z' });
    const fs = loggingFs();
    const opts = { fs, dryRun: false, force: false, checksum: false, reporter };
    // Folders whose entries are the backup's: the mirror's, the increments', the temp folder.
    const watched = [join(dist, 'mirror'), join(dist, 'increments'), join(dist, '.hardback', 'tmp')];
    const check = (lines: string[]) => {
      const inc = finalWrite(lines, 'increment.json');
      let checked = 0;
      lines.slice(0, inc.at).forEach((line, i) => {
        for (const dir of changedFolders(line)) {
          if (!watched.some((w) => dir === w || dir.startsWith(`${w}/`))) continue;
          // A folder the run removed (or replaced with a symlink) is an entry of its parent, checked too.
          if (realFs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
          checked++;
          assert.ok(lines.slice(i + 1, inc.at).includes(`fsync ${dir}`), `${dir} is fsynced after "${line}" and before increment.json is in place:\n${lines.join('\n')}`);
        }
      });
      return checked;
    };
    realFs.writeFileSync(t.log, '');
    await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-01T00:00:00Z') });
    const first = check(realFs.readFileSync(t.log, 'utf8').trim().split('\n'));
    // Changed, deleted, a folder deleted with what it holds, a folder replaced by a symlink, new folders.
    realFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
    realFs.rmSync(join(src, 'd/c.txt'));
    realFs.rmSync(join(src, 'gone'), { recursive: true });
    realFs.rmSync(join(src, 'swap'), { recursive: true });
    realFs.symlinkSync('d', join(src, 'swap'));
    makeTree(src, { 'n/m/new.txt': 'new' });
    realFs.writeFileSync(t.log, '');
    const o = await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-02T00:00:00Z') });
    assert.equal(o.status, 'done');
    assert.deepEqual([o.summary.new, o.summary.changed, o.summary.deleted], [4, 1, 7]);
    const second = check(realFs.readFileSync(t.log, 'utf8').trim().split('\n'));
    assert.ok(first >= 20 && second >= 20, `the runs changed folders (${first}, ${second} changes checked)`);
  });
});
