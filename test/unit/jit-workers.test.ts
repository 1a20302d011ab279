import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LOCK_WAIT_MS } from '../../src/threads/jit.js';
import { REPO } from '../helpers/tree.js';
import type { FlagsResult } from '../helpers/flags-worker.js';

/**
 * src/threads/jit.ts workerStartsUncapped: a worker loads under V8's default inlining, so Node's
 * code cache for its own modules is taken, and the cap comes back once the last loading worker is
 * loaded. Each case runs test/helpers/flags-worker.ts in a process of its own; V8 answers by taking
 * or refusing a code cache made under its defaults.
 */
function flagsCase(mode: 'loaded' | 'changed' | 'late-cap' | 'never' | 'two' | 'stuck'): FlagsResult {
  const r = spawnSync(process.execPath, [join(REPO, '.test-build', 'test', 'helpers', 'flags-worker.js'), mode], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as FlagsResult;
  // The premise: V8 takes the cache under its defaults, and refuses it under the cap.
  assert.equal(result.atStart, true, 'V8 takes a cache made under its defaults');
  assert.equal(result.capped, mode === 'late-cap', 'V8 refuses it under the cap');
  for (const w of result.workers) {
    assert.equal(w.first, true, "a worker's first statement runs under V8's defaults: Node's code cache is taken");
    assert.equal(w.mid, true, 'so does all it runs until it is loaded, whatever this thread set meanwhile');
  }
  return result;
}

test('a worker started under the inlining cap loads under V8\'s default, and the cap is back once it is loaded; so for the next one', () => {
  const r = flagsCase('loaded');
  assert.equal(r.workers.length, 2);
  assert.equal(r.workers[0]?.after, false, 'capped again after workerStarting()');
  assert.equal(r.workers[1]?.after, false, 'the next worker too: each load was counted out once');
  assert.equal(r.afterExit, false, 'still capped once the workers have exited');
});

test('a budget this thread sets while a worker loads is the one that stands once it is loaded', () => {
  // The lift (inlineForLongWork) is V8's default, made while the worker loads.
  const r = flagsCase('changed');
  assert.equal(r.workers[0]?.after, true, 'the lift made meanwhile stands, not the cap of before');
  assert.equal(r.afterExit, false, 'the lift undone: capped again');
});

test('a cap this thread sets while a worker loads waits until the worker is loaded', () => {
  const r = flagsCase('late-cap');
  assert.equal(r.workers[0]?.after, false, 'capped once loaded');
  assert.equal(r.afterExit, false);
});

test('a worker that never says it is loaded: this thread puts the cap back when it exits', () => {
  const r = flagsCase('never');
  assert.equal(r.workers[0]?.after, true, 'nothing put the cap back while the worker ran');
  assert.equal(r.afterExit, false, 'capped again once the worker exited');
});

test('two workers loading at once: the first one loaded leaves V8\'s default to the second, which puts the cap back', () => {
  const r = flagsCase('two');
  assert.equal(r.workers.length, 2);
  assert.equal(r.workers[0]?.after, true, 'still uncapped: the second worker is loading');
  assert.equal(r.workers[1]?.after, false, 'capped once the second is loaded');
  assert.equal(r.afterExit, false);
});

test('a lock left held (a worker stopped while it held it) delays a budget change, and does not stop it', () => {
  // flagsCase checks the cap took effect (V8 refuses the cache made under its defaults); a lock
  // waited for without end would not return at all (the case's timeout).
  const r = flagsCase('stuck');
  assert.equal(r.capped, false);
  assert.ok((r.stuckMs ?? 0) >= LOCK_WAIT_MS - 1, `the lock was waited for (${r.stuckMs} ms), then taken over`);
});
