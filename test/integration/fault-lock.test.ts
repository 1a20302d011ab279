import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Fs } from '../../src/io/fs.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { makeTree, readTree, removeDir, runCli, tempDir, treeView, TOOL_JS, type CliResult } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { checkBackup, deadPid } from '../helpers/fault-check.js';
import { backup } from '../helpers/fault-scenario.js';

/**
 * SPEC §6 "Concurrency": one run per destination; a second one fails fast (exit 1) naming the
 * holder's pid, host and start time; a lock left by a dead process on this host is taken over with a
 * notice; a lock of another host is never taken over; backup-tool reads do not wait for it.
 */

let work = '';
let backupJs = '';
before(() => {
  backupJs = ensureBuilt();
  work = tempDir('hb-lock-');
});
after(() => removeDir(work));

function setup(name: string): { src: string; dist: string; cfg: string; lock: string } {
  const src = join(work, name, 'src');
  makeTree(src, { 'a.txt': 'a\n', 'b/c.txt': 'c\n' });
  const dist = join(work, name, 'backup');
  const cfg = join(work, name, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src, dist }));
  const r = runCli(backupJs, [cfg]);
  assert.equal(r.code, 0, r.stderr);
  fs.writeFileSync(join(src, 'a.txt'), 'a changed\n');
  return { src, dist, cfg, lock: join(dist, '.hardback', 'lock') };
}

function timed(fn: () => CliResult): CliResult & { ms: number } {
  const t0 = Date.now();
  const r = fn();
  return { ...r, ms: Date.now() - t0 };
}

describe('the destination lock', () => {
  it('a lock held by a live process: the second run fails fast with exit 1, naming pid, host and start time', () => {
    const { dist, cfg, lock } = setup('live');
    const started = '2026-05-01T08:09:10.000Z';
    const text = JSON.stringify({ pid: process.pid, host: hostname(), started, program: 'backup' });
    fs.writeFileSync(lock, text);
    const mirrorBefore = treeView(readTree(join(dist, 'mirror')));
    const r = timed(() => runCli(backupJs, [cfg]));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`pid ${process.pid}`));
    assert.ok(r.stderr.includes(hostname()), r.stderr);
    assert.ok(r.stderr.includes(started), r.stderr);
    assert.ok(r.ms < 5000, `failed fast (${r.ms} ms)`);
    assert.equal(fs.readFileSync(lock, 'utf8'), text, 'the holder keeps its lock');
    assert.deepEqual(treeView(readTree(join(dist, 'mirror'))), mirrorBefore, 'nothing was changed');
    // backup-tool reads never wait for the lock.
    const list = runCli(TOOL_JS, [dist, 'list']);
    assert.equal(list.code, 0, list.stderr);
  });

  it('two real runs at once: while one copies, a second one started against the same destination exits 1 naming it', async () => {
    const { src, dist, cfg } = setup('concurrent');
    let second: CliResult | undefined;
    // The first run (in this process) pauses inside its first copy and starts the second program.
    const startSecond = () => {
      second ??= runCli(backupJs, [cfg]);
      return false as const;
    };
    const fsx = faultyFs({ read: startSecond, readSync: startSecond });
    const o = await backup(src, dist, { fs: fsx as Fs, at: new Date(), profile: { rules: {} } });
    assert.ok(second !== undefined, 'the second run was started during the first one');
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`another run holds the lock on this backup: pid ${process.pid} on ${hostname()}, started \\d{4}-`));
    assert.equal(o.status, 'done');
    assert.deepEqual(checkBackup(dist, { source: src }), []);
  });

  it('a lock left by a dead process on this host is taken over with a notice', () => {
    const { src, dist, cfg, lock } = setup('stale');
    const pid = deadPid();
    fs.writeFileSync(lock, JSON.stringify({ pid, host: hostname(), started: '2026-05-01T07:00:00.000Z', program: 'backup' }));
    const r = runCli(backupJs, [cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`took over a stale lock left by pid ${pid} on ${hostname()} \\(started 2026-05-01T07:00:00.000Z\\)`));
    assert.ok(!fs.existsSync(lock), 'the lock is released at the end');
    assert.deepEqual(checkBackup(dist, { source: src }), []);
  });

  it("a lock of another host is never taken over (its process cannot be checked from here)", () => {
    const { dist, cfg, lock } = setup('otherhost');
    const pid = deadPid();
    fs.writeFileSync(lock, JSON.stringify({ pid, host: 'some-other-machine', started: '2026-05-01T07:00:00.000Z', program: 'backup' }));
    const mirrorBefore = treeView(readTree(join(dist, 'mirror')));
    const r = runCli(backupJs, [cfg]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`pid ${pid} on some-other-machine, started 2026-05-01T07:00:00.000Z`));
    assert.deepEqual(treeView(readTree(join(dist, 'mirror'))), mirrorBefore);
  });
});
