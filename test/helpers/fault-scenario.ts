import * as fs from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Fs } from '../../src/io/fs.js';
import { realFs } from '../../src/io/fs.js';
import { runBackup, type BackupOutcome } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import type { Profile } from '../../src/config/profiles.js';
import { Layout } from '../../src/store/layout.js';
import { happened, readJournal } from '../../src/store/journal.js';
import { makeTree, profileFor } from './tree.js';
import { checkBackup, deadPid, readIncrement, type Version } from './fault-check.js';

/**
 * A small source with every kind of change (SPEC §3): tracked and untracked files, a changed file, a
 * mode change, a folder mode change, a deletion, a move, a type swap each way, a symlink retarget,
 * new files and folders, an empty folder, a read-only folder.
 */
export const SCENARIO_RULES = { track_files: ['**/*.txt', '**/*.md', '**/*.bin', 'swap', 'link'] };

const T = 1_700_000_000;
const setTime = (p: string, s: number) => fs.utimesSync(p, s + 0.123456, s + 0.123456);

export function scenarioState1(src: string): void {
  makeTree(src, {
    'a.txt': 'alpha v1\n',
    'big.bin': randomBytes(300 * 1024),
    'e.txt': { content: 'mode changes\n', mode: 0o644 },
    'docs/b.md': '# b v1\n',
    'docs/c.md': '# c, to be deleted\n',
    'docs/sub/d.txt': 'd moves to moved/d.txt\n',
    swap: 'a file that becomes a folder\n',
    'swapdir/x.txt': 'a folder that becomes a file\n',
    link: { symlink: 'a.txt' },
    'notes.log': 'untracked v1\n',
    'old.log': 'untracked, to be deleted\n',
    empty: { dir: true },
    'ro/f.txt': 'in a read-only folder\n',
  });
  fs.chmodSync(join(src, 'docs'), 0o755);
  fs.chmodSync(join(src, 'ro'), 0o555);
  let k = 0;
  for (const f of ['a.txt', 'big.bin', 'e.txt', 'docs/b.md', 'docs/c.md', 'docs/sub/d.txt', 'swap', 'swapdir/x.txt', 'notes.log', 'old.log', 'ro/f.txt']) {
    setTime(join(src, f), T + k++);
  }
}

export function scenarioState2(src: string): void {
  const p = (r: string) => join(src, r);
  fs.writeFileSync(p('a.txt'), 'alpha v2, longer\n');
  setTime(p('a.txt'), T + 100);
  const big = fs.readFileSync(p('big.bin'));
  big[1000] = (big[1000] ?? 0) ^ 0xff;
  fs.writeFileSync(p('big.bin'), big);
  setTime(p('big.bin'), T + 101);
  fs.chmodSync(p('e.txt'), 0o600);
  fs.writeFileSync(p('docs/b.md'), '# b v2\n');
  setTime(p('docs/b.md'), T + 102);
  fs.chmodSync(p('docs'), 0o750);
  fs.unlinkSync(p('docs/c.md'));
  fs.mkdirSync(p('moved'));
  fs.renameSync(p('docs/sub/d.txt'), p('moved/d.txt'));
  fs.unlinkSync(p('swap'));
  fs.mkdirSync(p('swap'));
  fs.writeFileSync(p('swap/inner.txt'), 'inside the new folder\n');
  setTime(p('swap/inner.txt'), T + 103);
  fs.rmSync(p('swapdir'), { recursive: true });
  fs.writeFileSync(p('swapdir'), 'now a file\n');
  setTime(p('swapdir'), T + 104);
  fs.unlinkSync(p('link'));
  fs.symlinkSync('e.txt', p('link'));
  fs.writeFileSync(p('notes.log'), 'untracked v2\n');
  setTime(p('notes.log'), T + 105);
  fs.unlinkSync(p('old.log'));
  // A change inside a read-only folder (0555): without root the run must open it for writing and close it again.
  fs.chmodSync(p('ro'), 0o755);
  fs.writeFileSync(p('ro/f.txt'), 'in a read-only folder, v2\n');
  fs.chmodSync(p('ro'), 0o555);
  fs.writeFileSync(p('n1.txt'), 'new file\n');
  fs.mkdirSync(p('newdir/deep'), { recursive: true });
  fs.writeFileSync(p('newdir/n2.txt'), 'new file in a new folder\n');
}

export interface Collected extends Reporter {
  notices: string[];
}
export function collectingReporter(): Collected {
  const notices: string[] = [];
  return { notices, notice: (m) => notices.push(m), progress: () => {}, action: () => {} };
}

export function scenarioProfile(src: string, dist: string, over: Partial<Profile> = {}): Profile {
  return profileFor(src, dist, { rules: SCENARIO_RULES, maxWorkers: 1, ...over });
}

export async function backup(src: string, dist: string, opts: { fs?: Fs; at: Date; force?: boolean; profile?: Partial<Profile> }): Promise<BackupOutcome & { notices: string[] }> {
  const reporter = collectingReporter();
  const o = await runBackup(scenarioProfile(src, dist, opts.profile), {
    fs: opts.fs ?? realFs,
    dryRun: false,
    force: opts.force ?? false,
    checksum: false,
    reporter,
    now: () => opts.at,
  });
  return { ...o, notices: reporter.notices };
}

let dead: number | undefined;
/** The image of a killed run still holds its lock: make it a lock of a dead process, as after a real kill. */
export function killLockHolder(dist: string): void {
  const lock = new Layout(dist).lock;
  if (!fs.existsSync(lock)) return;
  dead ??= deadPid();
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(fs.readFileSync(lock, 'utf8')) as Record<string, unknown>;
  } catch {
    // a torn lock file: replaced whole
  }
  fs.writeFileSync(lock, JSON.stringify({ ...info, pid: dead }));
}

/**
 * What the disk says about an interrupted run before the next run looks at it: its increment id, how
 * many announced changes reached the mirror, and whether its increment.json already said complete.
 */
export function interruptedRun(dist: string): { id: string; started: string; done: number; wasComplete: boolean } | undefined {
  const layout = new Layout(dist);
  const j = readJournal(fs, layout.journal);
  if (j === undefined) return undefined;
  const done = j.ops.filter((op) => happened(fs, layout, op)).length;
  const inc = readIncrement(dist, j.header.id);
  return { id: j.header.id, started: j.header.started, done, wasComplete: inc.ok && inc.value.complete };
}

/**
 * The interrupted run's increment, if it is still there. An interrupted run of which nothing reached
 * the mirror is removed, and the next run, started in the same second, may then take the same id:
 * that increment is the next run's, told apart by its start time.
 */
export function interruptedIncrementKept(dist: string, pending: { id: string; started: string }): boolean {
  if (!fs.existsSync(join(dist, 'increments', pending.id))) return false;
  const inc = readIncrement(dist, pending.id);
  return !inc.ok || inc.value.started === pending.started;
}

/**
 * The next run after a crash image: it must finish cleanly, leave a consistent backup equal to the
 * source that keeps every earlier complete version, mark the interrupted increment incomplete (or
 * remove it when nothing of it reached the mirror), and a run after it must find nothing to do.
 */
export async function recoverAndCheck(src: string, dist: string, versions: readonly Version[], at: Date): Promise<string[]> {
  const problems: string[] = [];
  killLockHolder(dist);
  const pending = interruptedRun(dist);
  let o: BackupOutcome;
  try {
    o = await backup(src, dist, { at });
  } catch (err) {
    return [`the run after the crash failed: ${(err as Error).message}`];
  }
  if (o.errors.length > 0) problems.push(`the run after the crash reported errors: ${JSON.stringify(o.errors)}`);
  problems.push(...checkBackup(dist, { source: src, versions }));
  if (pending !== undefined) {
    const inc = readIncrement(dist, pending.id);
    const exists = interruptedIncrementKept(dist, pending);
    if (pending.done > 0 && !exists) problems.push(`interrupted increment ${pending.id} (${pending.done} changes done) was removed`);
    if (pending.done === 0 && exists && !pending.wasComplete) problems.push(`interrupted increment ${pending.id} with nothing done was kept`);
    if (exists && inc.ok && inc.value.complete && !pending.wasComplete) problems.push(`interrupted increment ${pending.id} claims "complete": true`);
    if (exists && inc.ok && !inc.value.complete && inc.value.interrupted === undefined) problems.push(`interrupted increment ${pending.id} lacks "interrupted"`);
  }
  try {
    const again = await backup(src, dist, { at: new Date(at.getTime() + 1000) });
    if (again.status !== 'no-change') problems.push(`a second run still found changes: ${JSON.stringify(again.summary)}`);
  } catch (err) {
    problems.push(`a second run failed: ${(err as Error).message}`);
  }
  return problems;
}
