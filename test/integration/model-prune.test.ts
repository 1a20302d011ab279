/**
 * Seeded randomized model test for prune (issue #6): a random history of backups (random edits, runs
 * hours to days apart), then rounds of random retention policies; after each prune the removed
 * increments are exactly the policy's non-kept ones, and `recreate --at K` of EVERY kept increment K
 * still gives the selection the model recorded at K. Replay a failure with HB_SEED=<seed> (printed in
 * every failure).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { runPrune } from '../../src/apply/prune.js';
import { silentReporter } from '../../src/apply/reporter.js';
import type { KeepPolicy } from '../../src/config/profiles.js';
import { compareIds } from '../../src/store/ids.js';
import { profileFor, tempDir } from '../helpers/tree.js';
import { tool } from '../helpers/tool.js';
import { makeRng, MODEL_RULES, seedFromEnv, SourceModel, type SnapEntry, type Snapshot } from '../helpers/model.js';
import { forceRemove, incrementIds, readDiskTree, type DiskEntry } from '../helpers/model-dist.js';

const SEED = seedFromEnv();
const FIRST_RUNS = 15;
const ROUNDS = 3;
const RUNS_BETWEEN = 3;
const EDITS_PER_BATCH = 12;
const HOUR = 3_600_000;
/** Increment times start here (crossing a year end, so yearly/monthly buckets matter too). */
const BASE = Date.UTC(2025, 10, 20, 9, 0, 0);

const dirs: string[] = [];
after(() => {
  // HB_KEEP_TREES=1 leaves the trees for inspection (their path is in the failure message).
  if (process.env.HB_KEEP_TREES === '1') return;
  for (const d of dirs) forceRemove(d);
});


const mtimeMsOf = (ns: string | bigint): number => Number(BigInt(ns) / 1_000_000n);

/** What recreate must reproduce of an entry: files content+mode+mtime (ms), folders mode, symlinks target. */
function viewSnap(e: SnapEntry): string {
  if (e.type === 'file') return `file ${e.mode.toString(8)} ${e.size} ${e.sha256} ${mtimeMsOf(e.mtimeNs ?? '0')}`;
  if (e.type === 'dir') return `dir ${e.mode.toString(8)}`;
  return `symlink ${e.target}`;
}
function viewDisk(e: DiskEntry): string {
  if (e.type === 'file') return `file ${e.mode.toString(8)} ${e.size} ${e.sha256} ${mtimeMsOf(e.mtimeNs)}`;
  if (e.type === 'dir') return `dir ${e.mode.toString(8)}`;
  if (e.type === 'symlink') return `symlink ${e.target}`;
  return 'other';
}

/** The same version of a file (what the tool's sameVersion compares). */
const sameVersion = (a: SnapEntry | undefined, b: SnapEntry | undefined): boolean =>
  a !== undefined && b !== undefined && a.type === 'file' && b.type === 'file' && a.sha256 === b.sha256 && a.size === b.size && a.mtimeNs === b.mtimeNs && a.mode === b.mode;

describe(`randomized prune model (HB_SEED=${SEED})`, () => {
  it(`${FIRST_RUNS} runs, then ${ROUNDS} rounds of random policies; every kept increment recreates its recorded state`, { timeout: 120_000 }, async (t) => {
    t.diagnostic(`HB_SEED=${SEED}`);
    const rand = makeRng(SEED ^ 0x5eed1e55);
    const int = (n: number) => Math.floor(rand() * n);
    const root = tempDir('hb-model-prune-');
    dirs.push(root);
    const src = join(root, 'src');
    const dist = join(root, 'dist');
    const profile = profileFor(src, dist, { rules: MODEL_RULES, maxWorkers: 3 });
    const model = new SourceModel(src, SEED);
    const history: string[] = [];

    const fail = (where: string, err: unknown): never => {
      const e = err instanceof Error ? err : new Error(String(err));
      e.message = `[HB_SEED=${SEED} ${where}] ${e.message}\n  history:\n    ${history.join('\n    ')}\n  last edits:\n    ${model.log.slice(-EDITS_PER_BATCH).join('\n    ')}`;
      throw e;
    };
    const check = async (where: string, fn: () => void | Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        fail(where, err);
      }
    };

    /** The selection the model recorded at each increment that still exists (or should). */
    const snapshots = new Map<string, Snapshot>();
    /** The selection at the latest run: what the mirror holds. */
    let latest: Snapshot = {};
    let clock = BASE;
    let run = 0;

    const backup = async (edits: number) => {
      run++;
      model.randomBatch(edits);
      if (run === 1) model.plant();
      await check(`run ${run}: the test model agrees with the disk`, () => assert.deepEqual(model.readDisk(), model.all()));
      const cur = model.selection();
      // 1 h to 10 days after the previous run, at a random minute and second.
      clock += run === 1 ? 0 : HOUR + int(10 * 24 * HOUR - HOUR);
      const at = new Date(clock);
      let id: string | null = null;
      await check(`run ${run}: runBackup`, async () => {
        const o = await runBackup(profile, { dryRun: false, force: true, checksum: false, reporter: silentReporter, now: () => at });
        assert.deepEqual(o.errors, []);
        id = o.id;
      });
      history.push(`run ${run} at ${at.toISOString()}: ${id ?? 'no change'}`);
      if (id !== null) snapshots.set(id, cur);
      latest = cur;
    };

    const randomPolicy = (): KeepPolicy => {
      const keys = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
      const p: KeepPolicy = {};
      for (const k of keys) if (rand() < 0.4) p[k] = int(4);
      if (!keys.some((k) => (p[k] ?? 0) > 0)) p[keys[int(keys.length)] as (typeof keys)[number]] = 1 + int(3);
      return p;
    };

    const recreateAll = async (where: string) => {
      const ids = incrementIds(dist);
      for (const id of ids) {
        const snap = snapshots.get(id);
        await check(`${where}: increment ${id}`, () => assert.ok(snap !== undefined, `increment ${id} is not one the model recorded`));
        const out = join(root, `out-${where.replace(/\W+/g, '_')}-${id}`);
        await check(`${where}: recreate --at ${id}`, async () => {
          const r = await tool([dist, 'recreate', '--at', id, '--to', out, '--json']);
          assert.equal(r.code, 0, `recreate --at ${id} exited ${r.code}: ${r.stderr}\n${r.stdout}`);
          const doc = JSON.parse(r.stdout) as { at: string; not_recoverable: string[]; unavailable: { path: string; reason: string }[] };
          assert.equal(doc.at, id);
          assert.deepEqual(doc.unavailable, [], `unavailable at ${id}`);
          // Untracked files keep only their current version: one at K comes back only if the mirror still holds it.
          const snapAt = snap as Snapshot;
          const lost = Object.entries(snapAt)
            .filter(([p, e]) => e.type === 'file' && !e.tracked && !sameVersion(e, latest[p]))
            .map(([p]) => p);
          assert.deepEqual([...doc.not_recoverable].sort(), lost.sort(), `not recoverable at ${id}`);
          const want: Record<string, string> = {};
          for (const [p, e] of Object.entries(snapAt)) if (!lost.includes(p)) want[p] = viewSnap(e);
          const got: Record<string, string> = {};
          for (const [p, e] of readDiskTree(out)) got[p] = viewDisk(e);
          assert.deepEqual(got, want, `recreated tree at ${id}`);
        });
        forceRemove(out);
      }
      return ids;
    };

    for (let i = 0; i < FIRST_RUNS; i++) await backup(i === 0 ? 40 : i % 7 === 6 ? 0 : EDITS_PER_BATCH);
    await check('before any prune', () => assert.deepEqual(incrementIds(dist), [...snapshots.keys()].sort(compareIds)));
    await recreateAll('before any prune');

    let prunedTotal = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      if (round > 1) for (let i = 0; i < RUNS_BETWEEN; i++) await backup(int(EDITS_PER_BATCH) + 1);
      const where = `round ${round}`;
      const policy = randomPolicy();
      const before = incrementIds(dist);
      history.push(`${where}: prune ${JSON.stringify(policy)} of ${before.length} increments`);
      if (process.env.HB_KEEP_TREES === '1') fs.cpSync(dist, join(root, `dist-before-${where.replace(/\W+/g, '_')}`), { recursive: true, verbatimSymlinks: true });
    const dry = await runPrune({ dist, policy, dryRun: true });
      await check(`${where}: dry run`, () => assert.deepEqual(incrementIds(dist), before, 'a dry run removes nothing'));
      const outcome = await runPrune({ dist, policy, dryRun: false });
      const gone = outcome.decisions.filter((d) => !d.keep).map((d) => d.id).sort(compareIds);
      const kept = outcome.decisions.filter((d) => d.keep).map((d) => d.id).sort(compareIds);
      history.push(`${where}: removed ${outcome.removed.join(' ') || 'nothing'}`);
      prunedTotal += outcome.removed.length;
      await check(`${where}: prune ${JSON.stringify(policy)}`, () => {
        assert.deepEqual(dry.decisions, outcome.decisions, 'the dry run decides the same');
        assert.deepEqual([...outcome.decisions.map((d) => d.id)].sort(compareIds), before, 'one decision per increment');
        assert.deepEqual([...outcome.removed].sort(compareIds), gone, 'removed = the non-kept decisions');
        assert.deepEqual(incrementIds(dist), kept, 'increments/ holds exactly the kept ones');
        assert.ok(kept.includes(before[before.length - 1] as string), 'the newest increment is kept');
        for (const id of gone) assert.ok(!fs.existsSync(join(dist, 'increments', id)), `${id} is gone`);
      });
      for (const id of gone) snapshots.delete(id);
      await recreateAll(`after ${where}`);
    }
    t.diagnostic(`runs ${run}, increments left ${incrementIds(dist).length}, pruned ${prunedTotal}`);
  });
});
