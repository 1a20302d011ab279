import { isMainThread, workerData, parentPort, type Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Script } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { LOCK, inlineForLongWork, limitInlining, workerLoaded, workerStartsUncapped } from '../../src/threads/jit.js';
import { startWorker, workerStarting } from '../../src/threads/roles.js';

/**
 * The inlining cap with workers starting (src/threads/jit.ts workerStartsUncapped), for
 * test/unit/jit-workers.test.ts, which runs each case in a process of its own (V8's flags are the
 * process's):
 *
 *   node flags-worker.js loaded|changed|late-cap|never|two|stuck   → JSON of FlagsResult
 *
 * What V8 itself says is whether it takes a code cache made under its defaults (made as this process
 * starts): it does only while the process's flags hash as V8's defaults do. This thread caps the
 * inlining budget and starts itself again as a worker through startWorker. The worker asks V8 as its
 * first statement, waits for this thread's word, asks again, calls workerStarting() as the programs'
 * workers do once their modules are loaded (but 'never'), and asks again. Meanwhile this thread lifts
 * the cap ('changed'), or starts a second worker and lets the first one go on while the second still
 * loads ('two'); or it caps the budget only while the worker loads ('late-cap'). 'stuck' starts no
 * worker: it caps the budget while the lock of the memory shared with workers is held, as by a
 * worker stopped while it held it.
 */

type Mode = 'loaded' | 'changed' | 'late-cap' | 'never' | 'two' | 'stuck';
/** What one worker saw: as its first statement, once this thread let it go on, and after workerStarting() (or not calling it). */
export interface WorkerSaw {
  first: boolean;
  mid: boolean;
  after: boolean;
}
export interface FlagsResult {
  /** As this process starts, and once it has capped the budget (for 'late-cap', before it starts the worker: not capped yet). */
  atStart: boolean;
  capped: boolean;
  workers: WorkerSaw[];
  /** This thread, once the workers have exited. */
  afterExit: boolean;
  /** 'stuck': how long capping the budget took, in ms. */
  stuckMs?: number;
}

let n = 0;
/** A new text each time, of one length (V8's cache checks the length, not the text), so V8's own memory of compiled scripts does not answer. */
const source = (i: number): string => `/*${String(i).padStart(6, '0')}*/ (function probe(a) { return a + 1; })`;
/** Whether V8 takes the code cache made under its defaults. */
function takesDefaultCache(cache: Buffer): boolean {
  return !new Script(source(++n), { cachedData: cache }).cachedDataRejected;
}

interface Started {
  worker: Worker;
  gate: Int32Array;
  saw: Promise<[WorkerSaw]>;
  exited: Promise<unknown[]>;
}

function start(cache: Buffer, mode: Mode): Started {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = startWorker(fileURLToPath(import.meta.url), { hardbackRole: 'scan', cache, gate, mode } as unknown as { hardbackRole: 'scan' });
  return { worker, gate, saw: once(worker, 'message') as Promise<[WorkerSaw]>, exited: once(worker, 'exit') };
}

/** Waits until the worker has asked V8 its first question (gate 1), then lets it go on (gate 2). */
function release(w: Started): void {
  if (Atomics.wait(w.gate, 0, 0, 10_000) === 'timed-out') throw new Error('the worker did not start');
  Atomics.store(w.gate, 0, 2);
  Atomics.notify(w.gate, 0);
}

async function run(mode: Mode): Promise<FlagsResult> {
  const cache = new Script(source(0)).createCachedData();
  const atStart = takesDefaultCache(cache);
  if (mode === 'stuck') {
    const load = workerStartsUncapped();
    workerLoaded(load);
    Atomics.store(load.shared, LOCK, 1);
    const t0 = performance.now();
    limitInlining();
    const stuckMs = performance.now() - t0;
    const capped = takesDefaultCache(cache);
    return { atStart, capped, workers: [], afterExit: capped, stuckMs };
  }
  if (mode !== 'late-cap') limitInlining();
  const capped = takesDefaultCache(cache);
  const workers: WorkerSaw[] = [];
  const a = start(cache, mode);
  if (mode === 'two') {
    const b = start(cache, mode);
    release(a);
    workers.push((await a.saw)[0]);
    release(b);
    workers.push((await b.saw)[0]);
    await Promise.all([a.exited, b.exited]);
  } else {
    let undo: (() => void) | undefined;
    if (mode === 'changed' || mode === 'late-cap') {
      if (Atomics.wait(a.gate, 0, 0, 10_000) === 'timed-out') throw new Error('the worker did not start');
      if (mode === 'changed') undo = inlineForLongWork();
      else limitInlining();
    }
    release(a);
    workers.push((await a.saw)[0]);
    await a.exited;
    undo?.();
    if (mode === 'loaded') {
      // Another worker after the first has exited (and was counted out twice over, by its own word
      // and by its exit): it loads under V8's default again, and the cap comes back.
      const again = start(cache, mode);
      release(again);
      workers.push((await again.saw)[0]);
      await again.exited;
    }
  }
  return { atStart, capped, workers, afterExit: takesDefaultCache(cache) };
}

if (isMainThread) {
  process.stdout.write(JSON.stringify(await run(process.argv[2] as Mode)));
} else {
  const { cache, gate, mode } = workerData as { cache: Uint8Array; gate: Int32Array; mode: Mode };
  const buf = Buffer.from(cache.buffer, cache.byteOffset, cache.byteLength);
  const first = takesDefaultCache(buf);
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  Atomics.wait(gate, 0, 1, 10_000);
  const mid = takesDefaultCache(buf);
  if (mode !== 'never') workerStarting(workerData);
  parentPort?.postMessage({ first, mid, after: takesDefaultCache(buf) } satisfies WorkerSaw);
}
