/**
 * A run leaves the manifest's index for the next (src/store/manifest-index.ts): the run that reads
 * the base in full writes it, the runs after read through it; a dry run writes none, and one that
 * cannot be used is written again. What the runs back up is the same either way: the rest of the
 * suite (the model test above all) runs with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { readManifest } from '../../src/store/manifest.js';
import { readManifestIndex } from '../../src/store/manifest-index.js';
import { Layout, manifestIndexOf } from '../../src/store/layout.js';
import { runBackup } from '../../src/apply/run.js';
import { backup, collectingReporter, scenarioProfile } from '../helpers/fault-scenario.js';
import { makeTree, removeDir, tempDir } from '../helpers/tree.js';

let work = '';
before(() => {
  work = tempDir('hb-mindex-run-');
});
after(() => removeDir(work));

const at = (h: number) => new Date(Date.UTC(2026, 4, 1, h));

describe("the manifest's index across runs", () => {
  it('the first run after a whole write leaves it, the next read through it; a dry run leaves none; a damaged one is replaced', async () => {
    const src = join(work, 'src');
    const dist = join(work, 'dist');
    const files: Record<string, string> = {};
    for (let i = 0; i < 60; i++) files[`d${i % 5}/f ${i} ✓.txt`] = `content ${i}\n`;
    makeTree(src, files);
    const layout = new Layout(dist);
    const index = manifestIndexOf(layout.manifest);

    assert.equal((await backup(src, dist, { at: at(1) })).status, 'done');
    assert.ok(!fs.existsSync(index), 'a first run writes the manifest, and reads none');

    const dry = await runBackup(scenarioProfile(src, dist), { fs: realFs, dryRun: true, force: false, checksum: false, reporter: collectingReporter(), now: () => at(2) });
    assert.equal(dry.status, 'dry-run');
    assert.ok(!fs.existsSync(index), 'a dry run writes nothing, an index neither');

    assert.equal((await backup(src, dist, { at: at(3) })).status, 'no-change');
    assert.ok(fs.existsSync(index), 'the run that read the manifest in full left its index');
    const made = readManifestIndex(realFs, layout.manifest);
    assert.equal(made?.entries, 65);
    assert.equal(made?.bytes, fs.statSync(layout.manifest).size);
    assert.equal(readManifest(realFs, layout.manifest).indexed, true);
    const bytes = fs.readFileSync(index);

    // A change: a delta beside the same base, whose index still serves.
    fs.writeFileSync(join(src, 'd0/f 0 ✓.txt'), 'changed\n');
    fs.rmSync(join(src, 'd1/f 1 ✓.txt'));
    assert.equal((await backup(src, dist, { at: at(4) })).status, 'done');
    assert.ok(fs.existsSync(layout.manifestDelta));
    assert.deepEqual(fs.readFileSync(index), bytes, 'read through: not written again');
    const m = readManifest(realFs, layout.manifest);
    assert.equal(m.indexed, true);
    assert.equal(m.entries.get('d0/f 0 ✓.txt')?.size, 8);
    assert.equal(m.entries.get('d1/f 1 ✓.txt'), undefined);

    // A damaged index is not used, and the run leaves a good one; a temp file of it left by a crash goes.
    fs.writeFileSync(index, bytes.subarray(0, bytes.length - 8));
    const leftover = join(layout.state, '.manifest.index.tmp-1a2b3c-0');
    fs.writeFileSync(leftover, 'torn');
    assert.equal((await backup(src, dist, { at: at(5) })).status, 'no-change');
    assert.deepEqual(fs.readFileSync(index), bytes, 'the same index made again');
    assert.equal(readManifest(realFs, layout.manifest).indexed, true);
    assert.ok(!fs.existsSync(leftover), 'swept as any temp file beside the state');
  });
});
