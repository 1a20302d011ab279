import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Fs } from '../../src/io/fs.js';
import { HardbackError } from '../../src/io/errors.js';
import { Layout } from '../../src/store/layout.js';
import { recoverInterruptedRun, repairBareIncrements, sweepTmp } from '../../src/apply/recover.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { isRootUser, tempDir } from '../helpers/tree.js';
import { checkBackup, completeVersions, copyExact, removeAll as removeDir, type Version } from '../helpers/fault-check.js';
import { imagingFs, nthCallFault } from '../helpers/fault-images.js';
import { backup, recoverAndCheck, scenarioState1, scenarioState2 } from '../helpers/fault-scenario.js';
import { perFileDurability } from '../helpers/durability.js';
import { durabilityFor } from '../../src/io/durability.js';

/**
 * SPEC §6 "Interruption", checked at every instant a crash can hit: one run is imaged (`cp -a` of the
 * destination) just before each system call that changes it; each image is exactly what kill -9 at
 * that point leaves. The next run must turn every image into a consistent backup equal to the
 * source, losing no version an earlier run completed. The run covers a first backup and an
 * incremental one with changes, deletions, a move, type swaps both ways, mode changes and symlinks.
 */

const T1 = new Date('2026-03-01T10:00:00.000Z');
const T2 = new Date('2026-03-01T11:00:00.000Z');
const T3 = new Date('2026-03-01T12:00:00.000Z');

let work = '';
before(() => {
  work = tempDir('hb-crashpoints-');
});
after(() => removeDir(work));

/**
 * A source in state 1 and a destination holding one complete run of it; the source is then moved
 * to state 2, ready for the incremental run under test. Each test gets its own.
 */
async function fixture(name: string): Promise<{ src: string; dist: string; versions: Version[] }> {
  const src = join(work, name, 'src');
  const dist = join(work, name, 'dist');
  scenarioState1(src);
  const o = await backup(src, dist, { at: T1 });
  assert.equal(o.status, 'done');
  const versions = completeVersions(dist);
  assert.ok(versions.length >= 8, 'the first run records the tracked versions');
  scenarioState2(src);
  return { src, dist, versions };
}

async function checkImages(src: string, images: { n: number; call: string; dir: string }[], versions: readonly Version[], at: Date): Promise<string[]> {
  const failures: string[] = [];
  for (const img of images) {
    const problems = await recoverAndCheck(src, img.dir, versions, at);
    if (problems.length > 0) failures.push(`crash before call #${img.n} (${img.call}):\n    ${problems.join('\n    ')}`);
    removeDir(img.dir);
  }
  return failures;
}

describe('a crash at every system call of a run is recovered (crash images)', { concurrency: false }, () => {
  it('first run: every crash image becomes a consistent backup equal to the source', async () => {
    const src = join(work, 'first', 'src');
    const dist = join(work, 'first', 'dist');
    scenarioState1(src);
    const img = imagingFs(dist, join(work, 'first', 'img'), { torn: true });
    const o = await backup(src, dist, { fs: img.fs, at: T1 });
    assert.equal(o.status, 'done');
    assert.deepEqual(o.errors, []);
    assert.deepEqual(checkBackup(dist, { source: src }), []);
    assert.ok(img.images.length > 40, `only ${img.images.length} crash images`);
    const failures = await checkImages(src, img.images, [], T3);
    assert.deepEqual(failures, [], `${failures.length} of ${img.images.length} crash images were not recovered`);
  });

  it('first run over four batches, folders made between them: sampled crash images each become a consistent backup equal to the source', async () => {
    // A first run stores while it walks: each batch's folders are announced just before the batch is
    // handed out, and made once that announcement's fsync is over (off the main thread), so while
    // the batches before it are still being copied, flushed and placed (Applier.putAll). With
    // per-file fsync a batch is 256 puts: 896 files make four.
    const undo = perFileDurability();
    try {
      const src = join(work, 'batches', 'src');
      for (let t = 0; t < 7; t++) {
        for (let s = 0; s < 8; s++) {
          const d = join(src, `t${t}`, `s${s}`);
          fs.mkdirSync(d, { recursive: true });
          // Tracked (*.txt: linked into the increment) and untracked (*.log) files.
          for (let f = 0; f < 16; f++) fs.writeFileSync(join(d, f % 5 === 0 ? `u${f}.log` : `f${f}.txt`), `${t}/${s}/${f}\n`);
        }
        // Empty folders: made 0700, their mode set only at the end (or by the recovery of a crash).
        fs.mkdirSync(join(src, `t${t}`, 'empty'));
      }
      fs.chmodSync(join(src, 't2'), 0o750);

      // A first pass without images lists the run's calls; the second images a sample of them.
      const calls: string[] = [];
      const probe = imagingFs(join(work, 'batches', 'probe'), join(work, 'batches', 'probe-img'), { pick: (_, call) => (calls.push(call), false) });
      const first = await backup(src, join(work, 'batches', 'probe'), { fs: probe.fs, at: T1 });
      assert.equal(first.status, 'done');
      assert.equal(first.summary.new, 7 + 56 + 896 + 7);
      const placed = calls.findIndex((c) => c.startsWith('renameSync .hardback/tmp/'));
      const folderMade = (c: string) => /^mkdirSync mirror\/./.test(c);
      const between = calls.map((c, i) => (i > placed && folderMade(c) ? i : -1)).filter((i) => i >= 0);
      assert.ok(placed > 0 && between.length >= 3, `${between.length} folders made after the first file was placed`);

      // Every 50th call; every folder made, and the few calls before each folder made between
      // batches; the end of the run (folder modes, increment.json, manifest, journal removal).
      // Numbers are 1-based. The folders are made when an fsync on libuv's threadpool is over, so
      // their numbers may differ between the two passes: the imaging pass picks them by call too.
      const picked = new Set<number>();
      calls.forEach((c, i) => {
        if ((i + 1) % 50 === 0 || i >= calls.length - 12) picked.add(i + 1);
        if (folderMade(c)) picked.add(i + 1);
      });
      for (const i of between.filter((i) => !folderMade(calls[i - 1] as string))) for (let k = i - 3; k <= i; k++) picked.add(k + 1);

      const dist = join(work, 'batches', 'dist');
      const img = imagingFs(dist, join(work, 'batches', 'img'), { torn: true, pick: (n, call) => picked.has(n) || folderMade(call) });
      const o = await backup(src, dist, { fs: img.fs, at: T1 });
      assert.equal(o.status, 'done');
      assert.deepEqual(o.errors, []);
      assert.equal(img.calls(), calls.length, 'the same calls as the first pass');
      assert.deepEqual(checkBackup(dist, { source: src }), []);
      assert.ok(img.images.length >= 120, `only ${img.images.length} crash images`);
      assert.ok(img.images.filter((im) => im.n > placed + 1 && /^mkdirSync mirror\/./.test(im.call)).length >= 3, 'images just before folders made between batches');
      assert.ok(img.images.some((im) => im.torn === true), 'a torn journal line among them');
      const failures = await checkImages(src, img.images, [], T3);
      assert.deepEqual(failures, [], `${failures.length} of ${img.images.length} crash images were not recovered`);
    } finally {
      undo();
    }
  });

  it('incremental run with every kind of change: every crash image recovers and keeps every earlier version', async () => {
    const { src, dist, versions } = await fixture('incremental');
    const img = imagingFs(dist, join(work, 'incremental', 'img'), { torn: true });
    const o = await backup(src, dist, { fs: img.fs, at: T2 });
    assert.equal(o.status, 'done');
    assert.deepEqual(o.errors, []);
    assert.deepEqual(checkBackup(dist, { source: src, versions }), []);
    assert.ok(o.summary.deleted >= 4 && o.summary.new >= 5 && o.summary.changed >= 4, JSON.stringify(o.summary));
    assert.ok(img.images.length > 60, `only ${img.images.length} crash images`);
    const failures = await checkImages(src, img.images, versions, T3);
    assert.deepEqual(failures, [], `${failures.length} of ${img.images.length} crash images were not recovered`);
  });

  it('runs that write the manifest delta, then rewrite it whole: every crash image recovers', async () => {
    // Enough entries that one changed file goes to the delta (an eighth of the manifest at most).
    const src = join(work, 'delta', 'src');
    const dist = join(work, 'delta', 'dist');
    scenarioState1(src);
    for (let i = 0; i < 60; i++) fs.writeFileSync(join(src, `filler-${i}.txt`), `filler ${i}\n`);
    assert.equal((await backup(src, dist, { at: T1 })).status, 'done');
    const layout = new Layout(dist);
    const failures: string[] = [];
    const imaged = async (name: string, at: Date, change: () => void, expect: (delta: boolean) => string | undefined) => {
      change();
      const versions = completeVersions(dist);
      const img = imagingFs(dist, join(work, 'delta', name), { torn: true });
      const o = await backup(src, dist, { fs: img.fs, at });
      assert.equal(o.status, 'done', name);
      const wrong = expect(fs.existsSync(layout.manifestDelta));
      if (wrong !== undefined) failures.push(`${name}: ${wrong}`);
      assert.deepEqual(checkBackup(dist, { source: src, versions }), [], name);
      for (const f of await checkImages(src, img.images, versions, T3)) failures.push(`${name}: ${f}`);
      return img.images.length;
    };
    const small = await imaged('small', T2, () => fs.writeFileSync(join(src, 'a.txt'), 'alpha v2\n'), (delta) => (delta ? undefined : 'no delta was written'));
    const again = await imaged('again', new Date(T2.getTime() + 60_000), () => fs.writeFileSync(join(src, 'filler-3.txt'), 'filler 3, v2\n'), (delta) => (delta ? undefined : 'no delta was written'));
    const whole = await imaged('whole', new Date(T2.getTime() + 120_000), () => scenarioState2(src), (delta) => (delta ? 'the delta outlived the whole write' : undefined));
    assert.ok(small > 10 && again > 10 && whole > 30, `crash images: ${small}, ${again}, ${whole}`);
    assert.deepEqual(failures, []);
  });

  it('a crash during the recovery of a crash is recovered too (recovery is idempotent)', async () => {
    // Crash images of the incremental run that hold a journal, then every image of their recovery.
    const { src, dist, versions } = await fixture('nested');
    const outer = imagingFs(dist, join(work, 'nested', 'img'), { every: 7 });
    await backup(src, dist, { fs: outer.fs, at: T2 });
    const failures: string[] = [];
    let nested = 0;
    for (const im of outer.images) {
      if (!fs.existsSync(new Layout(im.dir).journal)) {
        removeDir(im.dir);
        continue;
      }
      const inner = imagingFs(im.dir, `${im.dir}-rec`);
      const layout = new Layout(im.dir);
      recoverInterruptedRun(inner.fs, layout, () => durabilityFor(im.dir, true));
      sweepTmp(inner.fs, layout);
      repairBareIncrements(inner.fs, layout, src, 'default');
      nested += inner.images.length;
      for (const f of await checkImages(src, inner.images, versions, T3)) failures.push(`[outer crash before #${im.n} ${im.call}] ${f}`);
      removeDir(im.dir);
      removeDir(`${im.dir}-rec`);
    }
    assert.ok(nested > 50, `only ${nested} crash images of recoveries`);
    assert.deepEqual(failures, [], `${failures.length} of ${nested} crash-during-recovery images were not recovered`);
  });
});

describe('a fault at the Nth call of renameSync / linkSync / unlinkSync / writeSync', { concurrency: false }, () => {
  for (const op of ['renameSync', 'linkSync', 'unlinkSync', 'writeSync'] as const) {
    for (const code of ['ENOSPC', 'EIO', 'EACCES']) {
      const fatal = code !== 'EACCES';
      it(`${op} failing with ${code} at every call: ${fatal ? 'exit 1 with a clear message' : 'the run goes on or stops cleanly'}, backup consistent, next run completes`, async () => {
        const { src, dist: base, versions } = await fixture(`fault-${op}-${code}`);
        // How many such calls does the incremental run make?
        const probeDist = `${base}-count`;
        copyExact(base, probeDist);
        const counter = nthCallFault(probeDist, op, 0, code);
        await backup(src, probeDist, { fs: counter.fs, at: T2 });
        removeDir(probeDist);
        const total = counter.count();
        assert.ok(total >= 3, `${op}: only ${total} calls`);
        const failures: string[] = [];
        for (let at = 1; at <= total; at++) {
          const dist = `${base}-${at}`;
          copyExact(base, dist);
          const fault = nthCallFault(dist, op, at, code);
          const where = `${op} #${at} ${code}`;
          const problems: string[] = [];
          let threw = false;
          try {
            const o = await backup(src, dist, { fs: fault.fs as Fs, at: T2 });
            if (fatal && fault.hits() > 0 && o.errors.some((e) => e.code === code)) problems.push(`a fatal ${code} was treated as a per-file error`);
          } catch (err) {
            threw = true;
            const msg = (err as Error).message;
            if (code === 'ENOSPC' && !/full|no space left/i.test(msg)) problems.push(`ENOSPC without a clear message: ${msg}`);
            if (!(err instanceof HardbackError) && !('code' in (err as object))) problems.push(`unexpected exception: ${(err as Error).stack}`);
          }
          // Right after the failed run: consistent as before (or a journal the next run finishes).
          const journalKept = fs.existsSync(new Layout(dist).journal);
          problems.push(...checkBackup(dist, { versions, allowJournal: journalKept, allowLock: threw }).map((p) => `after the faulty run: ${p}`));
          problems.push(...(await recoverAndCheck(src, dist, versions, T3)).map((p) => `after the next run: ${p}`));
          if (problems.length > 0) failures.push(`${where}:\n    ${problems.join('\n    ')}`);
          removeDir(dist);
        }
        assert.deepEqual(failures, [], `${failures.length} of ${total} fault points left a problem`);
      });
    }
  }
});

describe('a per-file fault followed by a crash', { concurrency: false }, () => {
  it('a deletion that failed (EACCES on unlink of a type-swapped file), then a crash: nothing is recorded that did not happen', async () => {
    const { src, dist, versions } = await fixture('swapfault');
    const base = faultyFs({ unlinkSync: (p) => String(p) === join(dist, 'mirror', 'swap') && 'EACCES' });
    const img = imagingFs(dist, join(work, 'swapfault', 'img'), { base });
    const o = await backup(src, dist, { fs: img.fs, at: T2 });
    assert.ok(o.errors.some((e) => e.path === 'swap'), `the failed deletion is listed: ${JSON.stringify(o.errors)}`);
    assert.deepEqual(checkBackup(dist, { versions }), [], 'the run itself leaves a consistent backup');
    const failures = await checkImages(src, img.images, versions, T3);
    assert.deepEqual(failures, [], `${failures.length} of ${img.images.length} crash images were not recovered`);
  });
});

describe('without root', () => {
  it('the crash images and per-file faults recover the same when the run is not root (read-only folders are opened and closed again)', (t) => {
    if (!isRootUser()) return t.skip('needs root to start the run as nobody (as nobody, the tests above already are that run)');
    const self = fileURLToPath(import.meta.url);
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // a plain TAP run, not the parent runner's child protocol
    const r = spawnSync(
      'runuser',
      ['-u', 'nobody', '--', process.execPath, '--test', '--test-name-pattern=every kind of change|with EACCES|per-file fault', self],
      { encoding: 'utf8', cwd: tmpdir(), env, timeout: 120_000 },
    );
    assert.equal(r.status, 0, `as nobody:\n${r.stdout.split('\n').filter((l) => /not ok|error|crash before|after the/.test(l)).slice(0, 40).join('\n')}`);
    assert.match(r.stdout, /# pass [1-9]/);
    assert.match(r.stdout, /# fail 0/);
  });
});
