import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { capHeapGrowth } from '../../src/threads/heap.js';

/**
 * capHeapGrowth leans on V8 flags set at run time (src/threads/heap.ts): this is where a Node that
 * stops honouring --expose-gc that way would show first. The growth factor itself cannot be read
 * back from V8; its effect is measured in bench/README.md, not here.
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
