import { isMainThread, workerData, parentPort, type Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Script } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { inlineBudget, inlineForLongWork, limitInlining } from '../../src/threads/jit.js';
import { startWorker, workerStarting } from '../../src/threads/roles.js';
import { capHeapGrowth } from '../../src/threads/heap.js';

/**
 * The flags V8's code cache checks, with a worker starting (src/threads/v8-flags.ts), for
 * test/unit/v8-flags.test.ts, which runs each case in a process of its own (V8's flags are the
 * process's):
 *
 *   node flags-worker.js put-back|changed|never [heap]   → JSON of FlagsResult
 *
 * What V8 itself says is whether it takes a code cache made under its defaults (made as this process
 * starts): it does only while the process's flags hash as V8's defaults do. This thread caps the
 * inlining budget (with `heap`, the old generation's growth instead) and starts itself again as a worker through startWorker. The worker asks V8 as its
 * first statement, then calls workerStarting() as the programs' workers do once their modules are
 * loaded ('put-back'), after this thread has lifted the cap meanwhile ('changed'), or not at all
 * ('never'), and asks again.
 */

type Mode = 'put-back' | 'changed' | 'never';
export interface FlagsResult {
  /** As this process starts, and once it has capped the budget. */
  atStart: boolean;
  capped: boolean;
  /** In the worker: as its first statement, and after workerStarting() (or not calling it). */
  workerFirst: boolean;
  workerAfter: boolean;
  /** This thread, once the worker has exited; its budget as it set it. */
  afterExit: boolean;
  budgetAfterExit: number;
}

let n = 0;
/** A new text each time, of one length (V8's cache checks the length, not the text), so V8's own memory of compiled scripts does not answer. */
const source = (i: number): string => `/*${String(i).padStart(6, '0')}*/ (function probe(a) { return a + 1; })`;
/** Whether V8 takes the code cache made under its defaults. */
function takesDefaultCache(cache: Buffer): boolean {
  return !new Script(source(++n), { cachedData: cache }).cachedDataRejected;
}

async function run(mode: Mode, heap: boolean): Promise<FlagsResult> {
  const cache = new Script(source(0)).createCachedData();
  const atStart = takesDefaultCache(cache);
  if (heap) capHeapGrowth();
  else limitInlining();
  const capped = takesDefaultCache(cache);
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker: Worker = startWorker(fileURLToPath(import.meta.url), { hardbackRole: 'scan', cache, gate, mode } as unknown as { hardbackRole: 'scan' });
  const answer = once(worker, 'message') as Promise<[{ first: boolean; after: boolean }]>;
  const exited = once(worker, 'exit');
  let undo: (() => void) | undefined;
  if (mode === 'changed') {
    // Once the worker has asked V8 (it waits for this thread before it goes on): the lift is this
    // thread's change meanwhile, and must stand.
    if (Atomics.wait(gate, 0, 0, 30_000) === 'timed-out') throw new Error('the worker did not start');
    undo = inlineForLongWork();
    Atomics.store(gate, 0, 2);
    Atomics.notify(gate, 0);
  }
  const [{ first, after }] = await answer;
  await exited;
  undo?.();
  return { atStart, capped, workerFirst: first, workerAfter: after, afterExit: takesDefaultCache(cache), budgetAfterExit: inlineBudget() };
}

if (isMainThread) {
  process.stdout.write(JSON.stringify(await run(process.argv[2] as Mode, process.argv[3] === 'heap')));
} else {
  const { cache, gate, mode } = workerData as { cache: Uint8Array; gate: Int32Array; mode: Mode };
  const buf = Buffer.from(cache.buffer, cache.byteOffset, cache.byteLength);
  const first = takesDefaultCache(buf);
  if (mode === 'changed') {
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    Atomics.wait(gate, 0, 1, 30_000);
  }
  if (mode !== 'never') workerStarting(workerData);
  parentPort?.postMessage({ first, after: takesDefaultCache(buf) });
}
