import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Fs } from '../../src/io/fs.js';
import { MadeDirs } from '../../src/apply/place.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/** realFs, with every mkdirSync call logged as `mkdir <path relative to root>[ recursive] <outcome>`. */
function loggingFs(root: string, log: string[]): Fs {
  const rel = (p: string) => p.slice(root.length + 1);
  const mkdirSync = ((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
    const what = `mkdir ${rel(String(p))}${o?.recursive === true ? ' recursive' : ''}`;
    try {
      const r = fs.mkdirSync(p, o);
      log.push(`${what} ok`);
      return r;
    } catch (err) {
      log.push(`${what} ${(err as { code?: string }).code}`);
      throw err;
    }
  }) as Fs['mkdirSync'];
  return { ...fs, mkdirSync };
}

test('MadeDirs makes each missing folder below the increment once, from the top, without a failing call', (t) => {
  const root = tempDir('hb-madedirs-');
  t.after(() => removeDir(root));
  const inc = join(root, 'increments', 'X');
  fs.mkdirSync(inc, { recursive: true });
  const log: string[] = [];
  const lfs = loggingFs(root, log);
  const dirs = new MadeDirs(inc);
  dirs.ensureParent(lfs, join(inc, 'files', 'a', 'b', 'c', 'f1'));
  dirs.ensureParent(lfs, join(inc, 'files', 'a', 'b', 'c', 'f2'));
  dirs.ensureParent(lfs, join(inc, 'files', 'a', 'b', 'd', 'f3'));
  dirs.ensureParent(lfs, join(inc, 'deleted', 'a', 'f4'));
  dirs.ensureParent(lfs, join(inc, 'files', 'top-level-file'));
  assert.deepEqual(log, [
    'mkdir increments/X/files ok',
    'mkdir increments/X/files/a ok',
    'mkdir increments/X/files/a/b ok',
    'mkdir increments/X/files/a/b/c ok',
    'mkdir increments/X/files/a/b/d ok',
    'mkdir increments/X/deleted ok',
    'mkdir increments/X/deleted/a ok',
  ]);
  for (const d of ['files/a/b/c', 'files/a/b/d', 'deleted/a']) assert.ok(fs.statSync(join(inc, d)).isDirectory(), d);

  // One that exists already (a folder the run made before a retried put, say) is no error.
  fs.mkdirSync(join(inc, 'files', 'e'));
  dirs.ensureParent(lfs, join(inc, 'files', 'e', 'f5'));
  assert.equal(log.at(-1), 'mkdir increments/X/files/e EEXIST');
  // Outside the increment's folder, a recursive mkdir.
  dirs.ensureParent(lfs, join(root, 'elsewhere', 'deep', 'f6'));
  assert.equal(log.at(-1), 'mkdir elsewhere/deep recursive ok');
  // A file where a folder must go: the error reaches the caller (the put is a per-file fault).
  fs.writeFileSync(join(inc, 'files', 'plain'), '');
  assert.throws(() => dirs.ensureParent(lfs, join(inc, 'files', 'plain', 'sub', 'f7')), { code: 'ENOTDIR' });
});
