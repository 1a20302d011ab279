import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { makeTree, profileFor, readTree, removeDir, tempDir, type TreeItem } from '../helpers/tree.js';
import { tool } from '../helpers/tool.js';

// SPEC §4 "Time travel": after a history of runs with every kind of edit, `recreate --at K` for every
// increment K gives exactly the tree the source held at run K (tracked files, folders, symlinks), and
// names the untracked files whose version at K the mirror no longer holds.


let root = '';
let src = '';
let dist = '';
const BASE = Date.UTC(2026, 0, 1) / 1000;
let step = 0;

/** Writes a file and gives it a whole-second mtime of this step (so "same version" is exact). */
function put(rel: string, content: string | Buffer, mode?: number): void {
  const p = join(src, rel);
  fs.mkdirSync(join(p, '..'), { recursive: true });
  fs.writeFileSync(p, content);
  if (mode !== undefined) fs.chmodSync(p, mode);
  fs.utimesSync(p, BASE + step * 60, BASE + step * 60);
}

const STEPS: (() => void)[] = [
  () => {
    makeTree(src, { 'Projects/empty': { dir: true, mode: 0o750 }, 'Projects/link': { symlink: 'a.txt' } });
    put('Projects/a.txt', 'a1');
    put('Projects/b.bin', Buffer.alloc(10_000, 7));
    put('Projects/sub/c.md', 'c1');
    put('Projects/swap', 'swap file');
    put('Deep/x/y/z.txt', 'deep');
    put('Notes/n.txt', 'n1');
    put('Notes/keep.txt', 'keep');
    put('todo.txt', 't1', 0o600);
    put('readme.md', 'r1');
  },
  () => {
    put('Projects/a.txt', 'a2 longer');
    put('Notes/n.txt', 'n2');
    fs.chmodSync(join(src, 'Projects/sub/c.md'), 0o600);
  },
  () => {
    fs.rmSync(join(src, 'Projects/b.bin'));
    put('Projects/new.txt', 'new file');
    fs.mkdirSync(join(src, 'Notes/emptynote'));
    fs.rmSync(join(src, 'Projects/link'));
    fs.symlinkSync('sub/c.md', join(src, 'Projects/link'));
  },
  () => {
    fs.rmSync(join(src, 'Projects/swap'));
    put('Projects/swap/inner.txt', 'inside');
    fs.chmodSync(join(src, 'Projects/empty'), 0o700);
  },
  () => {
    put('todo.txt', 't2 longer');
    put('Notes/n.txt', 'n3');
    fs.rmSync(join(src, 'readme.md'));
  },
  () => {
    // no change: no increment
  },
  () => {
    fs.renameSync(join(src, 'Projects/new.txt'), join(src, 'Projects/moved.txt'));
    put('Projects/a.txt', 'a3');
  },
  () => {
    fs.rmSync(join(src, 'Projects/swap'), { recursive: true });
    put('Projects/swap', 'swapped back');
    fs.rmdirSync(join(src, 'Notes/emptynote'));
  },
  () => {
    fs.chmodSync(join(src, 'Projects/a.txt'), 0o640);
    fs.utimesSync(join(src, 'Projects/sub/c.md'), BASE + 9999, BASE + 9999);
  },
  () => {
    fs.rmSync(join(src, 'Projects/sub'), { recursive: true });
    put('Notes/n.txt', 'n4');
    put('Deep/x/new.txt', 'deeper');
  },
  () => {
    put('readme.md', 'r2');
  },
];

const runs: { id: string; tree: Map<string, TreeItem> }[] = [];
const tracked = (rel: string) => rel.startsWith('Projects/') || rel.startsWith('Deep/') || rel === 'todo.txt';

before(async () => {
  root = tempDir('hb-timetravel-');
  src = join(root, 'src');
  dist = join(root, 'dist');
  fs.mkdirSync(src);
  const profile = profileFor(src, dist, { rules: { track_dirs: ['Projects', 'Deep'], track_files: ['todo.txt'] } });
  for (const [i, apply] of STEPS.entries()) {
    step = i + 1;
    apply();
    const out = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date((BASE + i * 3600) * 1000) });
    if (out.id !== null) runs.push({ id: out.id, tree: readTree(src) });
  }
});
after(() => removeDir(root));

function sameVersion(a: TreeItem | undefined, b: TreeItem | undefined): boolean {
  return a !== undefined && b !== undefined && a.type === b.type && a.sha256 === b.sha256 && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
}

describe('recreate --at every increment', () => {
  it('made one increment per run that changed something', () => {
    assert.equal(runs.length, STEPS.length - 1);
  });

  it('gives the source as it was at that run', async () => {
    const final = runs[runs.length - 1]?.tree as Map<string, TreeItem>;
    for (const [i, run] of runs.entries()) {
      const out = join(root, `out-${i}`);
      const r = await tool([dist, 'recreate', '--at', run.id, '--to', out]);
      assert.equal(r.code, 0, `recreate --at ${run.id}: ${r.stderr}`);
      const expectedLost = [...run.tree].filter(([p, v]) => v.type === 'file' && !tracked(p) && !sameVersion(v, final.get(p))).map(([p]) => p);
      const listed = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) => l.trim());
      assert.deepEqual(listed.sort(), expectedLost.sort(), `not recoverable at ${run.id}`);
      const got = readTree(out);
      const want = new Map([...run.tree].filter(([p]) => !expectedLost.includes(p)));
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `paths at ${run.id}`);
      for (const [p, w] of want) {
        const g = got.get(p) as TreeItem;
        const view = (t: TreeItem) =>
          t.type === 'file' ? { type: t.type, mode: t.mode, sha256: t.sha256, size: t.size, mtimeMs: t.mtimeMs } : t.type === 'dir' ? { type: t.type, mode: t.mode } : { type: t.type, target: t.target };
        assert.deepEqual(view(g), view(w), `${p} at ${run.id}`);
      }
    }
  });

  it('restores a deleted folder as it was just before its deletion', async () => {
    const out = join(root, 'out-deleted-folder');
    const r = await tool([dist, 'restore', 'Projects/sub', '--to', out]);
    assert.equal(r.code, 0, r.stderr);
    const deletedIn = runs.findIndex((run) => !run.tree.has('Projects/sub'));
    assert.match(r.stdout, new RegExp(`Projects/sub: deleted in ${runs[deletedIn]?.id}`));
    const before = runs[deletedIn - 1]?.tree as Map<string, TreeItem>;
    const want = [...before].filter(([p]) => p === 'Projects/sub' || p.startsWith('Projects/sub/'));
    const got = readTree(join(out));
    assert.deepEqual([...got.keys()], ['Projects', ...want.map(([p]) => p)]);
    for (const [p, w] of want) assert.deepEqual([got.get(p)?.type, got.get(p)?.mode, got.get(p)?.sha256, got.get(p)?.mtimeMs], [w.type, w.mode, w.sha256, w.mtimeMs], p);
    assert.equal(got.get('Projects')?.mode, before.get('Projects')?.mode, 'a missing parent gets its recorded mode');
  });

  it('recreates the latest state by default, and a second time finds everything identical', async () => {
    const out = join(root, 'out-latest');
    const first = await tool([dist, 'recreate', '--to', out, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const doc = JSON.parse(first.stdout) as { summary: { written: number; identical: number }; at: string };
    assert.equal(doc.at, runs[runs.length - 1]?.id);
    assert.ok(doc.summary.written > 0);
    const inodes = new Map([...readTree(out)].map(([p, v]) => [p, v.ino]));
    const again = JSON.parse((await tool([dist, 'recreate', '--to', out, '--json'])).stdout) as { summary: { written: number; identical: number } };
    assert.equal(again.summary.written, 0);
    assert.equal(again.summary.identical, doc.summary.written + doc.summary.identical);
    assert.deepEqual(new Map([...readTree(out)].map(([p, v]) => [p, v.ino])), inodes, 'identical files are not rewritten');
  });
});
