import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { makeTree, readTree, removeDir, runCli, tempDir, type TreeItem } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { checkBackup, listIncrements, readIncrement } from '../helpers/fault-check.js';

/**
 * SPEC §6 "A vanished source empties nothing" and "Wrong destination", through the real program: each
 * refusal is exit 1 with a clear message and leaves the destination exactly as it was (every file's
 * content, mode, mtime and inode; every folder of the mirror and increments); --force overrides the
 * empty-source, mass-deletion and wrong-source guards.
 */

let work = '';
let backupJs = '';
before(() => {
  backupJs = ensureBuilt();
  work = tempDir('hb-guards-');
});
after(() => removeDir(work));

/** Everything about a destination that a refused run must not change. .hardback and its tmp folder are
 * exempt only in their own mtimes (the lock and the probe come and go inside them). */
function fingerprint(dist: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dist)) return out;
  const tree: Map<string, TreeItem> = readTree(dist);
  for (const [rel, v] of tree) {
    const exempt = v.type === 'dir' && (rel === '.hardback' || rel === '.hardback/tmp');
    out[rel] = [v.type, v.mode.toString(8), v.size, v.sha256 ?? '', v.target ?? '', exempt ? '' : v.mtimeMs, v.ino].join(' ');
  }
  return out;
}

function setup(name: string, files: number): { src: string; dist: string; cfg: string } {
  const src = join(work, name, 'src');
  const spec: Record<string, string> = {};
  for (let i = 0; i < files; i++) spec[`f${String(i).padStart(2, '0')}.txt`] = `file ${i}\n`;
  makeTree(src, spec);
  const dist = join(work, name, 'backup');
  const cfg = join(work, name, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src, dist }));
  const r = runCli(backupJs, [cfg]);
  assert.equal(r.code, 0, r.stderr);
  return { src, dist, cfg };
}

function expectRefusal(cfg: string, dist: string, message: RegExp, args: string[] = []): void {
  const before = fingerprint(dist);
  const r = runCli(backupJs, [cfg, ...args]);
  assert.equal(r.code, 1, `exit 1 expected: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.deepEqual(fingerprint(dist), before, 'the destination is unchanged');
}

describe('guards (SPEC §6)', () => {
  it('a missing source folder: exit 1, nothing changed (and a missing destination is not created)', () => {
    const { src, dist, cfg } = setup('missing', 5);
    fs.renameSync(src, `${src}.away`);
    expectRefusal(cfg, dist, /source folder .* does not exist/);
    // Not even --force makes a missing source an empty one.
    expectRefusal(cfg, dist, /does not exist/, ['--force']);
    // A source that is a file.
    fs.writeFileSync(src, 'not a folder');
    expectRefusal(cfg, dist, /is not a folder/, ['--force']);
    // A fresh destination is not even created.
    const cfg2 = join(work, 'missing', 'fresh.json');
    const fresh = join(work, 'missing', 'fresh-backup');
    fs.writeFileSync(cfg2, JSON.stringify({ src: join(work, 'missing', 'nowhere'), dist: fresh }));
    const r = runCli(backupJs, [cfg2]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!fs.existsSync(fresh), 'no destination folder was created');
  });

  it('an empty source against a non-empty backup is refused; --force empties the mirror and keeps the deleted versions', () => {
    const { src, dist, cfg } = setup('empty', 6);
    for (const f of fs.readdirSync(src)) fs.unlinkSync(join(src, f));
    expectRefusal(cfg, dist, /source .* is empty but the backup holds 6 entries.*--force/);
    const r = runCli(backupJs, [cfg, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(join(dist, 'mirror')), []);
    const last = listIncrements(dist).at(-1) ?? '';
    const inc = readIncrement(dist, last);
    assert.ok(inc.ok);
    assert.equal(inc.value.deleted.length, 6);
    assert.deepEqual(checkBackup(dist, { source: src }), []);
  });

  it('a run deleting more than max_delete_ratio of the mirror (and at least 20 files) is refused; --force goes ahead', () => {
    const { src, dist, cfg } = setup('mass', 40);
    for (let i = 0; i < 25; i++) fs.unlinkSync(join(src, `f${String(i).padStart(2, '0')}.txt`));
    expectRefusal(cfg, dist, /would delete 25 of 40 files.*max_delete_ratio 0\.5.*--force/);
    const r = runCli(backupJs, [cfg, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(checkBackup(dist, { source: src }), []);
  });

  it('the mass-deletion guard: 19 deletions never trip it, a raised max_delete_ratio lets 25 of 40 through', () => {
    const { src, dist, cfg } = setup('mass2', 30);
    for (let i = 0; i < 19; i++) fs.unlinkSync(join(src, `f${String(i).padStart(2, '0')}.txt`));
    const r = runCli(backupJs, [cfg]);
    assert.equal(r.code, 0, `19 of 30 deleted is below the 20-file floor: ${r.stderr}`);
    const { src: src2, dist: dist2, cfg: cfg2 } = setup('mass3', 40);
    fs.writeFileSync(cfg2, JSON.stringify({ src: src2, dist: dist2, max_delete_ratio: 0.7 }));
    for (let i = 0; i < 25; i++) fs.unlinkSync(join(src2, `f${String(i).padStart(2, '0')}.txt`));
    const r2 = runCli(backupJs, [cfg2]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(checkBackup(dist2, { source: src2 }), []);
    assert.ok(dist.length > 0);
  });

  it('a backup of another source is refused; --force adopts it, and then the old source is the stranger', () => {
    const { src, dist, cfg } = setup('wrong', 5);
    const other = join(work, 'wrong', 'other-src');
    makeTree(other, { 'f00.txt': 'file 0\n', 'x.txt': 'another source\n' });
    const cfg2 = join(work, 'wrong', 'other.json');
    fs.writeFileSync(cfg2, JSON.stringify({ src: other, dist }));
    expectRefusal(cfg2, dist, new RegExp(`belongs to ${src.replace(/[/.]/g, '\\$&')}, not .*other-src.*--force`));
    const r = runCli(backupJs, [cfg2, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(checkBackup(dist, { source: other }), []);
    expectRefusal(cfg, dist, /belongs to .*other-src/);
  });
});
