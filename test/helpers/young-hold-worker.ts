import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { getHeapSpaceStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { holdYoungGeneration, settleYoungFactor } from '../../src/threads/heap.js';
import { startWorker, workerStarting } from '../../src/threads/roles.js';

/**
 * The young-generation hold with a worker starting (src/threads/heap.ts, roles.ts), for
 * test/unit/heap-cap.test.ts, which runs each case in a process of its own (V8's flags are the
 * process's, and a young generation once grown stays so):
 *
 *   node young-hold-worker.js before|settle|after|never   → JSON of this thread's young generation (bytes)
 *
 * Under a hold, this thread starts itself again as a worker through startWorker and waits, blocked
 * (no event of the worker is handled meanwhile), until the worker runs: its isolate is configured by
 * then, which set V8's growth factor back for the whole process. The worker waits in its turn before
 * it calls workerStarting() ('before': in place of what the program's workers do before their first
 * statement, loading the bundle; 'settle': the same, and this thread puts the hold back itself), after it ('after', as src/bin/*.ts do), or without calling it
 * ('never'; this thread then waits for the worker's 'online' event). Then this thread allocates ~40 MB
 * that survives, without returning to the event loop (as a run reads its manifest and walks the
 * source), and lets the worker go.
 */

type When = 'before' | 'settle' | 'after' | 'never';
export interface HoldResult {
  /** The young generation before and after survivors under the hold, no worker starting. */
  alone: [number, number];
  /** The same while the worker starts. */
  withWorker: [number, number];
}

const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

function survivors(): unknown[] {
  const keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) keep.push({ i, name: `entry ${i}`, more: [i, i + 1] });
  return keep;
}

function hold(gate: SharedArrayBuffer): void {
  const flags = new Int32Array(gate);
  Atomics.store(flags, 0, 1);
  Atomics.notify(flags, 0);
  Atomics.wait(flags, 1, 0, 30_000);
}

async function run(when: When): Promise<HoldResult> {
  const release = holdYoungGeneration();
  let kept: unknown[] = [];
  try {
    const start = newSpace();
    kept = survivors();
    const alone: [number, number] = [start, newSpace()];
    kept = [];
    const gate = new SharedArrayBuffer(8);
    const flags = new Int32Array(gate);
    const worker: Worker = startWorker(fileURLToPath(import.meta.url), { hardbackRole: 'scan', gate, when } as unknown as { hardbackRole: 'scan' });
    const online = once(worker, 'online');
    const exited = once(worker, 'exit');
    try {
      if (Atomics.wait(flags, 0, 0, 30_000) !== 'ok') throw new Error('the worker did not start');
      if (when === 'never') await online;
      // What a backup's scan does every 1,000 entries (src/apply/run.ts).
      if (when === 'settle') settleYoungFactor();
      const before = newSpace();
      kept = survivors();
      return { alone, withWorker: [before, newSpace()] };
    } finally {
      Atomics.store(flags, 1, 1);
      Atomics.notify(flags, 1);
      await exited;
    }
  } finally {
    release();
    void kept;
  }
}

if (isMainThread) {
  process.stdout.write(JSON.stringify(await run(process.argv[2] as When)));
} else {
  const { gate, when } = workerData as { gate: SharedArrayBuffer; when: When };
  const early = when === 'before' || when === 'settle';
  if (early) hold(gate);
  if (when !== 'never') workerStarting(workerData);
  if (!early) hold(gate);
}
