import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, removeDir, runCli, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';

function tree(root: string): string {
  const src = join(root, 'src');
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) fs.writeFileSync(join(src, `d${d}`, `f${f}.txt`), `content ${d}/${f}\n`.repeat(50));
  }
  fs.writeFileSync(join(root, 'config.json'), JSON.stringify({ src: 'src', dist: 'dist' }));
  return join(root, 'config.json');
}

test('progress (files, bytes, rate) goes to stderr on a terminal, and nothing of it otherwise', (t) => {
  ensureBuilt();
  const hasScript = spawnSync('script', ['--version']).status === 0;
  const root = tempDir();
  t.after(() => removeDir(root));
  const cfg = tree(root);

  // Not a terminal: no progress line, only the summary.
  const plain = runCli(BACKUP_JS, [cfg]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr, /copying:|scanning:/);
  assert.doesNotMatch(plain.stderr, /\r/);

  if (!hasScript) {
    t.skip('needs script(1) from util-linux for a pseudo-terminal');
    return;
  }
  // Change every file so the second run copies, under a pseudo-terminal (stdout and stderr are the TTY).
  for (let d = 0; d < 20; d++) for (let f = 0; f < 100; f++) fs.appendFileSync(join(root, 'src', `d${d}`, `f${f}.txt`), 'more\n');
  const r = spawnSync('script', ['-qfec', `${process.execPath} ${BACKUP_JS} ${cfg}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /\r(scanning: [\d,]+ entries|copying: \d+\/\d+ files, [\d.]+ \w+ of [\d.]+ \w+, [\d.]+ \w+\/s)/, 'a progress line was drawn');
  assert.match(r.stdout, /increment \S+: 0 new, 2,000 changed/, 'then the summary');
});
