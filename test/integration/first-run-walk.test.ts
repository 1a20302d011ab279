/**
 * The first run of a backup stores the source while it walks it (src/apply/run.ts prepareWalk,
 * Applier.applyWalk): batch by batch, each batch's folders announced just before it is handed out
 * and made before it is placed. Run
 * in-process with the copier's worker thread, as the program runs it, with per-file fsync so the
 * batches are 256 puts and a tree of a few hundred files spans several of them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runBackup, type BackupOutcome } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { durabilityFor } from '../../src/io/durability.js';
import { parseIncrementJson, type IncrementJson } from '../../src/meta/increment.js';
import type { EntryRecord } from '../../src/meta/entry.js';
import { Layout } from '../../src/store/layout.js';
import { readManifest, readManifestHeader } from '../../src/store/manifest.js';
import { checkBackup } from '../helpers/fault-check.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { perFileDurability } from '../helpers/durability.js';
import { tool } from '../helpers/tool.js';
import { makeTree, profileFor, readTree, removeDir, tempDir, type TreeSpec } from '../helpers/tree.js';

let root = '';
let undoDurability: () => void = () => {};
before(() => {
  root = tempDir('hb-firstwalk-');
  undoDurability = perFileDurability();

});
after(() => {
  undoDurability();
  removeDir(root);
});

interface Action {
  kind: string;
  path: string;
}

async function backup(src: string, dist: string, at: Date): Promise<BackupOutcome & { actions: Action[] }> {
  const actions: Action[] = [];
  const reporter: Reporter = { notice: () => {}, progress: () => {}, action: (kind, path) => actions.push({ kind, path }) };
  const o = await runBackup(profileFor(src, dist), { dryRun: false, force: false, checksum: false, reporter, now: () => at, workerScript: ensureBuilt() });
  return { ...o, actions };
}

/**
 * 9 top folders, 5 subfolders each, a deeper one in each top folder's first subfolder, a non-ASCII
 * folder: 64 folders and 1,090 files (five batches of 256), with odd modes, symlinks (to a file, to a folder, dangling,
 * non-ASCII) and empty folders.
 */
function wideTree(src: string): void {
  const spec: TreeSpec = {};
  const T = 1_700_000_000;
  let k = 0;
  const files = (dir: string, n: number) => {
    for (let f = 0; f < n; f++) spec[`${dir}/f${f}.txt`] = { content: `${dir}/${f}\n`.repeat(1 + (k % 7)), mtime: T + k++, mode: k % 11 === 0 ? 0o600 : 0o644 };
  };
  for (let t = 0; t < 9; t++) {
    files(`t${t}`, 10);
    for (let s = 0; s < 5; s++) files(`t${t}/s${s}`, 20);
    files(`t${t}/s0/deep`, 10);
  }
  files('Ünïcødé 日本', 10);
  Object.assign(spec, {
    'empty/inner': { dir: true },
    't3/s2/empty': { dir: true },
    't0/s0/link-ü': { symlink: '../../t1/s1/f0.txt' },
    't1/to-folder': { symlink: 't2/s2' },
    't4/dangling': { symlink: 'nowhere/ü "x"' },
    'Ünïcødé 日本/ссылка → ✓': { symlink: '../t5/s4/f19.txt' },
  });
  makeTree(src, spec);
  fs.chmodSync(join(src, 't2'), 0o750);
  fs.chmodSync(join(src, 't4/s1'), 0o700);
  const r = spawnSync('mkfifo', [join(src, 't2/s3/pipe')]);
  assert.equal(r.status, 0, `mkfifo failed: ${r.stderr}`);
}

function readIncrementJson(dist: string, id: string): IncrementJson {
  const parsed = parseIncrementJson(fs.readFileSync(join(dist, 'increments', id, 'increment.json'), 'utf8'), id);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
  return parsed.value;
}

/** Each path once; each entry's folder (when not src) listed before it. */
function orderProblems(records: readonly { path: string; type: string }[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const e of records) {
    if (seen.has(e.path)) problems.push(`${e.path} twice`);
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
    if (parent !== '' && seen.get(parent) !== 'dir') problems.push(`${e.path} before its folder ${parent}`);
    seen.set(e.path, e.type);
  }
  return problems;
}

describe('a first run stores the source while it walks it', { concurrency: false }, () => {
  it('a tree spanning several batches: mirror, increment.json, manifest and verify all hold every entry once, folders first', async () => {
    const src = join(root, 'wide', 'src');
    const dist = join(root, 'wide', 'dist');
    wideTree(src);
    assert.equal(durabilityFor(root, true).perFile, true, 'the runs here fsync each file (batches of 256)');

    const o = await backup(src, dist, new Date('2026-11-26T06:00:00.000Z'));
    assert.equal(o.status, 'done');
    assert.deepEqual(o.errors, []);
    assert.deepEqual(o.skipped, [{ path: 't2/s3/pipe', kind: 'fifo' }]);
    assert.ok(o.actions.some((a) => a.kind === 'skipped' && a.path === 't2/s3/pipe'), 'the FIFO is reported as skipped');
    const id = o.id as string;

    // What a plain walk of the source holds, but the FIFO (readTree would read from it: it goes first).
    fs.unlinkSync(join(src, 't2/s3/pipe'));
    const source = readTree(src);
    assert.equal([...source.values()].filter((e) => e.type === 'dir').length, 67);
    assert.equal([...source.values()].filter((e) => e.type === 'file').length, 1090);

    const inc = readIncrementJson(dist, id);
    assert.equal(inc.complete, true);
    assert.deepEqual(inc.skipped, [{ path: 't2/s3/pipe', kind: 'fifo' }]);
    assert.deepEqual(orderProblems(inc.new), []);
    assert.deepEqual(inc.new.map((r) => r.path).sort(), [...source.keys()].sort(), 'every entry of the source, and nothing else');
    assert.equal(inc.changed.length + inc.deleted.length, 0);
    assert.deepEqual(inc.summary, { new: source.size, changed: 0, deleted: 0, errors: 0, bytes_copied: inc.summary.bytes_copied });
    assert.deepEqual(o.summary, inc.summary);
    const byPath = new Map<string, EntryRecord>(inc.new.map((r) => [r.path, r]));
    for (const [path, e] of source) {
      const r = byPath.get(path) as EntryRecord;
      assert.equal(r.type, e.type, path);
      assert.equal(r.mode, e.mode, path);
      if (e.type === 'file') assert.equal(r.sha256, e.sha256, path);
      if (e.type === 'symlink') assert.equal(r.target, e.target, path);
    }
    assert.equal(inc.summary.bytes_copied, [...source.values()].reduce((n, e) => n + e.size, 0));

    // The batches: folders were made between them, not all before the first file was placed.
    const firstPlaced = o.actions.findIndex((a) => a.kind === 'new' && source.get(a.path)?.type !== 'dir');
    const dirsAfter = o.actions.slice(firstPlaced).filter((a) => source.get(a.path)?.type === 'dir').length;
    assert.ok(firstPlaced > 0 && dirsAfter >= 10, `${dirsAfter} folders made after the first file was placed`);
    assert.deepEqual(orderProblems(o.actions.filter((a) => a.kind === 'new').map((a) => ({ path: a.path, type: source.get(a.path)?.type ?? '?' }))), []);

    const m = readManifest(fs, new Layout(dist).manifest);
    assert.equal(m.header?.entries, source.size);
    assert.equal(m.header?.last_increment, id);
    assert.equal(m.header?.source, src);
    assert.deepEqual([...m.entries.keys()].sort(), [...source.keys()].sort());
    assert.deepEqual(m.header?.top?.['t0'], 1 + 10 + 5 * 21 + 11 + 1, 'top counts: t0 and all below it');
    for (const r of inc.new) {
      const e = m.entries.get(r.path);
      assert.equal(e?.since, id, r.path);
      assert.equal(e?.mtime_ns, r.mtime_ns, r.path);
    }

    // The mirror equals the source; the manifest, the mirror and the increment agree.
    assert.deepEqual(checkBackup(dist, { source: src }), []);
    const v = await tool([dist, 'verify', '--data']);
    assert.equal(v.code, 0, v.stdout + v.stderr);

    const again = await backup(src, dist, new Date('2026-11-26T07:00:00.000Z'));
    assert.equal(again.status, 'no-change', JSON.stringify(again.summary));
    assert.equal(again.id, null);
  });

  it('an empty source: no increment, but a manifest recording the source (status no-change), as before', async () => {
    const src = join(root, 'empty', 'src');
    const dist = join(root, 'empty', 'dist');
    fs.mkdirSync(src, { recursive: true });
    const o = await backup(src, dist, new Date('2026-11-26T06:00:00.000Z'));
    assert.equal(o.status, 'no-change');
    assert.equal(o.id, null);
    assert.deepEqual(o.errors, []);
    assert.deepEqual(fs.readdirSync(join(dist, 'increments')), []);
    const layout = new Layout(dist);
    assert.equal(fs.existsSync(layout.journal), false);
    assert.deepEqual(fs.readdirSync(layout.tmp), []);
    const header = readManifestHeader(fs, layout.manifest);
    assert.equal(header?.source, src);
    assert.equal(header?.entries, 0);
    assert.equal(header?.last_increment, null);
    assert.deepEqual(checkBackup(dist, { source: src }), []);

    // Not a first run any more: the next one compares, and finds nothing either.
    const again = await backup(src, dist, new Date('2026-11-26T07:00:00.000Z'));
    assert.equal(again.status, 'no-change');
    assert.deepEqual(fs.readdirSync(join(dist, 'increments')), []);

    // Something to store later: the first increment, with no previous one.
    fs.writeFileSync(join(src, 'a.txt'), 'a');
    const third = await backup(src, dist, new Date('2026-11-26T08:00:00.000Z'));
    assert.equal(third.status, 'done');
    assert.deepEqual(third.summary.new, 1);
    assert.equal(readIncrementJson(dist, third.id as string).previous, null);
  });

  it('a source holding only a FIFO: skipped and reported, no increment, the manifest written', async () => {
    const src = join(root, 'fifo', 'src');
    const dist = join(root, 'fifo', 'dist');
    fs.mkdirSync(src, { recursive: true });
    assert.equal(spawnSync('mkfifo', [join(src, 'pipe')]).status, 0);
    const o = await backup(src, dist, new Date('2026-11-26T06:00:00.000Z'));
    assert.equal(o.status, 'no-change');
    assert.deepEqual(o.skipped, [{ path: 'pipe', kind: 'fifo' }]);
    assert.deepEqual(fs.readdirSync(join(dist, 'increments')), []);
    assert.equal(readManifestHeader(fs, new Layout(dist).manifest)?.entries, 0);
  });
});
