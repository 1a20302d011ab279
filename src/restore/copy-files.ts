import { Worker } from 'node:worker_threads';
import type { Fs } from '../io/fs.js';
import { errorMessage, isDriveFailure } from '../io/errors.js';
import { copyVerified, newRestoreBuffer, type CopyOptions, type StoredVersion } from '../io/copy-verified.js';

/**
 * Many verified copies (copyVerified) on two threads: this one and, when a program file to start is
 * given, a worker thread running the same code. Hashing and the syscalls of 100,000 files keep one
 * core busy; the second core of the machines hardback targets halves that. Both threads take chunks
 * of consecutive jobs (consecutive paths: mostly different folders for the two) from a shared
 * counter, so neither waits for the other, however the sizes fall. A drive failure (a full or
 * read-only target) stops both; other faults are reported per file and the rest goes on.
 */

/** The copies to make, one column per field (what a worker thread is sent as is). */
export interface FileJobs {
  from: string[];
  to: string[];
  size: number[];
  sha256: string[];
  mtime_ns: string[];
  mode: number[];
  uid: number[];
  gid: number[];
}

export const emptyJobs = (): FileJobs => ({ from: [], to: [], size: [], sha256: [], mtime_ns: [], mode: [], uid: [], gid: [] });

export function addJob(jobs: FileJobs, from: string, to: string, want: StoredVersion): void {
  jobs.from.push(from);
  jobs.to.push(to);
  jobs.size.push(want.size);
  jobs.sha256.push(want.sha256);
  jobs.mtime_ns.push(want.mtime_ns);
  jobs.mode.push(want.mode);
  jobs.uid.push(want.uid);
  jobs.gid.push(want.gid);
}

export interface CopyFault {
  index: number;
  error: unknown;
}

/** What the worker thread is started with (workerData). */
export interface CopyWorkerData extends FileJobs {
  hardbackCopy: 1;
  copy: CopyOptions;
  /** Int32 [next job, stop flag]. */
  shared: SharedArrayBuffer;
}

interface WorkerFault {
  index: number;
  message: string;
  code: string | undefined;
}

interface WorkerResult {
  faults: WorkerFault[];
  jobs: number;
}

/** Jobs taken at a time: small enough to balance the two threads, large enough to keep them apart. */
const CHUNK = 64;
/** Below this a second thread costs more to start (~40 ms) than it saves. */
export const MIN_JOBS_FOR_WORKER = 2000;

/** The faults, in job order, and how many jobs the second thread took (0 without one). */
export interface CopyOutcome {
  faults: CopyFault[];
  byWorker: number;
}

export async function copyFiles(
  fs: Fs,
  jobs: FileJobs,
  opts: {
    copy: CopyOptions;
    workerScript?: string;
    /** Whether this thread copies too (default); tests leave every job to the worker. */
    thisThread?: boolean;
  },
): Promise<CopyOutcome> {
  const shared = new SharedArrayBuffer(8);
  const faults: CopyFault[] = [];
  let worker: Promise<WorkerResult> | undefined;
  if (opts.workerScript !== undefined && jobs.from.length >= MIN_JOBS_FOR_WORKER) {
    worker = startWorker(opts.workerScript, { hardbackCopy: 1, ...jobs, copy: opts.copy, shared });
  }
  if (worker === undefined || opts.thisThread !== false) runJobs(fs, jobs, new Int32Array(shared), opts.copy, (index, error) => faults.push({ index, error }));
  let byWorker = 0;
  if (worker !== undefined) {
    const r = await worker;
    byWorker = r.jobs;
    for (const f of r.faults) faults.push({ index: f.index, error: Object.assign(new Error(f.message), f.code === undefined ? {} : { code: f.code }) });
  }
  return { faults: faults.sort((a, b) => a.index - b.index), byWorker };
}

/** The loop both threads run: claim a chunk, copy it, until the jobs run out or a drive failure stops them. */
function runJobs(fs: Fs, jobs: FileJobs, shared: Int32Array, copy: CopyOptions, fault: (index: number, error: unknown) => void): number {
  const buffer = newRestoreBuffer();
  const count = jobs.from.length;
  let done = 0;
  for (;;) {
    const start = Atomics.add(shared, 0, CHUNK);
    if (start >= count) return done;
    for (let i = start; i < Math.min(count, start + CHUNK); i++) {
      if (Atomics.load(shared, 1) !== 0) return done;
      done++;
      const want: StoredVersion = {
        size: jobs.size[i] as number,
        sha256: jobs.sha256[i] as string,
        mtime_ns: jobs.mtime_ns[i] as string,
        mode: jobs.mode[i] as number,
        uid: jobs.uid[i] as number,
        gid: jobs.gid[i] as number,
      };
      try {
        copyVerified(fs, jobs.from[i] as string, jobs.to[i] as string, want, buffer, copy);
      } catch (err) {
        fault(i, err);
        if (isDriveFailure(err)) {
          Atomics.store(shared, 1, 1);
          return done;
        }
      }
    }
  }
}

function startWorker(script: string, data: CopyWorkerData): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    let result: WorkerResult | undefined;
    let w: Worker;
    try {
      w = new Worker(script, { workerData: data });
    } catch (err) {
      // No second thread (a worker cannot start here): this thread takes every chunk.
      void err;
      resolve({ faults: [], jobs: 0 });
      return;
    }
    w.once('message', (m: WorkerResult) => (result = m));
    w.once('error', (err) => {
      Atomics.store(new Int32Array(data.shared), 1, 1);
      reject(new Error(`the copy thread failed (${errorMessage(err)})`));
    });
    w.once('exit', () => {
      if (result !== undefined) resolve(result);
      else {
        Atomics.store(new Int32Array(data.shared), 1, 1);
        reject(new Error('the copy thread stopped before it finished'));
      }
    });
  });
}

/** The worker's side: the same loop over the same jobs, then its faults. */
export function runCopyWorker(data: CopyWorkerData, port: { postMessage(v: unknown): void }, fs: Fs): void {
  const faults: WorkerFault[] = [];
  const jobs = runJobs(fs, data, new Int32Array(data.shared), data.copy, (index, error) => {
    const code = (error as { code?: unknown }).code;
    faults.push({ index, message: errorMessage(error), code: typeof code === 'string' ? code : undefined });
  });
  const result: WorkerResult = { faults, jobs };
  port.postMessage(result);
}
