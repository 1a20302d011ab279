/**
 * The flush of a batch of copies (src/apply/apply.ts Applier.putAll; docs/reliability.md, "fsync
 * policy"): with syncfs, one `sync -f` makes a batch's copies durable. It runs in the background
 * while the next batch is copied, and the batch is announced in the journal, then placed, only once
 * that flush is over.
 *
 * And a run that stops meanwhile: a batch whose flush fails is not announced, a full drive in the
 * copies of the next batch still lets the batch before it be placed, and of two failures at once (a
 * batch's placing, the next batch's copies) the run reports the first and tells the other.
 *
 * A `sync` first on PATH logs into the same log as this test's fs: each flush waits 300 ms (a slow
 * disk), runs the real flush and notes its end. The fs notes each file it opens for writing and
 * closes, each fsync and each rename, so the log shows which copies were whole when each flush
 * began, what the run did while it ran, and when each batch was announced.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import type { Fs } from '../../src/io/fs.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { Layout } from '../../src/store/layout.js';
import { makeTree, profileFor, removeDir, tempDir, type TreeSpec } from '../helpers/tree.js';
import { failingSyncAt, loggingFs, loggingSync, logLines, perFileDurability, syncfsWorks } from '../helpers/durability.js';
import { faultyFs, type FaultRule } from '../helpers/faulty-fs.js';
import { checkBackup } from '../helpers/fault-check.js';
import { parseIncrementJson } from '../../src/meta/increment.js';
import { NewState, UpdatedState } from '../../src/apply/run-state.js';

let root = '';
before(() => {
  root = tempDir('hb-batchflush-');
});
after(() => {
  removeDir(root);
});

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };

/** A backup of `src` into `dist` at the time `at` (UTC), through `fs` (the real one by default). */
const backupAt = (src: string, dist: string, at: string, fs?: Fs, rep: Reporter = reporter) =>
  runBackup(profileFor(src, dist), { ...(fs === undefined ? {} : { fs }), dryRun: false, force: false, checksum: false, reporter: rep, now: () => new Date(`2026-11-27T${at}Z`) });

/** A reporter that keeps its notices. */
function noting(): Reporter & { notices: string[] } {
  const notices: string[] = [];
  return { notices, notice: (m) => notices.push(m), progress: () => {}, action: () => {} };
}

/** A sleep of this thread, from inside a synchronous fs call. */
const pause = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms: number) => Atomics.wait(pause, 0, 0, ms);

/** After a run that stopped: the next run, at `at`, stores the whole tree. */
async function nextRunStores(src: string, dist: string, at: string): Promise<void> {
  const o = await backupAt(src, dist, at);
  assert.equal(o.status, 'done');
  assert.deepEqual(checkBackup(dist, { source: src }), []);
}

interface Flush {
  start: number;
  end: number;
}

/** The flushes in the log, each from its `sync -f` line to its `synced` line. */
function flushesOf(lines: readonly string[]): Flush[] {
  const flushes: Flush[] = [];
  let open: number | undefined;
  lines.forEach((line, i) => {
    if (line.startsWith('sync ')) {
      assert.equal(open, undefined, `line ${i}: a flush begins before the one before it ended`);
      open = i;
    } else if (line.startsWith('synced ')) {
      assert.ok(open !== undefined, `line ${i}: a flush ends that never began`);
      flushes.push({ start: open, end: i });
      open = undefined;
    }
  });
  assert.equal(open, undefined, 'every flush ended');
  return flushes;
}

/**
 * The changes to the mirror (loggingFs lines: a folder's `mkdir`, a put's `rename` from the temp
 * folder) made before their announcement was durable: without an fsync of the journal that began
 * after the announcement's line was written (`announce OP PATH`) and was over before the change.
 */
function madeBeforeDurable(lines: readonly string[], layout: Layout): string[] {
  const begun = new Map<string, number>();
  const fsyncs: { begin: number; end: number }[] = [];
  lines.forEach((l, i) => {
    const [word, path, id] = l.split(' ');
    if (word === 'fsync-begin' && path === layout.journal) begun.set(id as string, i);
    if (word === 'fsync-end' && begun.has(path as string)) fsyncs.push({ begin: begun.get(path as string) as number, end: i });
  });
  const mkdir = `mkdir ${layout.mirror}/`;
  return lines.flatMap((l, i) => {
    const [word, from, to] = l.split(' ');
    const change = l.startsWith(mkdir)
      ? `announce mkdir ${l.slice(mkdir.length)}`
      : word === 'rename' && from?.startsWith(`${layout.tmp}/`) && to?.startsWith(`${layout.mirror}/`)
        ? `announce put ${to.slice(layout.mirror.length + 1)}`
        : undefined;
    if (change === undefined) return [];
    const announced = lines.lastIndexOf(change, i);
    return announced >= 0 && fsyncs.some((f) => f.begin > announced && f.end < i) ? [] : [l];
  });
}

describe('the flush of a batch of copies', () => {
  it('runs while the next batch is copied; the batch is announced only once its flush, begun after its copies were whole, is over', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    // 4,200 files: two batches (4,096 puts a batch where a flush makes them durable).
    const src = join(root, 'src');
    const dist = join(root, 'dist');
    const spec: TreeSpec = {};
    for (let i = 0; i < 4200; i++) spec[`d${i % 42}/f${i}.txt`] = `${i}\n`.repeat(1 + (i % 5));
    makeTree(src, spec);
    const layout = new Layout(dist);
    const log = join(root, 'log');
    const undo = loggingSync(log, false, { slowMs: 300 });
    let o: Awaited<ReturnType<typeof runBackup>>;
    try {
      o = await backupAt(src, dist, '10:00:00', loggingFs(log, { creates: true, announcements: true }));
    } finally {
      undo();
    }
    assert.equal(o.status, 'done');
    assert.equal(o.summary.new, 4200 + 42);

    const lines = logLines(log);
    const flushes = flushesOf(lines);
    const tmpOf = (line: string) => (line.startsWith(`rename ${layout.tmp}/`) && line.split(' ')[2]?.startsWith(`${layout.mirror}/`) ? line.split(' ')[1] : undefined);
    const placed = lines.flatMap((l, i) => {
      const tmp = tmpOf(l);
      return tmp === undefined ? [] : [{ at: i, tmp, path: (l.split(' ')[2] as string).slice(layout.mirror.length + 1) }];
    });
    assert.equal(placed.length, 4200, 'every file is renamed from a temp file into the mirror');

    // Each version's temp file was written and closed before a flush began, and that flush was
    // over before the journal's fsync that announced the version.
    const closed = new Map(lines.flatMap((l, i) => (l.startsWith('close ') ? [[l.slice('close '.length), i] as const] : [])));
    const announced = (at: number) => lines.slice(0, at).lastIndexOf(`fsync ${layout.journal}`);
    const flushOf = (tmp: string) => flushes.find((f) => f.start > (closed.get(tmp) ?? Infinity));
    const late = placed.filter(({ at, tmp }) => !((flushOf(tmp)?.end ?? Infinity) < announced(at)));
    assert.deepEqual(late.slice(0, 3), [], `${late.length} versions announced before a flush begun after their copy was over`);

    // Two batches, each announced by a journal fsync of its own. Every copy of the second was made
    // before the flush that preceded the first's announcement was over (with a flush that blocks,
    // none: they would come after it). The first copies of the second batch may be made even
    // before the spawned `sync` writes its line; they count the same.
    const announcements = [...new Set(placed.map((p) => announced(p.at)))].sort((a, b) => a - b);
    assert.equal(announcements.length, 2, 'two batches of puts announced');
    const [firstAnnounced, secondAnnounced] = announcements as [number, number];
    const first = flushes.filter((f) => f.end < firstAnnounced).at(-1) as Flush;
    const nextBatch = placed.filter((p) => announced(p.at) === secondAnnounced).map((p) => p.tmp);
    assert.equal(nextBatch.length, 4200 - 4096, 'the second batch');
    const created = new Set(lines.slice(0, first.end).filter((l) => l.startsWith('create ')).map((l) => l.slice('create '.length)));
    const after = nextBatch.filter((t) => !created.has(t));
    assert.deepEqual(after.slice(0, 3), [], `${after.length} of the second batch's ${nextBatch.length} copies were made only after the first batch's flush was over`);

    // The walk's folders (41 in the first batch, one in the second, made while the first was
    // copied) and the puts are announced, the journal fsynced, and only then made in the mirror.
    assert.deepEqual(madeBeforeDurable(lines, layout).slice(0, 3), [], 'changes made before their announcement was durable');
    assert.equal(lines.filter((l) => l.startsWith(`mkdir ${layout.mirror}/`)).length, 42);
  });

  it('announces and places a batch as soon as its flush is over, while the next batch is still being copied', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    // Three batches (4,096, 4,096, 10): the first batch's flush (a few ms) ends while this thread
    // copies the second (4,096 copies that take 0.2 ms each to close: over 0.8 s); its
    // announcement's fsync follows at once, not once the second batch is copied.
    const src = join(root, 'early-src');
    const dist = join(root, 'early-dist');
    const spec: TreeSpec = {};
    for (let i = 0; i < 2 * 4096 + 10; i++) spec[`d${i % 8}/f${i}.txt`] = `${i}\n`;
    makeTree(src, spec);
    const layout = new Layout(dist);
    const log = join(root, 'early-log');
    const undo = loggingSync(log, false);
    try {
      const o = await backupAt(src, dist, '10:30:00', loggingFs(log, { creates: true, announcements: true, closeDelayMs: 0.2 }));
      assert.equal(o.status, 'done');
    } finally {
      undo();
    }
    const lines = logLines(log);
    const journalFsyncs = lines.flatMap((l, i) => (l === `fsync ${layout.journal}` ? [i] : []));
    // The puts of each batch, by the journal fsync that announced them (the last before their renames).
    const byBatch = new Map<number, string[]>();
    lines.forEach((l, i) => {
      const [op, from, to] = l.split(' ');
      if (op !== 'rename' || !from?.startsWith(`${layout.tmp}/`) || !to?.startsWith(`${layout.mirror}/`)) return;
      const at = journalFsyncs.filter((f) => f < i).at(-1) ?? -1;
      byBatch.set(at, [...(byBatch.get(at) ?? []), from]);
    });
    const batches = [...byBatch.entries()].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(batches.map(([, tmps]) => tmps.length), [4096, 4096, 10], 'three batches, each announced by a journal fsync');
    const [[firstAnnounced, first], [, second], [, third]] = batches as [number, string[]][] as [[number, string[]], [number, string[]], [number, string[]]];
    const lastClose = Math.max(...second.map((t) => lines.indexOf(`close ${t}`)));
    assert.ok(firstAnnounced < lastClose, `the first batch was announced (line ${firstAnnounced}) only after the second was copied (its last copy closed at line ${lastClose})`);
    // And placed then too, not once the second batch is copied; each batch after the one before.
    const renamed = (tmps: string[]) => tmps.map((t) => lines.findIndex((l) => l.startsWith(`rename ${t} `)));
    const [r1, r2, r3] = [renamed(first), renamed(second), renamed(third)];
    assert.ok(Math.max(...r1) < lastClose, `the first batch was placed (last rename at line ${Math.max(...r1)}) only after the second was copied (line ${lastClose})`);
    assert.ok(Math.max(...r1) < Math.min(...r2) && Math.max(...r2) < Math.min(...r3), 'each batch is placed after the one before');
    assert.deepEqual(madeBeforeDurable(lines, layout).slice(0, 3), []);
  });

  for (const n of [1, 2, 3]) {
    it(`a journal fsync that fails off the main thread (the ${['', 'first', 'second', 'third'][n]}) stops the run: the backup stays consistent, and the next run stores the tree`, { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
      // Two batches, folders in both. With syncfs only the journal fsyncs on libuv's threadpool:
      // the first batch's folders, then the second's or the first batch's puts, and so on.
      const src = join(root, `jfail${n}-src`);
      const dist = join(root, `jfail${n}-dist`);
      const spec: TreeSpec = {};
      for (let i = 0; i < 4096 + 40; i++) spec[`d${Math.floor(i / 101)}/f${i}.txt`] = `${i}\n`;
      makeTree(src, spec);
      const fs = faultyFs({ fsync: (_fd, k) => k === n && 'EIO' });
      await assert.rejects(backupAt(src, dist, '12:00:00', fs), /EIO/);
      assert.ok((fs.calls.get('fsync') ?? 0) >= n, 'the fsync that fails was reached');
      assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
      await nextRunStores(src, dist, '12:05:00');
    });
  }

  it('a run that stops before its first batch is placed, while that batch\'s folders wait for a slow fsync and a later batch\'s has failed: it stops only once they are made, and nothing changes after', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    // Two batches: the first's files in folders d*, the second's in folders e*. Each batch's folders
    // are announced as it is handed out, both before any copy: journal fsync 1 (the first's folders)
    // is held, fsync 2 (the second's) fails at once, and the first batch's flush fails, which stops
    // the run before anything is placed. Fsync 1's answer is held until the run's stop reads the journal back
    // (recovery), or 3 s: a run that stopped without waiting for the first batch's folders would
    // then make them after it stopped (fails so with the chain of folders made in
    // Applier.makeDirsLater replaced by a Promise.all).
    const src = join(root, 'chain-src');
    const dist = join(root, 'chain-dist');
    const spec: TreeSpec = {};
    for (let i = 0; i < 4096; i++) spec[`d${Math.floor(i / 128)}/f${i}.txt`] = `${i}\n`;
    for (let i = 0; i < 40; i++) spec[`e${i % 4}/g${i}.txt`] = `${i}\n`;
    makeTree(src, spec);
    const layout = new Layout(dist);
    let k = 0;
    let release: (() => void) | undefined;
    const held = new Proxy(realFs as Fs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'readFileSync')
          return (...args: unknown[]) => {
            if (args[0] === layout.journal) release?.();
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        if (prop !== 'fsync') return value;
        return (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
          k++;
          if (k === 1) {
            // The fsync itself is made now (a drive that is slow to answer, not one not asked).
            let result: NodeJS.ErrnoException | null | undefined;
            let released = false;
            const answer = () => {
              if (released && result !== undefined) cb(result);
            };
            realFs.fsync(fd, (err) => {
              result = err;
              answer();
            });
            const timer = setTimeout(() => release?.(), 3000);
            release = () => {
              release = undefined;
              clearTimeout(timer);
              released = true;
              answer();
            };
          } else if (k === 2) process.nextTick(() => cb(Object.assign(new Error('EIO: injected, fsync'), { code: 'EIO' })));
          else realFs.fsync(fd, cb);
        };
      },
    });
    const listing = () => (realFs.existsSync(layout.mirror) ? realFs.readdirSync(layout.mirror).sort() : []);
    // The probe (sync call 1) finds syncfs; the first batch's flush (call 2) fails.
    const undo = failingSyncAt(2);
    let atStop: string[];
    try {
      await assert.rejects(backupAt(src, dist, '12:30:00', held), /EIO|could not flush/);
      atStop = listing();
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      undo();
    }
    assert.ok(k >= 2, 'the failing fsync was reached');
    assert.deepEqual(listing(), atStop, 'the destination changed after the run had stopped');
    assert.deepEqual(atStop.filter((n) => n.startsWith('e')), [], 'the second batch\'s folders were made');
    assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
    await nextRunStores(src, dist, '12:35:00');
  });

  it('a flush that fails stops the run before its batch is announced: nothing of it is placed, the backup stays consistent, and the next run stores it', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    const src = join(root, 'fails-src');
    const dist = join(root, 'fails-dist');
    const spec: TreeSpec = {};
    for (let i = 0; i < 40; i++) spec[`d${i % 4}/f${i}.txt`] = `${i}\n`;
    makeTree(src, spec);
    // The probe (call 1) finds syncfs; the batch's flush (call 2) fails; recovery's (3) works.
    const undo = failingSyncAt(2);
    try {
      await assert.rejects(backupAt(src, dist, '11:00:00'), /could not flush the destination \(sync -f .* failed: exit status 1\)/);
    } finally {
      undo();
    }
    assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
    const layout = new Layout(dist);
    const files = (dir: string): string[] => realFs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile() && d.name !== 'increment.json').map((d) => d.name);
    assert.deepEqual(files(layout.mirror), [], 'no version reached the mirror');
    assert.deepEqual(files(layout.increments), [], 'nor an increment');

    await nextRunStores(src, dist, '11:05:00');
  });

  /**
   * Without syncfs a batch is 256 puts: these 600 files (`d${i % 6}/f${NNN}.txt`) make three. The
   * copies run on this thread, through the test's fs.
   */
  const threeBatches = (name: string) => {
    const src = join(root, `${name}-src`);
    const dist = join(root, `${name}-dist`);
    const spec: TreeSpec = {};
    for (let i = 0; i < 600; i++) spec[`d${i % 6}/f${String(i).padStart(3, '0')}.txt`] = `${i}\n`;
    makeTree(src, spec);
    return { src, dist, layout: new Layout(dist) };
  };
  const isTmp = (layout: Layout, p: unknown) => String(p).startsWith(`${layout.tmp}/hb-`);

  it('a full drive in the copies of the next batch: the batch copied before it is still placed and recorded', async () => {
    // The 300th copy (in the second batch) finds the drive full.
    const undo = perFileDurability();
    try {
      const { src, dist, layout } = threeBatches('full');
      let copies = 0;
      const fs = faultyFs({ openSync: (p) => (String(p).startsWith(`${layout.tmp}/`) && ++copies === 300 ? 'ENOSPC' : false) });
      await assert.rejects(backupAt(src, dist, '11:10:00', fs), /ENOSPC/);
      assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
      const ids = realFs.readdirSync(layout.increments);
      assert.equal(ids.length, 1, 'the increment is kept');
      const parsed = parseIncrementJson(realFs.readFileSync(layout.incrementJson(ids[0] as string), 'utf8'), ids[0] as string);
      assert.ok(parsed.ok);
      assert.equal(parsed.value.complete, false);
      const stored = parsed.value.new.filter((r) => r.type === 'file').length;
      assert.ok(stored >= 256, `${stored} files recorded: the first batch (256) is placed`);
      assert.ok(stored < 600, `${stored} files recorded: not the whole tree`);
    } finally {
      undo();
    }
  });

  it('a run stopped by a full drive drops its state before recovery reads the journal and the manifest again, first run and next', async () => {
    // At W3 (1M files) the run's table and recovery's side by side took 619-646 MiB, 426-444 MiB without the run's.
    const undo = perFileDurability();
    const released = { new: 0, updated: 0 };
    const keepNew = NewState.prototype.release;
    const keepUpdated = UpdatedState.prototype.release;
    NewState.prototype.release = function (this: NewState) {
      released.new++;
      keepNew.call(this);
    };
    UpdatedState.prototype.release = function (this: UpdatedState) {
      released.updated++;
      keepUpdated.call(this);
    };
    try {
      const { src, dist, layout } = threeBatches('release');
      // The 300th copy of each run finds the drive full; each opening of the journal after it (by
      // recovery) notes how many states were dropped by then.
      const seenAtRecovery: number[] = [];
      const fullAt300 = (): Fs => {
        let copies = 0;
        return faultyFs({
          openSync: (p) => {
            if (String(p) === layout.journal && copies >= 300) seenAtRecovery.push(released.new + released.updated);
            return String(p).startsWith(`${layout.tmp}/`) && ++copies === 300 ? 'ENOSPC' : false;
          },
        });
      };
      await assert.rejects(backupAt(src, dist, '11:12:00', fullAt300()), /the backup drive is full/);
      assert.deepEqual({ ...released }, { new: 1, updated: 0 });
      assert.ok(seenAtRecovery.length > 0 && !seenAtRecovery.some((n) => n !== 1), `released before recovery: ${seenAtRecovery.join(', ')}`);
      assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
      // The rest is stored by the next run; then every file changes, and that run fills the drive.
      assert.equal((await backupAt(src, dist, '11:13:00')).status, 'done');
      for (let i = 0; i < 600; i++) realFs.writeFileSync(join(src, `d${i % 6}/f${String(i).padStart(3, '0')}.txt`), `${i}, changed\n`);
      seenAtRecovery.length = 0;
      await assert.rejects(backupAt(src, dist, '11:14:00', fullAt300()), /the backup drive is full/);
      assert.deepEqual({ ...released }, { new: 1, updated: 1 });
      assert.ok(seenAtRecovery.length > 0 && !seenAtRecovery.some((n) => n !== 2), `released before recovery: ${seenAtRecovery.join(', ')}`);
      assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
      const ids = realFs.readdirSync(layout.increments).sort();
      const last = parseIncrementJson(realFs.readFileSync(layout.incrementJson(ids.at(-1) as string), 'utf8'), ids.at(-1) as string);
      assert.ok(last.ok && last.value.complete === false && last.value.changed.length >= 256, 'the changes placed before the drive was full are recorded');
    } finally {
      NewState.prototype.release = keepNew;
      UpdatedState.prototype.release = keepUpdated;
      undo();
    }
  });

  /**
   * Two failures at once (Applier.putAll): batch 1 is placed from the event loop while batch 2 is
   * copied, so either may fail first. The run reports the first, and tells the second as a notice.
   * Batch 1's placing fails by this renameSync rule (faultyFs): the first rename of a temp file
   * fails with EIO, the rest work; `state.failed` once it has.
   */
  const firstPlacingFails = (layout: Layout): { state: { failed: boolean }; rule: FaultRule } => {
    const state = { failed: false };
    const rule: FaultRule = (p) => {
      if (!isTmp(layout, p) || state.failed) return false;
      state.failed = true;
      return 'EIO';
    };
    return { state, rule };
  };

  /**
   * After a run with two failures: it told the other failure once, as the notice that begins with
   * `prefix`, naming `code`; the backup is consistent, and the next run, at `nextAt`, stores the tree.
   */
  async function reportsOneTellsOther(rep: { notices: string[] }, prefix: string, code: RegExp, src: string, dist: string, nextAt: string): Promise<void> {
    const told = rep.notices.filter((n) => n.startsWith(prefix));
    assert.equal(told.length, 1, `notices: ${JSON.stringify(rep.notices)}`);
    assert.match(told[0] as string, code);
    assert.deepEqual(checkBackup(dist, { allowLock: true }), []);
    await nextRunStores(src, dist, nextAt);
  }

  it('the placing of a batch fails first, then a copy of the next: the run reports the placing\'s failure, and tells the other', async () => {
    const undo = perFileDurability();
    try {
      const { src, dist, layout } = threeBatches('placefirst');
      const placing = firstPlacingFails(layout);
      let copies = 0;
      let waited = 0;
      const fs = faultyFs({
        renameSync: placing.rule,
        openSync: (p) => {
          if (!isTmp(layout, p) || ++copies <= 256) return false;
          if (placing.state.failed) return 'ENOSPC';
          // Batch 2's copies wait for batch 1 to be placed from the event loop: 5 ms per copy, at
          // most 2 s in all.
          if (waited < 2000) {
            sleepSync(5);
            waited += 5;
          }
          return false;
        },
      });
      const rep = noting();
      await assert.rejects(backupAt(src, dist, '11:20:00', fs, rep), /EIO/);
      assert.ok(placing.state.failed, 'batch 1 was being placed');
      await reportsOneTellsOther(rep, 'the next batch could not be copied either', /ENOSPC/, src, dist, '11:25:00');
    } finally {
      undo();
    }
  });

  it('a copy of the next batch fails first, then the placing of the batch before: the run reports the copy\'s failure, and tells the other', async () => {
    const undo = perFileDurability();
    try {
      const { src, dist, layout } = threeBatches('copyfirst');
      const placing = firstPlacingFails(layout);
      let copies = 0;
      let copyFailedAt: number | undefined;
      const faulty = faultyFs({
        renameSync: placing.rule,
        openSync: (p) => {
          if (!isTmp(layout, p) || ++copies !== 257) return false;
          copyFailedAt = Date.now();
          return 'ENOSPC';
        },
      });
      let journalFd: number | undefined;
      // The copies under way (their temp file open, from its open to its close), and when the last
      // of them ended.
      const copying = new Set<number>();
      let copyingEndedAt = 0;
      const fs = new Proxy(faulty, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (prop === 'openSync') {
            return (...args: unknown[]) => {
              const fd = (value as (...a: unknown[]) => number).apply(target, args);
              if (args[0] === layout.journal) journalFd = fd;
              if (isTmp(layout, args[0])) copying.add(fd);
              return fd;
            };
          }
          if (prop === 'closeSync') {
            return (fd: number) => {
              (value as (fd: number) => void).call(target, fd);
              if (copying.delete(fd) && copying.size === 0) copyingEndedAt = Date.now();
            };
          }
          if (prop !== 'fsync') return value;
          // The journal's fsyncs (off this thread) answer only once batch 2's copy has failed, at
          // least 200 ms since, and no copy has been under way for 50 ms: the copier has stopped on
          // the failure (its other lanes end their copies first), and putAll has seen it. Only then
          // is batch 1 announced, so placed. The copies' own fsyncs answer at once. So that the test
          // cannot hang, a journal fsync answers anyway 10 s after it was asked.
          const quiet = () => {
            if (copyFailedAt === undefined || copying.size > 0) return false;
            const now = Date.now();
            return now - copyFailedAt >= 200 && now - copyingEndedAt >= 50;
          };
          return (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
            if (fd !== journalFd) {
              realFs.fsync(fd, cb);
              return;
            }
            const asked = Date.now();
            realFs.fsync(fd, (err) => {
              const answer = () => (quiet() || Date.now() - asked >= 10_000 ? cb(err) : setTimeout(answer, 10));
              answer();
            });
          };
        },
      });
      const rep = noting();
      await assert.rejects(backupAt(src, dist, '11:30:00', fs, rep), /ENOSPC/);
      assert.ok(journalFd !== undefined, 'the journal was opened through the test\'s fs');
      assert.ok(placing.state.failed, 'batch 1\'s placing was tried');
      await reportsOneTellsOther(rep, 'the batch copied before it could not be placed either', /EIO/, src, dist, '11:35:00');
    } finally {
      undo();
    }
  });
});
