import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { removeDir, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { checkBackup, completeVersions, readIncrement, type Version } from '../helpers/fault-check.js';
import { interruptedIncrementKept, interruptedRun } from '../helpers/fault-scenario.js';
import { makeCrashTree, runAndKill } from '../helpers/crash.js';

/**
 * SPEC §6 "Interruption" with the real program: `node build/backup.js` is killed with SIGKILL at a
 * dozen moments spread over a run (from before it starts to after it ends) and at four points of its
 * progress, then run again to completion. After each complete run the backup must be whole: mirror equal to the source, every
 * increment readable and correct, every version an earlier complete run saved still there, no
 * temp file, no journal, and the killed run's increment marked `"complete": false` (or removed when
 * nothing of it had reached the mirror).
 */

let work = '';
let src = '';
let dist = '';
let cfg = '';
let backupJs = '';

const SMALL_DIRS = 30;
const SMALL_PER_DIR = 100;
const BIG_MIB = [5, 8, 12, 20];

function allFiles(root: string, rel = '', out: string[] = []): string[] {
  for (const name of fs.readdirSync(join(root, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = fs.lstatSync(join(root, r));
    if (st.isDirectory()) allFiles(root, r, out);
    else if (st.isFile()) out.push(r);
  }
  return out;
}

before(() => {
  backupJs = ensureBuilt();
  work = tempDir('hb-kill-');
  src = join(work, 'src');
  dist = join(work, 'dist');
  makeCrashTree(src, { dirs: SMALL_DIRS, perDir: SMALL_PER_DIR, bigMib: BIG_MIB });
  cfg = join(work, 'config.json');
  // media/big-0.bin is tracked, the other big files are mirrored only (they keep no history).
  fs.writeFileSync(cfg, JSON.stringify({ src, dist, track_dirs: ['docs'], track_files: ['media/big-0.bin', 'media/link'], max_workers: 4 }));
});
after(() => removeDir(work));

function runToEnd(config: string): { code: number | null; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [backupJs, config], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

const runBackupAndKill = (delayMs: number) => runAndKill(backupJs, [cfg, '--quiet'], delayMs);

/** Gives every file a new mtime: the next run stores all of them again (a full-size run to kill). */
function touchAll(stamp: number): void {
  for (const f of allFiles(src)) fs.utimesSync(join(src, f), stamp, stamp);
}

/** A new folder (mode 0750) with some files: the run to be killed creates folders, and a moved one. */
function newFolder(i: number): void {
  const dir = join(src, 'docs', `round-${i}`);
  fs.mkdirSync(join(dir, 'sub'), { recursive: true });
  for (let f = 0; f < 20; f++) fs.writeFileSync(join(dir, f % 2 ? 'sub' : '', `r${f}.txt`), randomBytes(200 + f));
  fs.chmodSync(dir, 0o750);
  if (i > 0) fs.renameSync(join(src, 'docs', `round-${i - 1}`), join(src, 'docs', `moved-${i - 1}`));
}

/** A few real edits between runs: changed content, a deletion, a new file, a grown big file. */
function editFew(i: number): void {
  const d = `docs/d${String(10 + (i % 10)).padStart(2, '0')}`;
  fs.writeFileSync(join(src, d, `f${String(i).padStart(3, '0')}.txt`), `edited in round ${i}\n`);
  fs.rmSync(join(src, d, `f${String(50 + i).padStart(3, '0')}.txt`), { force: true });
  fs.writeFileSync(join(src, d, `new-${i}.txt`), randomBytes(300));
  fs.appendFileSync(join(src, 'media', `big-${i % BIG_MIB.length}.bin`), randomBytes(4096));
}

it('kill -9 at sixteen moments of a run: the next run finishes the job and nothing is lost', { timeout: 120_000 }, async (t) => {
  // How long does a full run take here? (a throwaway destination)
  const calib = join(work, 'calib.json');
  fs.writeFileSync(calib, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), dist: join(work, 'calib-dist') }));
  const full = runToEnd(calib);
  assert.equal(full.code, 0, full.stderr);
  removeDir(join(work, 'calib-dist'));
  const D = full.ms;
  t.diagnostic(`a full run takes ${D} ms`);
  // From before the program has started to after it has finished; mixed so that first, full runs are hit too.
  // Timed kills drift on a busy machine, so four more rounds kill at points of progress: once the
  // journal holds that many bytes (a full round announces ~1 MB of puts).
  const delays: (number | { journalBytes: number })[] = [0.4, 5, 0.7, 30, 0.2, 60, 0.5, 0.1, 0.85, 0.3, 0.6, 1.1].map((f) => (f < 2 ? Math.round(f * D) : f));
  delays.splice(3, 0, { journalBytes: 1 });
  delays.splice(7, 0, { journalBytes: 100_000 });
  delays.splice(11, 0, { journalBytes: 400_000 });
  delays.splice(14, 0, { journalBytes: 700_000 });
  const journalFile = join(dist, '.hardback', 'journal.jsonl');
  const journalBytes = (): number => fs.statSync(journalFile, { throwIfNoEntry: false })?.size ?? 0;

  const failures: string[] = [];
  let interruptedMidRun = 0;
  let markedIncomplete = 0;
  let stamp = 1_750_000_000;
  for (const [i, delay] of delays.entries()) {
    const versions: Version[] = completeVersions(dist);
    touchAll(stamp++);
    newFolder(i);
    const k = typeof delay === 'number' ? await runBackupAndKill(delay) : await runAndKill(backupJs, [cfg, '--quiet'], 60_000, () => journalBytes() >= delay.journalBytes);
    if (!k.killed && k.code !== 0) failures.push(`round ${i}: the run to be killed exited ${k.code} on its own`);
    const pending = fs.existsSync(dist) ? interruptedRun(dist) : undefined;
    const lockLeft = fs.existsSync(join(dist, '.hardback', 'lock'));
    if (pending !== undefined) interruptedMidRun++;

    editFew(i);
    const r = runToEnd(cfg);
    const problems: string[] = [];
    if (r.code !== 0) problems.push(`the next run exited ${r.code}: ${r.stderr}`);
    if (lockLeft && !/took over a stale lock/.test(r.stderr)) problems.push(`the killed run's lock was not taken over with a notice: ${r.stderr}`);
    if (pending !== undefined && !/finished the interrupted run/.test(r.stderr)) problems.push(`no notice about the interrupted run: ${r.stderr}`);
    problems.push(...checkBackup(dist, { source: src, versions }));
    if (pending !== undefined) {
      const exists = interruptedIncrementKept(dist, pending);
      const inc = readIncrement(dist, pending.id);
      if (pending.done > 0 && !exists) problems.push(`the interrupted increment ${pending.id} (${pending.done} changes done) was removed`);
      if (pending.done === 0 && exists && !pending.wasComplete) problems.push(`the interrupted increment ${pending.id}, with nothing done, was kept`);
      if (exists && inc.ok && inc.value.complete !== pending.wasComplete) problems.push(`the interrupted increment ${pending.id} says "complete": ${inc.value.complete}`);
      if (exists && inc.ok && !inc.value.complete) markedIncomplete++;
    }
    const when = typeof delay === 'number' ? `after ${delay} ms` : `at ${delay.journalBytes} journal bytes`;
    if (problems.length > 0) failures.push(`round ${i} (SIGKILL ${when}${k.killed ? '' : ', too late: it had finished'}):\n    ${problems.join('\n    ')}`);
  }
  t.diagnostic(`${interruptedMidRun} of ${delays.length} kills interrupted a run after its journal was written; ${markedIncomplete} increments are marked "complete": false`);
  assert.deepEqual(failures, []);
  assert.ok(interruptedMidRun >= 3, `only ${interruptedMidRun} kills landed inside the journaled part of a run: the tree is too small for this machine`);
  assert.ok(markedIncomplete >= 1, 'no interrupted increment was kept as "complete": false');
});
