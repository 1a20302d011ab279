import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TOOL_JS, readTree, removeDir, sha256File, tempDir, treeView } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { makeCrashTree, runAndKill } from '../helpers/crash.js';

/**
 * Issue #4, the restore side of SPEC §6 "Interruption", with the real programs: `backup-tool
 * recreate --to DIR` is killed with SIGKILL at moments spread over a run and at points of its
 * progress (files reaching the staging folder, the first entry moved into place), then run again.
 * The rerun must exit 0 (files the killed run completed are identical, never conflicts), the target must then
 * equal the source exactly (content, mode, mtime to the ms; folders; symlinks), and no
 * `.hb-restore-*` temp file or staging folder may be left. After the kill, every file at a final path
 * must already be complete. Then `restore PATH --to DIR` of a big file is killed in the middle of its
 * copy, into a folder that holds something (temp file per file) and into a new one (staging folder).
 */

let work = '';
let src = '';
let dist = '';
let backupJs = '';

const SMALL_DIRS = 20;
const SMALL_PER_DIR = 100;
const BIG_MIB = [5, 10, 20];
const TMP_RE = /^\.hb-restore-/;

before(() => {
  backupJs = ensureBuilt();
  if (!fs.existsSync(TOOL_JS)) throw new Error(`${TOOL_JS} is missing after the build`);
  work = tempDir('hb-kill-restore-');
  src = join(work, 'src');
  dist = join(work, 'dist');
  makeCrashTree(src, { dirs: SMALL_DIRS, perDir: SMALL_PER_DIR, bigMib: BIG_MIB });
  fs.chmodSync(join(src, 'docs', 'd03', 'f001.txt'), 0o755);
  fs.chmodSync(join(src, 'empty'), 0o700);
  fs.symlinkSync('nowhere/at/all', join(src, 'docs', 'd05', 'dangling'));
  const cfg = join(work, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src, dist, max_workers: 4 }));
  const r = spawnSync(process.execPath, [backupJs, cfg, '--quiet'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`the backup failed (${r.status}): ${r.stderr}`);
});
after(() => removeDir(work));

function tool(args: string[]): { code: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [TOOL_JS, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** Starts `backup-tool ARGS`; kills it with SIGKILL after delayMs, or as soon as `killWhen()` says so (polled). */
const runToolAndKill = (args: string[], delayMs: number, killWhen?: () => boolean) => runAndKill(TOOL_JS, args, delayMs, killWhen);

/** Every `.hb-restore-*` entry below root, as relative paths. */
function tempFiles(root: string, rel = '', out: string[] = []): string[] {
  if (!fs.existsSync(join(root, rel))) return out;
  for (const name of fs.readdirSync(join(root, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    if (TMP_RE.test(name)) out.push(r);
    if (fs.lstatSync(join(root, r)).isDirectory()) tempFiles(root, r, out);
  }
  return out;
}

/** Files at their final path in a killed target whose content differs from the source's (half-written ones). */
function incompleteFiles(target: string, source: Map<string, string>): string[] {
  if (!fs.existsSync(target)) return [];
  const bad: string[] = [];
  for (const [rel, item] of readTree(target, { skip: (r) => TMP_RE.test(r.slice(r.lastIndexOf('/') + 1)) })) {
    if (item.type !== 'file') continue;
    const want = source.get(rel);
    if (want === undefined) bad.push(`${rel}: not in the source`);
    else if (want !== item.sha256) bad.push(`${rel}: content differs from the source (${item.size} bytes)`);
  }
  return bad;
}

/** Differences between two tree views, at most a few, for a readable failure. */
function diff(want: Record<string, string>, got: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (want[k] !== got[k]) out.push(`${k}: want ${want[k] ?? '(absent)'}, got ${got[k] ?? '(absent)'}`);
  }
  return out.length > 8 ? [...out.slice(0, 8), `… and ${out.length - 8} more`] : out;
}

it('kill -9 at moments spread over a recreate: the rerun exits 0 and the target equals the source', { timeout: 120_000 }, async (t) => {
  const sourceTree = readTree(src);
  const want = treeView(sourceTree, { mtimes: true });
  const shas = new Map<string, string>();
  for (const [k, v] of sourceTree) if (v.type === 'file') shas.set(k, v.sha256 as string);
  assert.ok(shas.size > 2000, `the source has only ${shas.size} files`);

  // How long does a full recreate take here?
  const calib = join(work, 'calib');
  const full = tool([dist, 'recreate', '--to', calib]);
  assert.equal(full.code, 0, full.stderr);
  assert.deepEqual(diff(want, treeView(readTree(calib), { mtimes: true })), [], 'an uninterrupted recreate does not give back the source');
  removeDir(calib);
  const D = full.ms;
  t.diagnostic(`a full recreate takes ${D} ms`);

  // Kills at moments spread over the run, and kills at points of its progress (on a busy machine
  // the run's length varies too much for times alone to land inside the copying): in the staging
  // folder, a file of an early folder, of a late one, a big file; then the first entry moved into place.
  const staged = (target: string, rel: string) => () => {
    if (!fs.existsSync(target)) return false;
    return fs.readdirSync(target).some((n) => TMP_RE.test(n) && (rel === '' || fs.existsSync(join(target, n, rel))));
  };
  const rounds: { delay: number; when?: (target: string) => () => boolean; what: string }[] = [
    ...[0.3, 0.5, 0.7, 0.9].map((f) => ({ delay: Math.round(f * D), what: `after ${Math.round(f * D)} ms` })),
    { delay: 20 * D, when: (t: string) => staged(t, ''), what: 'when the staging folder appears' },
    { delay: 20 * D, when: (t: string) => staged(t, 'docs/d03/f050.txt'), what: 'when docs/d03/f050.txt is staged' },
    { delay: 20 * D, when: (t: string) => staged(t, 'docs/d16/f020.txt'), what: 'when docs/d16/f020.txt is staged' },
    { delay: 20 * D, when: (t: string) => staged(t, 'media/big-1.bin'), what: 'when media/big-1.bin is staged' },
    { delay: 20 * D, when: (t: string) => () => fs.existsSync(join(t, 'docs')), what: 'when docs is moved into place' },
  ];
  const failures: string[] = [];
  let partial = 0;
  let tempsLeft = 0;
  for (const [i, round] of rounds.entries()) {
    const target = join(work, `target-${i}`);
    const k = await runToolAndKill([dist, 'recreate', '--to', target], round.delay, round.when?.(target));
    const problems: string[] = [];
    if (!k.killed && k.code !== 0) problems.push(`the run to be killed exited ${k.code} on its own`);
    const leftAfterKill = tempFiles(target);
    if (leftAfterKill.length > 0) tempsLeft++;
    if (k.killed && fs.existsSync(target) && diff(want, treeView(readTree(target, { skip: (r) => TMP_RE.test(r.slice(r.lastIndexOf('/') + 1)) }), { mtimes: true })).length > 0) partial++;
    problems.push(...incompleteFiles(target, shas).map((p) => `after the kill, a half-written file at its final path: ${p}`));

    const r = tool([dist, 'recreate', '--to', target]);
    if (r.code !== 0) problems.push(`the rerun exited ${r.code}:\n${r.stderr}`);
    const d = diff(want, treeView(readTree(target), { mtimes: true }));
    if (d.length > 0) problems.push(`the target differs from the source:\n      ${d.join('\n      ')}`);
    const left = tempFiles(target);
    if (left.length > 0) problems.push(`temp files left after the rerun (${leftAfterKill.length} after the kill): ${left.join(', ')}`);
    if (problems.length > 0) failures.push(`round ${i} (SIGKILL ${round.what}${k.killed ? '' : ', too late: it had finished'}):\n    ${problems.join('\n    ')}`);
    removeDir(target);
  }
  t.diagnostic(`${partial} of ${rounds.length} kills left a partial target; ${tempsLeft} left a temp file or staging folder behind`);
  assert.deepEqual(failures, []);
  assert.ok(partial >= 3, `only ${partial} kills landed inside the writing part of a recreate: the tree is too small for this machine`);
});

it('kill -9 in the middle of `restore PATH --to DIR` of a big file: no partial file at the final path, and the rerun completes', { timeout: 90_000 }, async (t) => {
  const rel = 'media/big-2.bin';
  const want = readTree(src).get(rel);
  assert.ok(want !== undefined && want.type === 'file');
  const failures: string[] = [];
  let midCopy = 0;
  // Rounds 0-2 into a folder that holds something already (each file to a temp file beside it),
  // rounds 3-5 into a new folder (everything into a staging folder, moved into place at the end).
  for (let round = 0; round < 6; round++) {
    const inPlace = round < 3;
    const target = join(work, `restore-${round}`);
    if (inPlace) {
      fs.mkdirSync(target);
      fs.writeFileSync(join(target, 'mine.txt'), 'mine');
    }
    const folder = join(target, 'media');
    // Kill as soon as the copy has begun: its temp file beside the final path, or the file in the staging folder.
    const copying = () =>
      inPlace
        ? fs.existsSync(folder) && fs.readdirSync(folder).some((n) => TMP_RE.test(n))
        : fs.existsSync(target) && fs.readdirSync(target).some((n) => TMP_RE.test(n) && fs.existsSync(join(target, n, rel)));
    const k = await runToolAndKill([dist, 'restore', rel, '--to', target], 30_000, copying);
    const problems: string[] = [];
    if (!k.killed) problems.push(`it was not killed: it exited ${k.code} before the copy was seen`);
    const temps = tempFiles(target);
    const final = join(target, rel);
    if (temps.length > 0) midCopy++;
    if (fs.existsSync(final)) {
      const st = fs.statSync(final);
      if (st.size !== want.size || sha256File(final) !== want.sha256) problems.push(`after the kill, ${rel} is at its final path with ${st.size} of ${want.size} bytes or other content`);
    }
    const r = tool([dist, 'restore', rel, '--to', target]);
    if (r.code !== 0) problems.push(`the rerun exited ${r.code}:\n${r.stderr}`);
    const got = readTree(target).get(rel);
    if (got === undefined) problems.push(`the rerun left no ${rel}`);
    else {
      const v = (x: typeof want) => [x.type, x.mode.toString(8), x.size, x.sha256, x.mtimeMs].join(' ');
      if (v(got) !== v(want)) problems.push(`${rel} after the rerun: want ${v(want)}, got ${v(got)}`);
    }
    const left = tempFiles(target);
    if (left.length > 0) problems.push(`temp files left after the rerun: ${left.join(', ')}`);
    if (problems.length > 0) failures.push(`round ${round} (${inPlace ? 'in place' : 'new folder'}):\n    ${problems.join('\n    ')}`);
    removeDir(target);
  }
  t.diagnostic(`${midCopy} of 6 kills left the copy's temp file or staging folder behind`);
  assert.deepEqual(failures, []);
  assert.ok(midCopy >= 2, 'no kill landed in the middle of the copy');
});
