import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, TOOL_JS, removeDir, runCli, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';

test('backup-tool output piped into a reader that stops early (| head) ends quietly', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  for (let i = 0; i < 3000; i++) {
    fs.mkdirSync(join(root, 'src', `d${i % 30}`), { recursive: true });
    fs.writeFileSync(join(root, 'src', `d${i % 30}`, `file-${i}.md`), `${i}`);
  }
  fs.writeFileSync(join(root, 'config.json'), JSON.stringify({ src: 'src', dist: 'dist' }));
  assert.equal(runCli(BACKUP_JS, [join(root, 'config.json'), '--quiet']).code, 0);
  // In JSON (~3 MB), the search waits for the reader (a full pipe) when the reader goes away.
  for (const json of ['', ' --json']) {
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${TOOL_JS}" "${join(root, 'dist')}" search --mask '*.md'${json} | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, 'ended on its own');
    assert.match(r.stderr, /status 0/, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|Error/, r.stderr);
    assert.equal(r.stdout.split('\n').filter(Boolean).length, 1);
  }
});
