import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { realFs, type Fs } from '../../src/io/fs.js';
import type { Entry } from '../../src/meta/entry.js';
import { compileSelection, type SelectionRules } from '../../src/select/rules.js';
import { newFindings, scanSource, walkSource, type ScanOptions } from '../../src/scan/walk.js';
import { StateTable } from '../../src/store/state-table.js';
import { makeTree, removeDir, tempDir } from '../helpers/tree.js';

/**
 * The walk is a generator (src/scan/walk.ts walkSource): a first run stores each batch as it is
 * walked, so entries must come out while the walk goes on, and still in the order every run relies
 * on: each folder once, before its content, and only the folders that are part of the selection
 * (with content, or included by a rule) or, against a last state, that changed.
 */

let root = '';
before(() => {
  root = tempDir('hb-walk-');
});
after(() => removeDir(root));

/** realFs with readdir in sorted order (tmpfs lists in its own order), so the expected order can be written down. */
const sortedFs: Fs = {
  ...realFs,
  readdirSync: ((p: fs.PathLike, o?: unknown) => (realFs.readdirSync as (p: fs.PathLike, o?: unknown) => (string | Buffer)[])(p, o).sort()) as Fs['readdirSync'],
};

const walkAll = (fsys: Fs, src: string, opts: ScanOptions): { entries: Entry[]; findings: ReturnType<typeof newFindings> } => {
  const findings = newFindings(opts.unchangedAgainst);
  const entries = [...walkSource(fsys, src, opts, findings)];
  return { entries, findings };
};
const shown = (entries: readonly Entry[]): string[] => entries.map((e) => `${e.type === 'dir' ? 'd' : e.type === 'file' ? 'f' : 'l'} ${e.path}`);

/** Each path once; each entry's folder (when not src) listed before it. */
function orderProblems(entries: readonly Entry[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, Entry['type']>();
  for (const e of entries) {
    if (seen.has(e.path)) problems.push(`${e.path} twice`);
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
    if (parent !== '' && seen.get(parent) !== 'dir') problems.push(`${e.path} before its folder ${parent}`);
    seen.set(e.path, e.type);
  }
  return problems;
}

describe('walkSource', () => {
  it('yields the first entries before it has looked at the whole tree, and goes on as they are taken', () => {
    const src = join(root, 'lazy');
    for (let d = 0; d < 20; d++) for (let f = 0; f < 50; f++) makeTree(src, { [`d${d}/f${f}`]: `${d}/${f}` });
    let lstats = 0;
    const counting: Fs = {
      ...realFs,
      lstatSync: ((...args: Parameters<Fs['lstatSync']>) => {
        lstats++;
        return (realFs.lstatSync as (...a: unknown[]) => unknown)(...args);
      }) as Fs['lstatSync'],
    };
    const walk = walkSource(counting, src, { selector: compileSelection({}) }, newFindings(undefined));
    const first = walk.next();
    assert.equal(first.done, false);
    assert.equal((first.value as Entry).type, 'dir', 'a folder first');
    const atFirst = lstats;
    const second = walk.next();
    assert.equal((second.value as Entry).type, 'file', 'then its first file');
    assert.ok(atFirst <= 2, `${atFirst} lstat calls before the first entry (a folder and its first file at most)`);
    // Half the entries taken: the walk has not gone much further than that.
    for (let i = 2; i < 510; i++) walk.next();
    const atHalf = lstats;
    assert.ok(atHalf < 600, `${atHalf} lstat calls after 510 entries of 1020`);
    let rest = 0;
    while (walk.next().done !== true) rest++;
    assert.equal(rest, 1020 - 510);
    assert.equal(lstats, 1020, 'each entry lstat-ed once');
  });

  it('a tree with rules: each folder once, before its content; empty folders only when a rule includes them; the same as scanSource', () => {
    const src = join(root, 'rules');
    makeTree(src, {
      'a/Cache/z.txt': 'excluded folder: never entered',
      'a/b/c/deep.txt': 'deep',
      'a/b/empty': { dir: true }, // on the way to a/**/*.txt, but empty and not included
      'a/b/logs/x.log': 'not included', // its folder holds nothing selected
      'a/x.txt': 'x',
      'keep/empty': { dir: true }, // included by include_dirs: mirrored empty
      'keep/f.bin': 'bin',
      'keep/sub/deeper/empty2': { dir: true },
      'keep/sub/deeper/link': { symlink: 'ü/ß' },
      'other/y.txt': 'not on the way to anything included',
      'top.txt': 'not included',
    });
    const mk = spawnSync('mkfifo', [join(src, 'keep', 'pipe')]);
    assert.equal(mk.status, 0, `mkfifo: ${mk.stderr}`);
    const rules: SelectionRules = { include_dirs: ['keep'], include_files: ['a/**/*.txt'], exclude_dirs: ['Cache'] };
    const opts: ScanOptions = { selector: compileSelection(rules) };
    const { entries, findings } = walkAll(sortedFs, src, opts);
    // What the walk gave before it was a generator (a slot per folder, filled after its content; by hand).
    assert.deepEqual(shown(entries), [
      'd a',
      'd a/b',
      'd a/b/c',
      'f a/b/c/deep.txt',
      'f a/x.txt',
      'd keep',
      'd keep/empty',
      'f keep/f.bin',
      'd keep/sub',
      'd keep/sub/deeper',
      'd keep/sub/deeper/empty2',
      'l keep/sub/deeper/link',
    ]);
    assert.deepEqual(orderProblems(entries), []);
    assert.deepEqual(findings.skipped, [{ path: 'keep/pipe', kind: 'fifo' }]);
    assert.deepEqual(findings.errors, []);
    assert.equal(findings.topLevelNames, 4);
    const link = entries.find((e) => e.path === 'keep/sub/deeper/link');
    assert.equal(link?.target, 'ü/ß');

    // scanSource collects the same walk; in tmpfs's own order, the same entries and the same property.
    const scan = scanSource(sortedFs, src, opts);
    assert.deepEqual(scan.entries, entries);
    assert.deepEqual(scan.skipped, findings.skipped);
    const unsorted = scanSource(realFs, src, opts);
    assert.deepEqual(orderProblems(unsorted.entries), []);
    assert.deepEqual(shown(unsorted.entries).sort(), shown(entries).sort());
  });

  it('folders nested only around an empty included folder, or around one file, are yielded outermost first', () => {
    const src = join(root, 'nested');
    makeTree(src, { 'p/q/r/s/t': { dir: true }, 'u/v/w/x/file': 'f', 'u/v/w2': { dir: true } });
    const { entries } = walkAll(sortedFs, src, { selector: compileSelection({}) });
    assert.deepEqual(shown(entries), ['d p', 'd p/q', 'd p/q/r', 'd p/q/r/s', 'd p/q/r/s/t', 'd u', 'd u/v', 'd u/v/w', 'd u/v/w/x', 'f u/v/w/x/file', 'd u/v/w2']);
    // With include rules, the empty one is left out, and so are the folders around it.
    const ruled = walkAll(sortedFs, src, { selector: compileSelection({ include_files: ['**/file'] }) });
    assert.deepEqual(shown(ruled.entries), ['d u', 'd u/v', 'd u/v/w', 'd u/v/w/x', 'f u/v/w/x/file']);
  });

  it('against the last state: only what changed, and no unchanged folder around a changed file; unchanged folders still count as found', () => {
    const src = join(root, 'unchanged');
    makeTree(src, {
      'a/b/c/deep.txt': 'deep',
      'a/b/c/same.txt': 'same',
      'a/b/other.txt': 'other',
      'a/x.txt': 'x',
      'keep/sub/deeper/f.txt': 'f',
      'keep/sub/g.txt': 'g',
      'keep/empty': { dir: true },
      'gone.txt': 'to be deleted',
      'z/mode/inside.txt': 'its folder changes mode',
    });
    const opts: ScanOptions = { selector: compileSelection({}) };
    const last = StateTable.from(scanSource(sortedFs, src, opts).entries);
    assert.equal(last.size, 17);

    // Nothing changed: nothing yielded, everything found.
    const none = last.compare();
    const quiet = walkAll(sortedFs, src, { ...opts, unchangedAgainst: none });
    assert.deepEqual(shown(quiet.entries), []);
    assert.deepEqual([...none.unseen()], []);

    fs.writeFileSync(join(src, 'a/b/c/deep.txt'), 'deep, and longer now'); // a changed file three folders down
    fs.writeFileSync(join(src, 'keep/sub/deeper/new.txt'), 'new'); // a new file in unchanged folders
    fs.chmodSync(join(src, 'keep/sub'), 0o700); // a changed folder above it
    fs.chmodSync(join(src, 'z/mode'), 0o711); // a changed folder with nothing changed below
    fs.unlinkSync(join(src, 'gone.txt'));
    const cmp = last.compare();
    const { entries } = walkAll(sortedFs, src, { ...opts, unchangedAgainst: cmp });
    assert.deepEqual(shown(entries), ['f a/b/c/deep.txt', 'd keep/sub', 'f keep/sub/deeper/new.txt', 'd z/mode']);
    assert.equal(entries.find((e) => e.path === 'keep/sub')?.mode, 0o700);
    // Found unchanged (marked), so not deleted: every folder around the changes too.
    assert.deepEqual([...cmp.unseen()].sort(), ['a/b/c/deep.txt', 'gone.txt', 'keep/sub', 'z/mode']);
    assert.deepEqual(scanSource(sortedFs, src, { ...opts, unchangedAgainst: last.compare() }).entries, entries);
  });
  it('names what it skips by the type bits of the mode: FIFO, block and character device (root: mknod; sockets: integration/backup-run)', (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to make device nodes (mknod); CI runs as root');
      return;
    }
    const src = join(root, 'specials');
    makeTree(src, { 'keep.txt': 'k' });
    for (const args of [['pipe', 'p'], ['chr', 'c', '1', '3'], ['blk', 'b', '7', '200']]) {
      const mk = spawnSync('mknod', [join(src, args[0] as string), ...args.slice(1)]);
      assert.equal(mk.status, 0, `mknod ${args.join(' ')}: ${mk.stderr}`);
    }
    // realFs: the walk's own lstat (src/io/stat.ts), not the public one a wrapped fs gets.
    const { entries, findings } = walkAll(realFs, src, { selector: compileSelection({}) });
    assert.deepEqual(shown(entries), ['f keep.txt']);
    const kinds = Object.fromEntries(findings.skipped.map((s) => [s.path, s.kind]));
    assert.deepEqual(kinds, { pipe: 'fifo', chr: 'character device', blk: 'block device' });
  });
  it("entries are what scanSource finds even when the consumer stats other files between them (the binding's view is shared)", () => {
    const src = join(root, 'consumer-stats');
    // Folders first reached through a file below them: each is yielded just before that file.
    for (let d = 0; d < 6; d++) makeTree(src, { [`d${d}/sub/f.txt`]: `${d}`, [`d${d}/g.txt`]: `g${d}` });
    makeTree(root, { 'elsewhere.bin': 'another inode, another size' });
    const other = join(root, 'elsewhere.bin');
    // Owned by someone else where that can be set: a stale view would show in the owner too.
    if (process.getuid?.() === 0) fs.chownSync(other, 12345, 12345);
    const fd = fs.openSync(other, 'r');
    const seen: Entry[] = [];
    try {
      const findings = newFindings(undefined);
      // realFs: the walk's own lstat (src/io/stat.ts); what a first run's copies do between entries.
      for (const e of walkSource(realFs, src, { selector: compileSelection({}) }, findings)) {
        seen.push(e);
        fs.lstatSync(other, { bigint: true });
        fs.fstatSync(fd, { bigint: true });
      }
    } finally {
      fs.closeSync(fd);
    }
    const byPath = (a: Entry, b: Entry) => (a.path < b.path ? -1 : 1);
    const alone = scanSource(realFs, src, { selector: compileSelection({}) }).entries;
    assert.equal(seen.length, 6 * 4);
    assert.deepEqual([...seen].sort(byPath), [...alone].sort(byPath));
    // The comparison can fail: an entry built from the other file's stat would differ in its identity (device, inode, birth time) or owner.
    const otherUid = fs.lstatSync(other).uid;
    assert.ok(alone.some((e) => e.type === 'file' && (e.ino !== undefined || e.uid !== otherUid)), 'this file system gives neither an identity nor another owner');
  });
});
