import type { Worker } from 'node:worker_threads';
import type { Fs } from '../io/fs.js';
import { copyAndHash, newCopyBuffer, type CopyExpect } from '../io/copy.js';
import type { RoleData } from '../threads/roles.js';
import { errorOf, servePair, ThreadPair, type BatchMessage, type PairResult, type PairWork } from '../threads/pair.js';

/**
 * The part of a run that scales with the bytes: copying new versions into temp files, hashing them
 * (putting them in place, once announced, is the applier's: src/apply/place.ts). On the two cores the
 * product targets, the copies run on two threads (src/threads/pair.ts): this one and a worker (the
 * same program file, started for it). For each batch, both threads take copies from one shared
 * counter, so neither waits while the other has work, and each copy is made by exactly one of them.
 * The applier posts batch k+1 before it joins the copies of batch k, so the worker goes on copying
 * while this thread waits for batch k and places batch k-1 (Applier.putAll).
 *
 * Placing stays on this thread: on two threads it was slower (6.3 s against 6.05 s for 100k new
 * files on tmpfs), since the kernel serialises renames across folders on one filesystem.
 *
 * Measured on 100,000 files / 1 GiB on tmpfs (bench/HISTORY.md): copying is ~3.5 s of CPU on one
 * thread (open/read/write syscalls and hashing), placing ~1.3 s (link + rename); all on one thread
 * the initial run took 8.9 s against rsync -a's 5.3 s.
 */

export interface CopyJob {
  src: string;
  tmp: string;
  expect: CopyExpect;
}

/** A batch of copies as columns, one array per field (what crosses to the worker). */
export interface CopyJobs {
  src: string[];
  tmp: string[];
  size: number[];
  mtime_ns: string[];
  mode: number[];
  uid: number[];
  gid: number[];
}

export const newCopyJobs = (): CopyJobs => ({ src: [], tmp: [], size: [], mtime_ns: [], mode: [], uid: [], gid: [] });

export function addCopyJob(jobs: CopyJobs, job: CopyJob): void {
  jobs.src.push(job.src);
  jobs.tmp.push(job.tmp);
  jobs.size.push(job.expect.size);
  jobs.mtime_ns.push(job.expect.mtime_ns);
  jobs.mode.push(job.expect.mode);
  jobs.uid.push(job.expect.uid);
  jobs.gid.push(job.expect.gid);
}

export type CopyOutcome = { ok: true; sha256: string; bytes: number } | { ok: false; error: Error };

export interface JobRun<O> {
  /** Does the jobs the other thread has not taken; one outcome per job, in job order. */
  finish(): Promise<O[]>;
}

export interface Copier {
  /** Starts a batch of copies (the worker begins as soon as it is free); `onCopied` sees every copy made. */
  copy(jobs: CopyJobs, onCopied: (bytes: number) => void): JobRun<CopyOutcome>;
  close(): Promise<void>;
  /** Settles once the copier's worker thread runs (or could not start); at once without one. */
  started(): Promise<void>;
}

export interface CopierOptions {
  fs: Fs;
  fsyncData: boolean;
  newFileOwner?: { uid: number; gid: number };
  maxWorkers: number;
}

export interface CopyWorkerData extends RoleData<'copy'> {
  fsyncData: boolean;
  newFileOwner?: { uid: number; gid: number };
}

/** What a copy gives, as columns. */
interface Copied {
  sha256: string[];
  bytes: number[];
}

type CopyWork = PairWork<CopyJobs, Copied, { sha256: string; bytes: number }, Buffer>;

/** One copy, the same on both threads. */
function copyWork(fs: Fs, o: Pick<CopierOptions, 'fsyncData' | 'newFileOwner'>): CopyWork {
  return {
    count: (jobs) => jobs.src.length,
    results: () => ({ sha256: [], bytes: [] }),
    lane: newCopyBuffer,
    run: (j, i, buffer) =>
      copyAndHash(
        fs,
        j.src[i] as string,
        j.tmp[i] as string,
        { size: j.size[i] as number, mtime_ns: j.mtime_ns[i] as string, mode: j.mode[i] as number, uid: j.uid[i] as number, gid: j.gid[i] as number },
        { fsyncData: o.fsyncData, buffer, newFileOwner: o.newFileOwner },
      ),
    keep(out, r) {
      out.sha256.push(r.sha256);
      out.bytes.push(r.bytes);
    },
    clear(j, i) {
      try {
        fs.unlinkSync(j.tmp[i] as string);
      } catch {
        // never created
      }
    },
  };
}

/**
 * One outcome per job, in job order. After a drive failure stopped the batch, the copies not made
 * get that same error: the applier stops at the first of them (or at the failure itself) and places
 * nothing of the batch.
 */
function outcomes(count: number, r: PairResult<Copied>): CopyOutcome[] {
  const out = new Array<CopyOutcome | undefined>(count);
  for (const p of r.parts) {
    for (let k = 0; k < p.done.length; k++) out[p.done[k] as number] = { ok: true, sha256: p.results.sha256[k] as string, bytes: p.results.bytes[k] as number };
  }
  for (const f of r.faults) out[f.index] = { ok: false, error: errorOf(f) };
  if (r.stopped !== undefined) {
    const error = errorOf(r.stopped);
    for (let i = 0; i < count; i++) out[i] ??= { ok: false, error };
  }
  return out as CopyOutcome[];
}

/**
 * How often this thread's copies let its event loop run: a batch's flush that ended is then followed
 * at once by the batch's announcement and its fsync (Applier.announceWhenFlushed), while this thread copies
 * on, where it waited for the end of its share of the next batch.
 */
const YIELD_MS = 5;

function pairCopier(o: CopierOptions, worker: { script: string } | { adopt: Worker } | undefined): Copier {
  const data: CopyWorkerData = { hardbackRole: 'copy', fsyncData: o.fsyncData, ...(o.newFileOwner ? { newFileOwner: o.newFileOwner } : {}) };
  // One copy claimed at a time: the temp files all go into one folder anyway, and a batch of a few
  // large files must still be shared out.
  const pair = new ThreadPair(copyWork(o.fs, o), { chunk: 1, aloneLanes: o.maxWorkers, yieldMs: YIELD_MS, ...(worker === undefined ? {} : { worker: { ...worker, data } }) });
  return {
    copy(jobs, onCopied) {
      const run = pair.start(jobs, { onDone: (r, k) => onCopied(r.bytes[k] as number) });
      return { finish: async () => outcomes(jobs.src.length, await run.finish()) };
    },
    close: () => pair.close(),
    started: () => pair.started,
  };
}

/** Everything on this thread; copies `maxWorkers` at a time (large files overlap their I/O). */
export const inThreadCopier = (o: CopierOptions): Copier => pairCopier(o, undefined);

/**
 * Copies on this thread and a worker thread: one started from `workerScript`, or the run's scan worker,
 * idle once it has answered (`adopt`: src/scan/parallel.ts takeWorker). If the worker fails, this
 * thread makes the copies for the rest of the run; a copy the worker took but never answered is made
 * again here, over whatever temp file it left.
 */
export const workerCopier = (o: CopierOptions & ({ workerScript: string } | { adopt: Worker })): Copier =>
  pairCopier(o, 'adopt' in o ? { adopt: o.adopt } : { script: o.workerScript });

/** The worker's side. */
export function runCopyWorker(
  data: CopyWorkerData,
  port: { postMessage(v: unknown): void; on(ev: 'message', fn: (m: BatchMessage<CopyJobs>) => void): unknown },
  fs: Fs,
): void {
  servePair(port, copyWork(fs, data));
}
