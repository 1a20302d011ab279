/**
 * The durability probe (src/io/durability.ts durabilityProbe): a run asks `sync -f DIST` in the
 * background whether syncfs works, and waits for the answer only when it has something to apply. A
 * run that finds nothing changed exits without waiting for it (a flush of a whole drive full of
 * other programs' data can take long). Here the `sync` first on PATH blocks until the test releases
 * it, so the run's exit while it still blocks is the proof.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BACKUP_JS, REPO, makeTree, removeDir, tempDir } from '../helpers/tree.js';

let root = '';
before(() => {
  root = tempDir('hb-syncprobe-');
  if (!fs.existsSync(BACKUP_JS)) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `build failed: ${r.stderr}`);
  }
});
after(async () => {
  // Release a probe still blocking and wait for its last write (`done`), so removing the folder
  // does not race with it (ENOTEMPTY).
  const [started, done] = [join(root, 'started'), join(root, 'done')];
  fs.writeFileSync(join(root, 'release'), '');
  if (fs.existsSync(started)) for (let waited = 0; !fs.existsSync(done) && waited < 10_000; waited += 20) await sleep(20);
  removeDir(root);
});

describe('the durability probe', { skip: process.platform !== 'linux' && 'the probe runs on Linux only' }, () => {
  it('a run that finds nothing changed exits while the probe still blocks', async () => {
    const src = join(root, 'src');
    const dist = join(root, 'dist');
    makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b' });
    const config = join(root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ src, dist }));
    const first = spawnSync(process.execPath, [BACKUP_JS, config, '--quiet'], { encoding: 'utf8' });
    assert.equal(first.status, 0, first.stderr);

    const bin = join(root, 'bin');
    fs.mkdirSync(bin);
    const [started, release, done] = ['started', 'release', 'done'].map((f) => join(root, f)) as [string, string, string];
    // Blocks until released (30 s at most), then succeeds as a real `sync -f` would.
    fs.writeFileSync(
      join(bin, 'sync'),
      `#!/bin/sh\n: > '${started}'\ni=0\nwhile [ ! -e '${release}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n: > '${done}'\nexit 0\n`,
      { mode: 0o755 },
    );
    const r = spawnSync(process.execPath, [BACKUP_JS, config, '--json'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"no-change"/);
    // The run spawned the probe; the shell may not have reached its first line yet.
    for (let waited = 0; !fs.existsSync(started) && waited < 10_000; waited += 20) await sleep(20);
    assert.ok(fs.existsSync(started), 'the run started the probe');
    assert.ok(!fs.existsSync(done), 'the run exited without waiting for the probe');
    fs.writeFileSync(release, '');
    for (let waited = 0; !fs.existsSync(done) && waited < 10_000; waited += 20) await sleep(20);
    assert.ok(fs.existsSync(done), 'the probe finished once released');
  });
});
