import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { realFs } from '../../src/io/fs.js';
import { toRecord, type StateEntry } from '../../src/meta/entry.js';
import { readCatalog } from '../../src/store/catalog.js';
import { JournalWriter } from '../../src/store/journal.js';
import { Layout } from '../../src/store/layout.js';
import { makeTree, profileFor, readTree, removeDir, tempDir } from '../helpers/tree.js';

let root = '';
let dist = '';
let layout: Layout;
const ids: string[] = [];

beforeEach(async () => {
  root = tempDir('hb-catalog-');
  const src = join(root, 'src');
  dist = join(root, 'dist');
  layout = new Layout(dist);
  ids.length = 0;
  makeTree(src, { 'a.txt': 'a', 'b.txt': 'b', 'd/c.txt': 'c' });
  const p = profileFor(src, dist);
  ids.push((await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, 1)) })).id as string);
  fs.writeFileSync(join(src, 'a.txt'), 'a two');
  ids.push((await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, 2)) })).id as string);
});
afterEach(() => removeDir(root));

/** Everything about the backup's files that a reader could disturb. */
const fingerprint = () => JSON.stringify([...readTree(dist)].map(([p, v]) => [p, v.type, v.mode, v.size, v.sha256, v.mtimeMs, v.ino]));

describe('readCatalog', () => {
  it('reads the current state and every increment in order, writing nothing', () => {
    const before = fingerprint();
    const c = readCatalog(realFs, dist);
    assert.equal(fingerprint(), before);
    assert.deepEqual(c.problems, []);
    assert.deepEqual(c.increments.map((i) => i.id), ids);
    assert.deepEqual([...c.current.keys()].sort(), ['a.txt', 'b.txt', 'd', 'd/c.txt']);
    assert.equal(c.current.get('a.txt')?.since, ids[1]);
    assert.equal(c.source, join(root, 'src'));
  });

  it('neither takes nor waits for the lock of a running backup', () => {
    fs.writeFileSync(layout.lock, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), program: 'backup' }));
    const lock = fs.readFileSync(layout.lock, 'utf8');
    const c = readCatalog(realFs, dist);
    assert.equal(c.increments.length, 2);
    assert.equal(fs.readFileSync(layout.lock, 'utf8'), lock);
  });

  it('names an unreadable or missing increment.json and skips that increment', () => {
    fs.writeFileSync(layout.incrementJson(ids[0] as string), '{"format": 1, "id": ');
    fs.mkdirSync(layout.incrementDir('2026-01-01T030000Z'));
    const c = readCatalog(realFs, dist);
    assert.deepEqual(c.increments.map((i) => [i.id, i.json === undefined]), [[ids[0], true], [ids[1], false], ['2026-01-01T030000Z', true]]);
    assert.equal(c.problems.length, 2);
    assert.match(c.problems[0] ?? '', new RegExp(`${ids[0]}/increment.json: not valid JSON.*skipped`));
    assert.match(c.problems[1] ?? '', /2026-01-01T030000Z\/increment.json: missing/);
  });

  it('names a damaged manifest and goes on without the current state', () => {
    fs.writeFileSync(layout.manifest, 'not a manifest\n');
    const c = readCatalog(realFs, dist);
    assert.equal(c.current.size, 0);
    assert.equal(c.increments.length, 2);
    assert.equal(c.problems.length, 1);
  });

  it('adds what a run in progress has already done, read-only', () => {
    // A run that announced three changes: a new file (its temp file is gone: done), the deletion of
    // b.txt (gone from the mirror: done) and a changed d/c.txt (its temp file is still there: not done).
    const id = '2026-01-01T030000Z';
    fs.mkdirSync(layout.incrementDir(id));
    const entry = (path: string, content: string): StateEntry => ({
      path,
      type: 'file',
      size: content.length,
      mtime_ns: '1767225600000000000',
      mode: 0o644,
      uid: 0,
      gid: 0,
      sha256: 'e'.repeat(64),
      tracked: true,
      since: id,
    });
    const header = { journal: 1 as const, id, profile: 'default', source: join(root, 'src'), started: new Date().toISOString(), link_mode: 'hardlink' as const };
    const w = new JournalWriter(realFs, layout.journal, header);
    w.append({ op: 'put', kind: 'new', entry: entry('new.txt', 'new'), tmp: 'hb-gone' });
    w.append({ op: 'del', entry: { ...(readCatalog(realFs, dist).current.get('b.txt') as StateEntry) } });
    w.append({ op: 'put', kind: 'changed', entry: entry('d/c.txt', 'c two'), tmp: 'hb-still-there' });
    w.sync();
    w.close();
    fs.writeFileSync(join(layout.tmp, 'hb-still-there'), 'c two');
    fs.unlinkSync(layout.mirrorPath('b.txt'));
    const before = fingerprint();
    const c = readCatalog(realFs, dist);
    assert.equal(fingerprint(), before);
    assert.equal(c.pending?.id, id);
    assert.deepEqual([...c.current.keys()].sort(), ['a.txt', 'd', 'd/c.txt', 'new.txt']);
    assert.equal(c.current.get('d/c.txt')?.size, 1, 'the undone change is not in the state');
    const pending = c.increments.find((i) => i.id === id);
    assert.equal(pending?.pending, true);
    assert.deepEqual(pending?.json?.new.map((r) => r.path), ['new.txt']);
    assert.deepEqual(pending?.json?.deleted.map((r) => r.path), ['b.txt']);
    assert.deepEqual(pending?.json?.changed, []);
    assert.deepEqual(pending?.json?.new[0], toRecord(entry('new.txt', 'new')));
  });
});
