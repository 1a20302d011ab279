import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { INLINE_BUDGET } from '../../src/threads/jit.js';
import { REPO } from '../helpers/tree.js';
import type { FlagsResult } from '../helpers/flags-worker.js';

/**
 * src/threads/v8-flags.ts: a worker starts under V8's default flags, so Node's code cache for its
 * own modules is taken, and the flags this thread set come back. Each case runs
 * test/helpers/flags-worker.ts in a process of its own; V8 answers by taking or refusing a code
 * cache made under its defaults.
 */
function flagsCase(mode: 'put-back' | 'changed' | 'never', heap = false): FlagsResult {
  const r = spawnSync(process.execPath, [join(REPO, '.test-build', 'test', 'helpers', 'flags-worker.js'), mode, ...(heap ? ['heap'] : [])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as FlagsResult;
  // The premise: V8 takes the cache under its defaults and refuses it once a flag is set.
  assert.equal(result.atStart, true, 'V8 takes a cache made under its defaults');
  assert.equal(result.capped, false, 'V8 refuses it once this thread has set a flag');
  return result;
}

test('a worker started while the inlining budget is capped starts under V8\'s defaults, and puts the cap back once its modules are loaded', () => {
  const r = flagsCase('put-back');
  assert.equal(r.workerFirst, true, "the worker's first statement ran under V8's defaults: Node's code cache is taken");
  assert.equal(r.workerAfter, false, 'workerStarting() put the cap back');
  assert.equal(r.afterExit, false, 'still capped once the worker has exited');
  assert.equal(r.budgetAfterExit, INLINE_BUDGET);
});

test('a worker started while the old generation\'s growth is capped: the same', () => {
  const r = flagsCase('put-back', true);
  assert.equal(r.workerFirst, true);
  assert.equal(r.workerAfter, false);
  assert.equal(r.afterExit, false);
});

test('a flag this thread changes while a worker starts stands: the worker does not put back what it was told', () => {
  // The lift (inlineForLongWork) is V8's default: the worker's check after workerStarting() takes
  // the cache only if the cap was not put back over the lift.
  const r = flagsCase('changed');
  assert.equal(r.workerFirst, true);
  assert.equal(r.workerAfter, true, 'the lift made meanwhile stands');
  assert.equal(r.afterExit, false, 'the lift undone: capped again');
});

test('a worker that never puts the flags back: this thread does once it has exited', () => {
  const r = flagsCase('never');
  assert.equal(r.workerFirst, true);
  assert.equal(r.workerAfter, true, 'nothing put the cap back while the worker ran');
  assert.equal(r.afterExit, false, 'capped again once the worker exited');
  assert.equal(r.budgetAfterExit, INLINE_BUDGET);
});
