import type { Worker } from 'node:worker_threads';
import { errorCode, errorMessage, isDriveFailure } from '../io/errors.js';
import { startWorker, type NextRole, type RoleData, type WorkerRole } from './roles.js';

/**
 * Many jobs of one kind (file copies) on two threads: this one and a worker thread, the same program
 * file started again (src/threads/roles.ts). The two hardback targets run on two cores; the copies
 * of a backup (src/apply/copier.ts) and of a restore (src/restore/copy-files.ts) keep one core busy
 * with syscalls and hashing, and the second core takes half of it.
 *
 * - Jobs go in as columns, one array per field: structured-cloned to the worker, arrays of strings
 *   and numbers cost a fifth of as many small objects (25 batches of 4096: 120 ms against 24 ms).
 * - Both threads claim jobs, `chunk` at a time, from one counter in a SharedArrayBuffer, so neither
 *   waits while the other has work, and each job is made by one of them.
 * - What comes out is per job, and crosses as plain data: the jobs made and their results (columns
 *   again), and faults as { index, code, message }. A fault without an errno code stays without one:
 *   it is a per-file fault on either thread, never taken for a drive failure.
 * - A drive failure (isDriveFailure: a full, read-only or failing drive) on either thread sets a
 *   stop flag beside the counter, and neither thread starts another job of that batch: the jobs not
 *   made then have no outcome, and `stopped` says why. A batch posted ahead of it has a flag of its
 *   own, which the caller raises with `stop()` once it knows: until then the worker may be making
 *   that batch's jobs (the same drive most often fails them too, and stops it).
 * - The worker lives as long as the pair (started for it, or an idle worker of ours it adopts: the
 *   backup's scan worker): batches are posted one after another (the backup posts batch k+1 before
 *   it joins batch k, then places batch k-1; a restore posts batch k+1 before it joins batch k);
 *   it answers them in order, once per batch.
 * - A worker that cannot start, dies, or answers what cannot be read costs only time: every job of a
 *   batch that has no outcome when both threads are done is made again on this thread (over whatever
 *   the worker left: `clear`), and later batches run here alone. Unless a drive failure stopped the
 *   batch: then nothing more is tried.
 */

/** A job that failed, as plain data. `code` is the errno-style code, null when the error had none. */
export interface Fault {
  index: number;
  code: string | null;
  message: string;
}

export const faultOf = (index: number, err: unknown): Fault => ({ index, code: errorCode(err) ?? null, message: errorMessage(err) });

/** The fault as an Error again, with its code (none when it had none). */
export function errorOf(f: Fault): Error {
  const err = new Error(f.message);
  return f.code === null ? err : Object.assign(err, { code: f.code });
}

/**
 * What one kind of job is, the same code on both threads. `Jobs` are columns; `Results` are columns
 * too, one value pushed per job made (by `keep`); `Lane` is what one job in flight needs (a buffer).
 */
export interface PairWork<Jobs, Results, Row, Lane> {
  count(jobs: Jobs): number;
  /** Empty result columns. */
  results(): Results;
  lane(): Lane;
  /** Makes job i, or throws: its fault. May be synchronous (no await per job then). */
  run(jobs: Jobs, i: number, lane: Lane): Row | Promise<Row>;
  /** Appends a made job's row to the result columns. */
  keep(results: Results, row: Row): void;
  /** Removes whatever a thread that died while making job i may have left, before it is made again. */
  clear(jobs: Jobs, i: number): void;
}

/** The jobs one thread made: their indexes, and their results in the same order. */
export interface Part<Results> {
  done: number[];
  results: Results;
  faults: Fault[];
}

export interface PairResult<Results> {
  /** This thread's jobs, the worker's, and any made again: together every job with a result. */
  parts: readonly Part<Results>[];
  /** Every fault, in job order. */
  faults: Fault[];
  /** The drive failure that stopped the batch: jobs with neither a result nor a fault were not made. */
  stopped: Fault | undefined;
  /** Jobs the worker answered for (made or failed); 0 without one. */
  byWorker: number;
}

export interface PairRun<Results> {
  /** Makes the jobs the worker has not taken; resolves when every job has its outcome. */
  finish(): Promise<PairResult<Results>>;
  /**
   * Raises the batch's stop flag: neither thread starts another of its jobs (the worker finishes the
   * one it is making), and `finish` makes none again; the jobs not made have no outcome. For a batch
   * posted ahead of one that stopped.
   */
  stop(): void;
}

export interface PairOptions {
  /**
   * The program file to start as the worker, and its workerData; or a worker of ours that is idle,
   * waiting for its next role (threads/roles.ts awaitNextRole), to take over with this data. Without
   * it, this thread alone.
   */
  worker?: { script: string; data: RoleData<WorkerRole> } | { adopt: Worker; data: RoleData<WorkerRole> };
  /** Jobs claimed at a time. */
  chunk: number;
  /** Jobs in flight at once on this thread while it works alone (asynchronous jobs overlap their I/O). Default 1. */
  aloneLanes?: number;
  /**
   * This thread lets its event loop run at least this often (ms) while it makes jobs, so that what
   * waits on it (a flush that ended, an fsync's callback) goes on during a batch of synchronous jobs.
   * Default: only when a job itself waits.
   */
  yieldMs?: number;
}

export interface StartOptions<Results> {
  /** Sees each job made: here as it is made, the worker's when its answer arrives. */
  onDone?: (results: Results, k: number) => void;
  /** Whether this thread takes jobs too while a worker works (default); tests leave them all to the worker. */
  thisThread?: boolean;
}

export interface BatchMessage<Jobs> {
  jobs: Jobs;
  /** Int32 [next job, stop flag]. */
  shared: SharedArrayBuffer;
  chunk: number;
}

const NEXT = 0;
const STOP = 1;
/** The stop flag's value when the caller stopped the batch (PairRun.stop); a drive failure sets 1. */
const STOPPED_BY_CALLER = 2;

const newPart = <Results>(results: Results): Part<Results> => ({ done: [], results, faults: [] });
const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => v instanceof Promise;

/**
 * The loop both threads run: claim a chunk, make its jobs, until none is left or the stop flag is up.
 * `order` maps claims to job indexes (the jobs made again); without it they are the indexes.
 */
async function claimLoop<Jobs, Results, Row, Lane>(
  work: PairWork<Jobs, Results, Row, Lane>,
  jobs: Jobs,
  claim: { shared: Int32Array; count: number; chunk: number; order?: readonly number[]; yieldMs?: number },
  part: Part<Results>,
  lane: Lane,
  onDone: ((results: Results, k: number) => void) | undefined,
): Promise<void> {
  const { shared, count, chunk, order, yieldMs } = claim;
  let yielded = yieldMs === undefined ? 0 : performance.now();
  for (;;) {
    const start = Atomics.add(shared, NEXT, chunk);
    if (start >= count) return;
    const end = Math.min(count, start + chunk);
    for (let c = start; c < end; c++) {
      if (yieldMs !== undefined && performance.now() - yielded >= yieldMs) {
        await new Promise((resolve) => setImmediate(resolve));
        yielded = performance.now();
      }
      if (Atomics.load(shared, STOP) !== 0) return;
      const i = order === undefined ? c : (order[c] as number);
      if (order !== undefined) work.clear(jobs, i);
      let row: Row;
      try {
        const r = work.run(jobs, i, lane);
        row = isPromise(r) ? await r : r;
      } catch (err) {
        part.faults.push(faultOf(i, err));
        if (isDriveFailure(err)) {
          Atomics.store(shared, STOP, 1);
          return;
        }
        continue;
      }
      part.done.push(i);
      work.keep(part.results, row);
      onDone?.(part.results, part.done.length - 1);
    }
  }
}

/** This thread's side: a pair of threads for one kind of job, for as many batches as the caller has. */
export class ThreadPair<Jobs, Results, Row, Lane> {
  private worker: Worker | undefined;
  /** The worker answers batches in the order they were posted. */
  private readonly waiting: ((answer: Part<Results> | undefined) => void)[] = [];
  /** Lanes not in use (their buffers are reused from batch to batch). */
  private readonly lanes: Lane[] = [];
  /** Settles once the worker runs (its heap is configured) or could not start; at once without one. */
  readonly started: Promise<void>;

  constructor(
    private readonly work: PairWork<Jobs, Results, Row, Lane>,
    private readonly o: PairOptions,
  ) {
    this.started = Promise.resolve();
    if (o.worker === undefined) return;
    let w: Worker;
    if ('adopt' in o.worker) {
      // Already running: it takes the batches once it has this message (messages keep their order).
      // One whose exit is already known would never answer, nor say it exited: this thread alone.
      if (o.worker.adopt.threadId === -1) return;
      w = o.worker.adopt;
      w.ref();
      const next: NextRole = { hardbackNextRole: o.worker.data };
      w.postMessage(next);
    } else {
      try {
        w = startWorker(o.worker.script, o.worker.data);
      } catch {
        return; // no second thread here: this one makes every job
      }
      this.started = new Promise((resolve) => {
        w.once('online', resolve);
        w.once('exit', resolve);
      });
    }
    this.worker = w;
    w.on('message', (m: Part<Results>) => this.waiting.shift()?.(m));
    // An error ends the worker: 'exit' follows, and only then is nothing of it running any more.
    w.on('error', () => {});
    w.on('messageerror', () => void w.terminate());
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      for (const resolve of this.waiting.splice(0)) resolve(undefined);
    });
  }

  /** Starts a batch: the worker begins on it as soon as it is done with those posted before. */
  start(jobs: Jobs, so: StartOptions<Results> = {}): PairRun<Results> {
    const sab = new SharedArrayBuffer(8);
    const w = this.worker;
    let answer: Promise<Part<Results> | undefined> | undefined;
    if (w !== undefined) {
      answer = new Promise((resolve) => this.waiting.push(resolve));
      const msg: BatchMessage<Jobs> = { jobs, shared: sab, chunk: this.o.chunk };
      w.postMessage(msg);
    }
    const shared = new Int32Array(sab);
    return { finish: () => this.finish(jobs, shared, answer, so), stop: () => Atomics.store(shared, STOP, STOPPED_BY_CALLER) };
  }

  private async finish(jobs: Jobs, shared: Int32Array, answer: Promise<Part<Results> | undefined> | undefined, so: StartOptions<Results>): Promise<PairResult<Results>> {
    const { work } = this;
    const count = work.count(jobs);
    const mine = newPart(work.results());
    if (answer === undefined || so.thisThread !== false) {
      const n = Math.max(1, Math.min(count, answer === undefined ? (this.o.aloneLanes ?? 1) : 1));
      const claim = { shared, count, chunk: this.o.chunk, yieldMs: this.o.yieldMs };
      await Promise.all(Array.from({ length: n }, () => this.withLane((lane) => claimLoop(work, jobs, claim, mine, lane, so.onDone))));
    }
    const parts = [mine];
    const faults = [...mine.faults];
    let byWorker = 0;
    const theirs = answer === undefined ? undefined : await answer;
    if (theirs !== undefined) {
      parts.push(theirs);
      for (const f of theirs.faults) faults.push(f);
      byWorker = theirs.done.length + theirs.faults.length;
      if (so.onDone !== undefined) for (let k = 0; k < theirs.done.length; k++) so.onDone(theirs.results, k);
    }
    let stopped = firstDriveFailure(faults);
    if (stopped === undefined && Atomics.load(shared, STOP) !== STOPPED_BY_CALLER) {
      // Jobs without an outcome: the worker took them and died (or never answered). Made again here.
      const seen = new Uint8Array(count);
      for (const p of parts) for (const i of p.done) seen[i] = 1;
      for (const f of faults) seen[f.index] = 1;
      const order: number[] = [];
      for (let i = 0; i < count; i++) if (seen[i] === 0) order.push(i);
      if (order.length > 0) {
        const again = newPart(work.results());
        // Its own stop flag: the dead worker may have raised the batch's without saying why.
        const claim = { shared: new Int32Array(2), count: order.length, chunk: order.length, order, yieldMs: this.o.yieldMs };
        await this.withLane((lane) => claimLoop(work, jobs, claim, again, lane, so.onDone));
        parts.push(again);
        for (const f of again.faults) faults.push(f);
        stopped = firstDriveFailure(again.faults);
      }
    }
    faults.sort((a, b) => a.index - b.index);
    return { parts, faults, stopped, byWorker };
  }

  private async withLane(fn: (lane: Lane) => Promise<void>): Promise<void> {
    const lane = this.lanes.pop() ?? this.work.lane();
    try {
      await fn(lane);
    } finally {
      this.lanes.push(lane);
    }
  }

  /** Whether a worker is (still) there to take jobs. */
  get hasWorker(): boolean {
    return this.worker !== undefined;
  }

  /** Stops the worker: batches not finished get no answer from it. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
  }
}

function firstDriveFailure(faults: readonly Fault[]): Fault | undefined {
  let first: Fault | undefined;
  for (const f of faults) if ((first === undefined || f.index < first.index) && isDriveFailure(f)) first = f;
  return first;
}

/** The worker's side: for each batch posted, claim jobs until none is left (or the stop flag), then answer. */
export function servePair<Jobs, Results, Row, Lane>(
  port: { postMessage(v: unknown): void; on(ev: 'message', fn: (m: BatchMessage<Jobs>) => void): unknown },
  work: PairWork<Jobs, Results, Row, Lane>,
): void {
  const lane = work.lane();
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (m) => {
    queue = queue.then(async () => {
      const part = newPart(work.results());
      await claimLoop(work, m.jobs, { shared: new Int32Array(m.shared), count: work.count(m.jobs), chunk: m.chunk }, part, lane, undefined);
      port.postMessage(part);
    });
  });
}
