import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { INLINE_BUDGET, inlineBudget, limitInlining } from '../../src/threads/jit.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { makeTree, profileFor, removeDir, tempDir, type TreeSpec } from '../helpers/tree.js';

/**
 * A run that is long work lifts the inlining cap for its apply and puts it back however it ends
 * (src/threads/jit.ts, src/apply/run.ts): the next profile of the same `backup` starts capped.
 * Whether V8 inlines accordingly is test/e2e/backup-inlining.test.ts's part.
 */
const spec: TreeSpec = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i % 4}/f${i}.txt`, `content ${i}\n`]));

test('a first run (long work) leaves the inlining cap as it found it, when it is done and when a drive failure stops it', async () => {
  limitInlining();
  const root = tempDir('hb-inline-');
  try {
    const src = join(root, 'src');
    makeTree(src, spec);
    const ok = profileFor(src, join(root, 'ok'));
    const done = await runBackup(ok, { dryRun: false, force: false, checksum: false, reporter: silentReporter });
    assert.equal(done.status, 'done');
    assert.equal(inlineBudget(), INLINE_BUDGET, 'capped again after a first run');
    // A link into the increment fails as a failing drive does: the run stops, after the cap was lifted.
    const failing = faultyFs({ linkSync: () => 'EIO' });
    const stopped = profileFor(src, join(root, 'failing'));
    await assert.rejects(runBackup(stopped, { dryRun: false, force: false, checksum: false, reporter: silentReporter, fs: failing }));
    assert.ok((failing.calls.get('linkSync') ?? 0) > 0, 'the run got as far as linking (its apply)');
    assert.equal(inlineBudget(), INLINE_BUDGET, 'capped again after a run that stopped');
  } finally {
    removeDir(root);
  }
});
