import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, removeDir, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { CAP_HEAP_MIN_STORES } from '../../src/threads/heap.js';

/**
 * The built program caps the heap's growth, with one collection, only for a plan that stores at
 * least CAP_HEAP_MIN_STORES entries (src/threads/heap.ts). V8's --trace-gc names a collection asked
 * for through gc() "testing": counted here, in the bundle as users run it.
 */
function forcedCollections(cfg: string): { code: number | null; forced: number; stderr: string } {
  const r = spawnSync(process.execPath, ['--trace-gc', BACKUP_JS, cfg, '--quiet'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const forced = r.stdout.split('\n').filter((l) => /Mark-Compact.* testing/.test(l)).length;
  return { code: r.status, forced, stderr: r.stderr };
}

test('the built program makes its one forced collection for a large plan only, and the run is right', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dirs = 40;
  const perDir = Math.ceil(CAP_HEAP_MIN_STORES / dirs) + 10;
  for (let d = 0; d < dirs; d++) {
    fs.mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < perDir; f++) fs.writeFileSync(join(src, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist' }));

  const first = forcedCollections(cfg);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.forced, 1, 'a first run of more than 20,000 files: one forced collection');
  assert.equal(fs.readFileSync(join(root, 'dist', 'mirror', 'd39', `f${perDir - 1}`), 'utf8'), `39/${perDir - 1}`);

  // A small change: no forced collection.
  fs.writeFileSync(join(src, 'd0', 'f0'), 'changed');
  const small = forcedCollections(cfg);
  assert.equal(small.code, 0, small.stderr);
  assert.equal(small.forced, 0, 'a plan of one entry: none');
  assert.equal(fs.readFileSync(join(root, 'dist', 'mirror', 'd0', 'f0'), 'utf8'), 'changed');
});
