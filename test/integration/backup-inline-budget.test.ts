import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { LONG_SCAN_ENTRIES, runBackup, type BackupOptions, type BackupOutcome } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { INLINE_BUDGET, V8_INLINE_BUDGET, inlineBudget, limitInlining } from '../../src/threads/jit.js';
import { beforeOpen, faultyFs } from '../helpers/faulty-fs.js';
import { makeTree, profileFor, removeDir, tempDir, type TreeSpec } from '../helpers/tree.js';

/**
 * A run that is long work lifts the inlining cap for its apply and puts it back however it ends
 * (src/threads/jit.ts, src/apply/run.ts): the next profile of the same `backup` starts capped.
 * Whether V8 inlines accordingly is test/e2e/backup-inlining.test.ts's part.
 */
const spec: TreeSpec = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i % 4}/f${i}.txt`, `content ${i}\n`]));

/** Runs `body` with the cap set and a source tree made, in a folder removed afterwards. */
async function capped(body: (run: (dist: string, o?: Partial<BackupOptions>) => Promise<BackupOutcome>, root: string) => Promise<void>): Promise<void> {
  limitInlining();
  const root = tempDir('hb-inline-');
  try {
    const src = join(root, 'src');
    makeTree(src, spec);
    await body((dist, o = {}) => runBackup(profileFor(src, join(root, dist)), { dryRun: false, force: false, checksum: false, reporter: silentReporter, ...o }), root);
  } finally {
    removeDir(root);
  }
}

test('a first run (long work) leaves the inlining cap as it found it, when it is done and when a drive failure stops it', () =>
  capped(async (run) => {
    assert.equal((await run('ok')).status, 'done');
    assert.equal(inlineBudget(), INLINE_BUDGET, 'capped again after a first run');
    // A link into the increment fails as a failing drive does: the run stops, after the cap was lifted.
    const failing = faultyFs({ linkSync: () => 'EIO' });
    await assert.rejects(run('failing', { fs: failing }));
    assert.ok((failing.calls.get('linkSync') ?? 0) > 0, 'the run got as far as linking (its apply)');
    assert.equal(inlineBudget(), INLINE_BUDGET, 'capped again after a run that stopped');
  }));

test('a run whose manifest records LONG_SCAN_ENTRIES entries or more scans as long work, and puts the cap back however it ends', () =>
  capped(async (run, root) => {
    assert.equal((await run('dist')).status, 'done');
    // The header now promises that many entries (its lines are 44): the run lifts the cap from the
    // header, then its read of the manifest refuses the file as damaged.
    const manifest = join(root, 'dist', '.hardback', 'manifest.jsonl');
    const [first, ...lines] = fs.readFileSync(manifest, 'utf8').split('\n');
    const head = JSON.parse(first as string) as { entries: number };
    head.entries = LONG_SCAN_ENTRIES;
    fs.writeFileSync(manifest, [JSON.stringify(head), ...lines].join('\n'));
    const seen: number[] = [];
    const watching = beforeOpen((path) => {
      if (path === manifest) seen.push(inlineBudget());
    });
    await assert.rejects(run('dist', { fs: watching }), /promises/);
    assert.equal(seen.at(-1), V8_INLINE_BUDGET, `the scan's read of the manifest was long work (budgets at each open: ${seen.join(', ')})`);
    assert.equal(inlineBudget(), INLINE_BUDGET, 'capped again after the run');
  }));
