import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { capHeapGrowth } from '../../src/threads/heap.js';
import { REPO } from '../helpers/tree.js';
import type { HoldResult } from '../helpers/young-hold-worker.js';

/**
 * capHeapGrowth leans on V8 flags set at run time (src/threads/heap.ts): this is where a Node that
 * stops honouring --expose-gc that way would show first. The growth factors cannot be read back
 * from V8: the heap cap's effect is measured in bench/HISTORY.md; the young-generation hold's is seen
 * below, in the young generation's size (v8.getHeapSpaceStatistics) while a worker starts.
 */

test('capHeapGrowth makes a full collection at once, and leaves no gc() behind for later contexts or workers', async () => {
  const kinds: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
  });
  observer.observe({ entryTypes: ['gc'] });
  const uncap = capHeapGrowth();
  try {
    // gc entries arrive asynchronously: waited for (up to 5 s on a busy machine), not assumed.
    for (let waited = 0; !kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR) && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), `a major collection was made (saw kinds ${kinds.join(',')})`);
    assert.equal(runInNewContext('typeof gc'), 'undefined');
    const inWorker = await new Promise<unknown>((resolve, reject) => {
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(typeof gc)", { eval: true });
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(inWorker, 'undefined');
  } finally {
    observer.disconnect();
    uncap();
  }
  // Called again (the next profile of the same run): as good as the first time.
  capHeapGrowth()();
});

/**
 * The young generation's starting size, 1 MiB halves: what the hold keeps it to (V8 commits the second
 * half at its first collections, and may give it back: 1 or 2 MiB are both the starting size). Without
 * the hold it doubles up to 16 MiB halves.
 */
const START_NEW_SPACE = 2 << 20;

/** One case of test/helpers/young-hold-worker.ts, in a process of its own. */
function holdCase(when: 'before' | 'settle' | 'after' | 'never'): HoldResult {
  const r = spawnSync(process.execPath, [join(REPO, '.test-build', 'test', 'helpers', 'young-hold-worker.js'), when], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as HoldResult;
  const [start, end] = result.alone;
  assert.ok(start <= START_NEW_SPACE && end <= START_NEW_SPACE, `the hold itself: survivors took this thread's young generation from ${start >> 10} to ${end >> 10} KiB`);
  return result;
}

test('a worker started under the young-generation hold puts it back as its first statement: this thread, busy throughout, keeps its young generation', () => {
  const [before, after] = holdCase('after').withWorker;
  assert.ok(after <= START_NEW_SPACE, `this thread's young generation went from ${before >> 10} to ${after >> 10} KiB`);
});

test('a worker that does not put the hold back itself: this thread does, once it sees the worker online', () => {
  // Until this thread handles 'online', its event loop runs with the factor the worker's heap set-up
  // left (2): a scavenge in that window may double the young generation once (seen in 5 of 40 runs,
  // 2 → 4 MiB; CI failed on it). What the hold promises is from 'online' on: the ~40 MB of survivors
  // allocated after it would double it up to 32 MiB without the hold, and must leave it as it was.
  const [before, after] = holdCase('never').withWorker;
  assert.ok(after <= Math.max(before, START_NEW_SPACE), `this thread's young generation went from ${before >> 10} to ${after >> 10} KiB after the worker was online`);
});

test('a worker that has started but not yet run undoes the hold (V8 sets the factor back for the process): this thread puts it back itself, as a backup\'s scan does', () => {
  // The premise: without this thread's own settleYoungFactor(), its young generation doubles while
  // the worker loads (if V8 stops resetting the factor, this is where it shows).
  const [b0, b1] = holdCase('before').withWorker;
  assert.ok(b1 > START_NEW_SPACE, `without settling, this thread's young generation stayed at ${b1 >> 10} KiB (from ${b0 >> 10})`);
  // As with 'never': while this thread makes the worker, the worker's heap set-up may reset the
  // factor before that thread's own allocations are done, and one scavenge then doubles the young
  // generation before the settle (seen once in a full test run: 4 MiB before, 4 MiB after). What the
  // settle promises is no growth from it on: the ~40 MB of survivors after it must leave it as it was.
  const [before, after] = holdCase('settle').withWorker;
  assert.ok(after <= Math.max(before, START_NEW_SPACE), `settled, this thread's young generation still went from ${before >> 10} to ${after >> 10} KiB`);
});

/**
 * Under the hold each thread scavenges its young generation alone (src/threads/heap.ts): seen in V8's
 * own trace of each scavenge (--trace-gc-nvp), whose `background.scavenge.parallel` is the time V8's
 * helper threads spent on it. A process of its own takes the hold, starts a worker, and both keep
 * survivors through many scavenges (each then has work to share: without the hold, helper threads
 * took part in some of them in every run seen).
 */
test('under the young-generation hold no scavenge of either thread is shared with V8 helper threads', () => {
  const heap = join(REPO, '.test-build', 'src', 'threads', 'heap.js');
  const keep = "const k = []; for (let i = 0; i < 300000; i++) k.push({ i, s: 'entry ' + i, a: [i] });";
  const worker = `${keep} import('node:worker_threads').then((t) => t.parentPort.postMessage(k.length));`;
  const script = `
    const { holdYoungGeneration } = await import(${JSON.stringify(heap)});
    const { Worker } = await import('node:worker_threads');
    holdYoungGeneration();
    const w = new Worker(${JSON.stringify(worker)}, { eval: true });
    { ${keep} }
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  `;
  const r = spawnSync(process.execPath, ['--trace-gc-nvp', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const scavenges = r.stdout.split('\n').filter((l) => l.includes(' gc=s '));
  const isolates = new Set(scavenges.map((l) => /^\[\d+:(0x[0-9a-f]+)\]/.exec(l)?.[1]));
  assert.ok(scavenges.length >= 20 && isolates.size >= 2, `the premise: both threads scavenged many times (${scavenges.length} scavenges in ${isolates.size} isolates)`);
  const shared = scavenges.filter((l) => !/ background\.scavenge\.parallel=0\.00 /.test(l));
  assert.deepEqual(shared, [], 'scavenges that V8 helper threads worked on');
});
