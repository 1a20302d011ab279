import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, REPO } from './tree.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of fs.readdirSync(dir)) {
    const p = join(dir, name);
    const st = fs.statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/**
 * The end-to-end tests run the shipped program, build/backup.js. Builds it (scripts/build.mjs) when
 * it is missing or older than a source file, so a test never exercises stale code.
 */
export function ensureBuilt(): string {
  const built = fs.statSync(BACKUP_JS, { throwIfNoEntry: false });
  if (built === undefined || built.mtimeMs < newestMtime(join(REPO, 'src'))) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`node scripts/build.mjs failed:\n${r.stderr}`);
  }
  return BACKUP_JS;
}
