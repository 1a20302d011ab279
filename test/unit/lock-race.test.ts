import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireLock, readLock, type Lock } from '../../src/store/lock.js';
import type { Fs } from '../../src/io/fs.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { removeDir, tempDir } from '../helpers/tree.js';
import { deadPid } from '../helpers/fault-check.js';

test('two processes taking over the same stale lock: exactly one wins', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'lock');
  fs.writeFileSync(file, JSON.stringify({ pid: deadPid(), host: hostname(), started: '2020-01-01T00:00:00.000Z', program: 'backup' }));
  let b: Lock | undefined;
  // A looks at the stale lock; just before A moves it aside, B takes it over completely.
  const fsA = faultyFs({
    renameSync: () => {
      b ??= acquireLock(fs as Fs, file, 'b');
      return false;
    },
  });
  assert.throws(() => acquireLock(fsA as Fs, file, 'a'), /took over the stale lock on this backup at the same moment/);
  assert.ok(b !== undefined && b.tookOver !== undefined, 'B took the stale lock over');
  assert.equal(readLock(fs as Fs, file)?.program, 'b', 'the lock file is B\'s, given back by A');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['lock'], 'no temp files left');
});

test('a lock is never seen empty: it is linked into place with its content', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'lock');
  let seen: string | undefined;
  const spy = faultyFs({
    linkSync: () => {
      seen = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
      return false;
    },
  });
  const lock = acquireLock(spy as Fs, file, 'x');
  assert.equal(seen, undefined, 'the lock did not exist before the link');
  assert.equal(readLock(fs as Fs, file)?.pid, process.pid);
  lock.release();
  assert.equal(fs.existsSync(file), false);
});
