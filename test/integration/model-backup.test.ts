/**
 * Seeded randomized model test: random edits of a real source tree, a backup after each batch, and
 * after every run the mirror, the increment's lists and its stored versions checked against what the
 * model (test/helpers/model.ts) says. Replay a failure with HB_SEED=<seed> (printed in every failure).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup, type BackupOutcome } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { compareIds } from '../../src/store/ids.js';
import { Layout } from '../../src/store/layout.js';
import type { EntryRecord } from '../../src/meta/entry.js';
import { profileFor, tempDir } from '../helpers/tree.js';
import { driveModel, expectedChanges, MODEL_RULES, seedFromEnv, SourceModel, type ExpectedRecord, type Snapshot } from '../helpers/model.js';
import { forceRemove, incrementIds, nonDirs, readDiskTree, readIncrement, sha256Of, type DiskEntry } from '../helpers/model-dist.js';

const SEED = seedFromEnv();
const BATCHES = Number(process.env.HB_MODEL_BATCHES ?? 30);
const EDITS_PER_BATCH = 20;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) forceRemove(d);
});

/** Every failure names the seed (and where), so `HB_SEED=… npm test` replays it. */
function check(where: string, model: SourceModel, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) {
      const recent = model.log.slice(-EDITS_PER_BATCH).join('\n    ');
      err.message = `[HB_SEED=${SEED} ${where}] ${err.message}\n  last edits:\n    ${recent}`;
    }
    throw err;
  }
}

const fromRecord = (r: EntryRecord): ExpectedRecord => {
  const e: ExpectedRecord = { path: r.path, type: r.type, tracked: r.tracked, mode: r.mode };
  if (r.type === 'file' && r.sha256 !== undefined) e.sha256 = r.sha256;
  if (r.type === 'symlink' && r.target !== undefined) e.target = r.target;
  return e;
};
const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The mirror as the model would describe it (mtimes compared separately, to the ms). */
function mirrorView(mirror: Map<string, DiskEntry>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of mirror) {
    if (v.type === 'file') o[k] = `file ${v.mode.toString(8)} ${v.size} ${v.sha256}`;
    else if (v.type === 'dir') o[k] = `dir ${v.mode.toString(8)}`;
    else if (v.type === 'symlink') o[k] = `symlink ${v.target}`;
    else o[k] = 'other';
  }
  return o;
}
function selectionView(s: Snapshot): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) {
    if (v.type === 'file') o[k] = `file ${v.mode.toString(8)} ${v.size} ${v.sha256}`;
    else if (v.type === 'dir') o[k] = `dir ${v.mode.toString(8)}`;
    else o[k] = `symlink ${v.target}`;
  }
  return o;
}

describe(`randomized model (HB_SEED=${SEED})`, () => {
  it(`${BATCHES} batches of random edits, a backup after each`, { timeout: 120_000 }, async (t) => {
    t.diagnostic(`HB_SEED=${SEED}`);
    const root = tempDir('hb-model-');
    dirs.push(root);
    const src = join(root, 'src');
    const dist = join(root, 'dist');
    const profile = profileFor(src, dist, { rules: MODEL_RULES, maxWorkers: 3 });
    const stats = { new: 0, changed: 0, deleted: 0, moved: 0, excludedDirRuns: 0, excludedFileRuns: 0, deltaRuns: 0 };
    const ids: string[] = [];
    let outcome: BackupOutcome | undefined;
    let mirrorBefore = new Map<string, DiskEntry>();
    let idsBefore: string[] = [];

    const { runs, model } = await driveModel({
      src,
      seed: SEED,
      batches: BATCHES,
      // Every fourth batch is a single edit: such runs write the manifest as a delta (docs/format.md).
      editsPerBatch: (run) => (run % 4 === 0 ? 1 : EDITS_PER_BATCH),
      backup: async ({ run, model: m }) => {
        mirrorBefore = readDiskTree(join(dist, 'mirror'));
        idsBefore = incrementIds(dist);
        outcome = undefined;
        try {
          // force: the guards are tested elsewhere; a random batch may delete most of a small tree.
          // Every third run compares content too: the model's versions never share size+mtime, so the lists are the same.
          outcome = await runBackup(profile, { dryRun: false, force: true, checksum: run % 3 === 0, reporter: silentReporter });
        } catch (err) {
          check(`run ${run}: runBackup`, m, () => assert.fail(err instanceof Error ? err : String(err)));
        }
        return { id: outcome?.id ?? null, status: outcome?.status ?? 'failed' };
      },
      afterRun: ({ run, model: m, prev, cur }) => {
        const o = outcome as BackupOutcome;
        const all = m.all();
        const excluded = Object.keys(all).filter((p) => cur[p] === undefined);
        if (excluded.some((p) => all[p]?.type === 'dir')) stats.excludedDirRuns++;
        if (excluded.some((p) => all[p]?.type !== 'dir' && p.endsWith('.tmp'))) stats.excludedFileRuns++;
        if (fs.existsSync(new Layout(dist).manifestDelta)) stats.deltaRuns++;
        const want = expectedChanges(prev, cur);
        const anyChange = want.new.length + want.changed.length + want.deleted.length > 0;
        const ctx = `run ${run}`;

        check(`${ctx}: outcome`, m, () => {
          assert.deepEqual(o.errors, []);
          assert.equal(o.status, anyChange ? 'done' : 'no-change');
        });

        const mirror = readDiskTree(join(dist, 'mirror'));
        check(`${ctx}: the mirror equals the selection`, m, () => {
          assert.deepEqual(mirrorView(mirror), selectionView(cur));
          for (const [p, e] of Object.entries(cur)) {
            if (e.type !== 'file') continue;
            const mt = (mirror.get(p) as DiskEntry).mtimeNs;
            const diff = mt - BigInt(e.mtimeNs ?? '0');
            assert.ok(diff > -1_000_000n && diff < 1_000_000n, `${p}: mirror mtime ${mt} vs source ${e.mtimeNs}`);
          }
        });

        if (!anyChange) {
          check(`${ctx}: no change, no increment`, m, () => {
            assert.equal(o.id, null);
            assert.deepEqual(incrementIds(dist), idsBefore);
          });
          return;
        }

        const id = o.id as string;
        const inc = readIncrement(dist, id);
        check(`${ctx}: increment ${id} lists exactly the model's differences`, m, () => {
          assert.deepEqual(incrementIds(dist), [...idsBefore, id]);
          assert.equal(inc.complete, true);
          assert.equal(inc.id, id);
          assert.equal(inc.previous, ids.at(-1) ?? null);
          assert.deepEqual(inc.new.map(fromRecord).sort(byPath), want.new);
          assert.deepEqual(inc.changed.map(fromRecord).sort(byPath), want.changed);
          assert.deepEqual(inc.deleted.map(fromRecord).sort(byPath), want.deleted);
          assert.deepEqual(inc.summary, { new: want.new.length, changed: want.changed.length, deleted: want.deleted.length, errors: 0, bytes_copied: inc.summary.bytes_copied });
          assert.deepEqual(o.summary, inc.summary);
        });
        ids.push(id);

        check(`${ctx}: bytes copied`, m, () => {
          // Files with no deleted file of the same size and mtime must be copied; the others may be linked (moves).
          const deletedKeys = new Set(want.deleted.filter((d) => d.type === 'file').map((d) => `${prev[d.path]?.size}:${prev[d.path]?.mtimeNs}`));
          let mustCopy = 0;
          let mayCopy = 0;
          for (const r of [...want.new, ...want.changed]) {
            if (r.type !== 'file') continue;
            const e = cur[r.path];
            const size = e?.size ?? 0;
            mayCopy += size;
            if (!deletedKeys.has(`${e?.size}:${e?.mtimeNs}`)) mustCopy += size;
          }
          assert.ok(inc.summary.bytes_copied >= mustCopy && inc.summary.bytes_copied <= mayCopy, `bytes_copied ${inc.summary.bytes_copied} not in [${mustCopy}, ${mayCopy}]`);
          if (mayCopy > mustCopy) stats.moved++;
        });

        check(`${ctx}: files/ holds the tracked new and changed versions, linked to the mirror`, m, () => {
          const files = nonDirs(readDiskTree(join(dist, 'increments', id, 'files')));
          const wantFiles = [...inc.new, ...inc.changed].filter((r) => r.type === 'file' && r.tracked);
          assert.deepEqual([...files.keys()].sort(), wantFiles.map((r) => r.path).sort());
          for (const r of wantFiles) {
            const f = files.get(r.path) as DiskEntry;
            assert.equal(f.type, 'file', r.path);
            assert.equal(f.sha256, r.sha256, `${r.path}: files/ content vs increment.json`);
            assert.equal(f.sha256, cur[r.path]?.sha256, `${r.path}: files/ content vs the source`);
            assert.equal(f.ino, mirror.get(r.path)?.ino, `${r.path}: files/ is a hard link of the mirror file`);
          }
        });

        check(`${ctx}: deleted/ holds the last version of each tracked deleted file`, m, () => {
          const deleted = nonDirs(readDiskTree(join(dist, 'increments', id, 'deleted')));
          const wantDeleted = inc.deleted.filter((r) => r.type === 'file' && r.tracked);
          assert.deepEqual([...deleted.keys()].sort(), wantDeleted.map((r) => r.path).sort());
          for (const r of wantDeleted) {
            const f = deleted.get(r.path) as DiskEntry;
            assert.equal(f.type, 'file', r.path);
            assert.equal(f.sha256, r.sha256, `${r.path}: deleted/ content vs increment.json`);
            assert.equal(f.sha256, prev[r.path]?.sha256, `${r.path}: deleted/ content vs the last backed-up version`);
            assert.equal(f.ino, mirrorBefore.get(r.path)?.ino, `${r.path}: deleted/ is a hard link of the version the mirror held`);
          }
        });

        check(`${ctx}: no temporary files or journal left`, m, () => {
          assert.deepEqual(fs.readdirSync(join(dist, '.hardback', 'tmp')), []);
          assert.equal(fs.existsSync(join(dist, '.hardback', 'journal.jsonl')), false);
        });

        stats.new += want.new.length;
        stats.changed += want.changed.length;
        stats.deleted += want.deleted.length;
      },
    });

    // Every version any increment recorded is still intact (nothing was ever modified in place).
    check('end: every stored version still matches its sha256', model, () => {
      assert.deepEqual(incrementIds(dist), runs.filter((r) => r.id !== null).map((r) => r.id));
      assert.deepEqual(incrementIds(dist), ids);
      assert.deepEqual([...ids].sort(compareIds), ids);
      assert.ok(ids.length > BATCHES / 2, `only ${ids.length} increments`);
      assert.ok(ids.length < BATCHES, 'the empty batches made no increment');
      for (const id of ids) {
        const inc = readIncrement(dist, id);
        for (const r of [...inc.new, ...inc.changed]) {
          if (r.type === 'file' && r.tracked) assert.equal(sha256Of(join(dist, 'increments', id, 'files', r.path)), r.sha256, `${id} files/${r.path}`);
        }
        for (const r of inc.deleted) {
          if (r.type === 'file' && r.tracked) assert.equal(sha256Of(join(dist, 'increments', id, 'deleted', r.path)), r.sha256, `${id} deleted/${r.path}`);
        }
      }
    });

    check('end: the per-run record', model, () => {
      // JSON-serialisable, for time-travel tests built on it.
      assert.deepEqual(JSON.parse(JSON.stringify(runs)), runs);
      assert.deepEqual(runs.map((r) => r.run), Array.from({ length: BATCHES }, (_, i) => i + 1));
      const last = runs.at(-1)?.snapshot as Snapshot;
      assert.deepEqual(last, model.selection());
    });

    // The run exercised what it claims to: fail loudly if the generator degenerates.
    check('end: coverage', model, () => {
      assert.ok(stats.new > 50 && stats.changed > 10 && stats.deleted > 10, JSON.stringify(stats));
      // Over all runs, not the last one alone: a seed may end with every tracked folder deleted.
      const mixed = runs.filter((r) => {
        const entries = Object.values(r.snapshot);
        return entries.some((e) => e.tracked) && entries.some((e) => !e.tracked);
      }).length;
      assert.ok(mixed > BATCHES / 2, `only ${mixed} of ${runs.length} runs saw both tracked and untracked entries`);
      assert.ok(stats.excludedDirRuns > 0 && stats.excludedFileRuns > 0, JSON.stringify(stats));
      assert.ok(stats.deltaRuns > 0, `no run wrote the manifest as a delta: ${JSON.stringify(stats)}`);
      assert.ok(model.log.length > 300, `only ${model.log.length} edits`);
    });
    t.diagnostic(`runs ${runs.length}, increments ${ids.length}, edits ${model.log.length}, ${JSON.stringify(stats)}`);
  });
});
