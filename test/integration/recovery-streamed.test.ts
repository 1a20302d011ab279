/**
 * Recovery reads the journal one change at a time (store/journal.ts openJournal, apply/recover.ts):
 * a run of a million files announces ~380 MB of changes, which read whole took 1.74 GiB of memory at
 * 648,000 and, from ~1.4 million lines, a string longer than V8 makes (no run could start again).
 *
 * A journal of several MiB is recovered through an Fs that refuses to read it whole or in reads of
 * more than 1 MiB, and what recovery records (the manifest, increment.json's lists, the links it
 * removes) is what the journal's changes, judged one by one, give. Its lists are written as the
 * journal is read again: a journal that gives another count of changes at that second reading stops
 * the recovery, before anything is recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { dirname, join } from 'node:path';
import type { Fs } from '../../src/io/fs.js';
import { realFs } from '../../src/io/fs.js';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { recoverInterruptedRun } from '../../src/apply/recover.js';
import { recoverDestination } from '../../src/apply/startup.js';
import { durabilityFor } from '../../src/io/durability.js';
import { Layout } from '../../src/store/layout.js';
import { applyOp, fnv1a32, happened, JournalWriter, readJournal, type JournalHeader } from '../../src/store/journal.js';
import { readManifest } from '../../src/store/manifest.js';
import { recordsFromOps } from '../../src/store/records.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';

const T1 = new Date('2026-01-01T00:00:00Z');
const ID2 = '2026-01-02T000000Z';
const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };
const MiB = 1 << 20;
/** The new files the journal announces. */
const N = 9000;

let root = '';
before(() => {
  root = tempDir('hb-recstream-');
});
after(() => removeDir(root));

const entry = (path: string, over: Partial<StateEntry> = {}): StateEntry => ({
  path,
  type: 'file',
  size: 5,
  mtime_ns: '1767225600123456789',
  mode: 0o644,
  uid: 0,
  gid: 0,
  tracked: true,
  sha256: 'ab'.repeat(32),
  ...over,
});

/**
 * A backup of a small tree, then the journal of a run killed part way: keep.txt changed, old/a.txt
 * deleted (old/b.txt's deletion did not happen), old's mode changed, 20 new folders, and N new
 * files with long names of 2-, 3- and 4-byte characters, one in 7 of them not placed (its temp
 * file is still there, and its link in the increment).
 */
async function crashed(name: string): Promise<{ dist: string; layout: Layout; undoneLinks: string[] }> {
  const src = join(root, name, 'src');
  const dist = join(root, name, 'dist');
  makeTree(src, { 'keep.txt': 'keep', 'old/a.txt': 'a', 'old/b.txt': 'b' });
  const done = await runBackup(profileFor(src, dist), { fs: realFs, dryRun: false, force: false, checksum: false, reporter, now: () => T1 });
  assert.equal(done.status, 'done');
  const layout = new Layout(dist);
  const header: JournalHeader = { journal: 1, id: ID2, profile: 'default', source: src, started: '2026-01-02T00:00:00.000Z', link_mode: 'hardlink' };
  const w = new JournalWriter(realFs, layout.journal, header);
  w.append({ op: 'put', kind: 'changed', entry: entry('keep.txt'), tmp: 'hb-keep' });
  w.append({ op: 'del', entry: entry('old/a.txt', { size: 1 }) });
  nodeFs.rmSync(layout.mirrorPath('old/a.txt'));
  w.append({ op: 'del', entry: entry('old/b.txt', { size: 1 }) });
  w.append({ op: 'dirmode', entry: entry('old', { type: 'dir', size: 0, mode: 0o750, sha256: undefined }) });
  for (let d = 0; d < 20; d++) {
    const dir = `папка ${d}`;
    w.append({ op: 'mkdir', entry: entry(dir, { type: 'dir', size: 0, mode: 0o755, sha256: undefined }) });
    nodeFs.mkdirSync(layout.mirrorPath(dir));
  }
  const undoneLinks: string[] = [];
  for (let i = 0; i < N; i++) {
    const path = `папка ${i % 20}/файл-€-😀 ${i} ${'x'.repeat(i % 200)}.txt`;
    const tmp = `hb-n-${i}`;
    w.append({ op: 'put', kind: 'new', entry: entry(path, { size: i }), tmp });
    if (i % 7 !== 3) continue;
    // Not placed: the temp file is there, and the link the put made first.
    nodeFs.writeFileSync(join(layout.tmp, tmp), 'x');
    const link = layout.incrementFile(ID2, path);
    nodeFs.mkdirSync(dirname(link), { recursive: true });
    nodeFs.writeFileSync(link, 'x');
    undoneLinks.push(link);
  }
  w.flush();
  w.close();
  // A whole line that passes its check but announces no valid change (a file without its sha256):
  // the writer makes none; recovery ignores it, and counts it.
  const bad = JSON.stringify({ op: 'put', kind: 'new', entry: { ...entry('bad.txt'), sha256: 'not hex' }, tmp: 'hb-bad' });
  nodeFs.appendFileSync(layout.journal, `${fnv1a32(bad).toString(16).padStart(8, '0')} ${bad}\n`);
  return { dist, layout, undoneLinks };
}

/**
 * realFs, but the journal can only be read in reads of at most 1 MiB (no readFileSync of it), and
 * `onRead` sees the position of each read of it.
 */
function chunkedOnly(layout: Layout, seen: { reads: number; opens: number }, onRead?: (position: number | null) => void): Fs {
  const journalFds = new Set<number>();
  return new Proxy(realFs, {
    get(target, prop, receiver) {
      if (prop === 'readFileSync') {
        return (file: nodeFs.PathOrFileDescriptor, ...rest: unknown[]) => {
          if (file === layout.journal) throw new Error('the journal was read whole');
          return (target.readFileSync as (...a: unknown[]) => unknown)(file, ...rest);
        };
      }
      if (prop === 'openSync') {
        return (file: nodeFs.PathLike, ...rest: unknown[]) => {
          if (file === layout.journal) seen.opens++;
          const fd = (target.openSync as (...a: unknown[]) => number)(file, ...rest);
          if (file === layout.journal) journalFds.add(fd);
          else journalFds.delete(fd);
          return fd;
        };
      }
      if (prop === 'readSync') {
        return (fd: number, buf: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null) => {
          if (journalFds.has(fd)) {
            assert.ok(length <= MiB, `a read of ${length} bytes of the journal`);
            seen.reads++;
            onRead?.(position);
          }
          return target.readSync(fd, buf, offset, length, position);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

describe('recovery streams the journal', () => {
  it('a journal of several MiB, read only in reads of at most 1 MiB, is recorded as the journal read whole gives it', async () => {
    const { dist, layout, undoneLinks } = await crashed('whole');
    const size = nodeFs.statSync(layout.journal).size;
    assert.ok(size > 3 * MiB, `${size} bytes of journal: more than three reads`);
    // What the journal says, read into arrays (every line it wrote is there: the count anchors it).
    const journal = readJournal(realFs, layout.journal);
    assert.ok(journal !== undefined);
    assert.equal(journal.ops.length, 24 + N);
    assert.equal(journal.ops.some((op) => op.entry.path === 'bad.txt'), false);
    assert.equal(journal.dropped, 1, 'the line of bad.txt');
    const resolved = { done: journal.ops.filter((op) => happened(realFs, layout, op)), undone: journal.ops.filter((op) => !happened(realFs, layout, op)) };
    const expected = readManifest(realFs, layout.manifest).entries;
    for (const op of resolved.done) applyOp(expected, op);
    const lists = recordsFromOps(resolved.done);
    assert.equal(resolved.undone.length, undoneLinks.length + 1, 'old/b.txt and the unplaced files');

    const seen = { reads: 0, opens: 0 };
    const report = recoverInterruptedRun(chunkedOnly(layout, seen), layout, () => durabilityFor(dist, false));
    assert.deepEqual(report, { id: ID2, done: resolved.done.length, undone: resolved.undone.length, removedEmpty: false, damaged: 1 });
    // Each reading of the changes takes a read per MiB: the first, then one for each list (new, changed, deleted).
    assert.ok(seen.reads >= 4 * Math.floor(size / MiB), `${seen.reads} reads of ${size} bytes of journal`);

    const inc = JSON.parse(nodeFs.readFileSync(layout.incrementJson(ID2), 'utf8')) as Record<string, unknown>;
    assert.equal(inc['complete'], false);
    assert.deepEqual(inc['new'], JSON.parse(JSON.stringify(lists.new)));
    assert.deepEqual(inc['changed'], JSON.parse(JSON.stringify(lists.changed)));
    assert.deepEqual(inc['deleted'], JSON.parse(JSON.stringify(lists.deleted)));
    assert.deepEqual(inc['summary'], { new: lists.new.length, changed: lists.changed.length, deleted: lists.deleted.length, errors: 0, bytes_copied: 0 });
    assert.equal(lists.new.length, 20 + N - undoneLinks.length);
    assert.deepEqual(
      lists.changed.map((r) => r.path),
      ['keep.txt', 'old'],
    );
    assert.deepEqual(
      lists.deleted.map((r) => r.path),
      ['old/a.txt'],
    );

    const recorded = readManifest(realFs, layout.manifest);
    assert.equal(recorded.header?.last_increment, ID2);
    assert.deepEqual(new Map(recorded.entries), new Map(expected));
    for (const link of undoneLinks) assert.equal(nodeFs.existsSync(link), false, `${link}: an unplaced file's link is removed`);
    assert.equal(nodeFs.existsSync(layout.journal), false);
  });

  it('the next start says how many damaged lines of the journal it ignored', async () => {
    const { dist, layout } = await crashed('notice');
    const notices: string[] = [];
    recoverDestination(realFs, layout, { source: 'src', profile: 'default', notice: (m) => notices.push(m), durability: () => durabilityFor(dist, false) });
    assert.equal(notices.length, 1, notices.join('\n'));
    assert.match(notices[0] as string, new RegExp(`^finished the interrupted run ${ID2}: \\d+ changes had reached the backup, \\d+ were rolled back \\(its increment is marked "complete": false\\); 1 damaged line of its journal was ignored$`));
  });

  it('a journal that is not the same when its lists are written stops the recovery before anything is recorded; the next recovery records it', async () => {
    const { dist, layout } = await crashed('changed');
    const before = nodeFs.readFileSync(layout.manifest);
    const original = nodeFs.readFileSync(layout.journal);
    // Its header, its changes, then the first list's reading: as that reading starts (its first read
    // after the header's line), one line of a placed file is damaged, in the file recovery holds open.
    const bodyStart = original.indexOf(10) + 1;
    let readings = 0;
    const damage = (position: number | null): void => {
      if (position !== bodyStart || ++readings !== 2) return;
      const bytes = Buffer.from(original);
      const at = bytes.indexOf('hb-n-5"');
      assert.ok(at > 0);
      bytes[at + 3] = 'm'.charCodeAt(0);
      nodeFs.writeFileSync(layout.journal, bytes);
    };
    const seen = { reads: 0, opens: 0 };
    assert.throws(() => recoverInterruptedRun(chunkedOnly(layout, seen, damage), layout, () => durabilityFor(dist, false)), /changed while it was read \(9024 changes, then 9023\)/);
    assert.equal(readings, 2, 'damaged as the second reading began');
    assert.equal(seen.opens, 1, 'the journal is opened once, and read through that descriptor');
    assert.equal(nodeFs.existsSync(layout.journal), true, 'the journal stays');
    assert.equal(nodeFs.existsSync(layout.incrementJson(ID2)), false, 'no increment.json lists what was not read twice alike');
    assert.deepEqual(nodeFs.readFileSync(layout.manifest), before, 'the manifest is the last run’s');
    assert.deepEqual(
      nodeFs.readdirSync(layout.state).filter((n) => n.includes('.tmp')),
      [],
      'no temp file is left beside the manifest',
    );

    // The journal as it was: the next start records it.
    nodeFs.writeFileSync(layout.journal, original);
    const report = recoverInterruptedRun(realFs, layout, () => durabilityFor(dist, false));
    assert.equal(report.done, 1 + 1 + 1 + 20 + N - Math.ceil((N - 3) / 7));
    const inc = JSON.parse(nodeFs.readFileSync(layout.incrementJson(ID2), 'utf8')) as { new: unknown[]; complete: boolean };
    assert.equal(inc.complete, false);
    assert.equal(inc.new.length, report.done - 3);
  });
});
