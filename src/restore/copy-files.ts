import type { Fs } from '../io/fs.js';
import { copyVerified, newRestoreBuffer, type CopyOptions, type StoredVersion } from '../io/copy-verified.js';
import type { RoleData } from '../threads/roles.js';
import { inlineForLongWork } from '../threads/jit.js';
import { errorOf, servePair, ThreadPair, type BatchMessage, type PairWork } from '../threads/pair.js';

/**
 * Many verified copies (copyVerified) on two threads (src/threads/pair.ts): this one and, when a
 * program file to start is given, a worker thread running the same code. Hashing and the syscalls of
 * 100,000 files keep one core busy; the second core of the machines hardback targets halves that.
 * The jobs go to the worker in batches (BATCH), and within each both threads take chunks of
 * consecutive jobs (consecutive paths: mostly different folders for the two) from a shared counter,
 * so neither waits for the other, however the sizes fall. A drive failure
 * (a full or read-only target) stops both; other faults are reported per file and the rest goes on.
 *
 * A worker that cannot start or dies costs only time, as for a backup: the copies it took and never
 * answered for are made again on this thread. Rejecting the restore instead would throw away every
 * copy made for a fault of the thread, not of the data: the copies go into the restore's own staging
 * folder, which nobody else writes; each is created anew (O_EXCL) after whatever the worker left
 * there is removed, and is checked against its sha256 as it is made, so a copy made again is as
 * sound as the first. If the worker met a drive failure before it died, this thread meets it too
 * and stops.
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

/** What the worker thread is started with (workerData); the jobs are posted to it. */
export interface CopyWorkerData extends RoleData<'restore-copy'> {
  copy: CopyOptions;
}

/** Jobs taken at a time: small enough to balance the two threads, large enough to keep them apart. */
const CHUNK = 64;
/**
 * Jobs posted to the worker at a time (the next batch is posted before this thread joins the
 * current one). One message of every job made the worker build them all before its first copy, in
 * its small young generation (threads/roles.ts): measured on a 100k-file recreate on tmpfs, it
 * began copying ~300 ms after this thread did, ~260 ms of that collecting garbage.
 */
export const BATCH = 4096;
/** Below this a second thread costs more to start (~40 ms) than it saves. */
export const MIN_JOBS_FOR_WORKER = 2000;

/** The faults, in job order, and how many jobs the second thread took (0 without one). */
export interface CopyOutcome {
  faults: CopyFault[];
  byWorker: number;
}

/** A verified copy makes nothing but the file: no result columns. */
type NoResults = Record<string, never>;

function restoreWork(fs: Fs, copy: CopyOptions): PairWork<FileJobs, NoResults, void, Buffer> {
  return {
    count: (jobs) => jobs.from.length,
    results: () => ({}),
    lane: newRestoreBuffer,
    run(j, i, buffer) {
      const want: StoredVersion = {
        size: j.size[i] as number,
        sha256: j.sha256[i] as string,
        mtime_ns: j.mtime_ns[i] as string,
        mode: j.mode[i] as number,
        uid: j.uid[i] as number,
        gid: j.gid[i] as number,
      };
      copyVerified(fs, j.from[i] as string, j.to[i] as string, want, buffer, copy);
    },
    keep() {},
    clear(j, i) {
      try {
        fs.unlinkSync(j.to[i] as string);
      } catch {
        // never created
      }
    },
  };
}

/**
 * Makes the copies, BATCH at a time. After a drive failure the faults end with it (in job order, the
 * failure is the one the caller stops at), and the batch posted after it is stopped once this thread
 * knows of it: until then the worker may be making copies of that batch (on a full, read-only or
 * failing drive its first one most often fails too, which stops it). Whatever it made is not
 * reported, the worker is stopped before this returns, and the caller removes what was written
 * (the restore's staging folder).
 */
export async function copyFiles(
  fs: Fs,
  jobs: FileJobs,
  opts: {
    copy: CopyOptions;
    workerScript?: string;
    /** Whether this thread copies too (default); tests leave every job to the worker. */
    thisThread?: boolean;
    /** Jobs per batch (default BATCH); tests make it small. */
    batch?: number;
  },
): Promise<CopyOutcome> {
  const data: CopyWorkerData = { hardbackRole: 'restore-copy', copy: opts.copy };
  const count = jobs.from.length;
  const worker = opts.workerScript !== undefined && count >= MIN_JOBS_FOR_WORKER ? { script: opts.workerScript, data } : undefined;
  // Copies worth a worker are long work: compiled as V8 would, the worker's code too (threads/jit.ts).
  const relimitInlining = worker !== undefined ? inlineForLongWork() : undefined;
  try {
    return await copyBatches(fs, jobs, opts, worker);
  } finally {
    relimitInlining?.();
  }
}

/** copyFiles' batches, on this thread and `worker` (when given). */
async function copyBatches(fs: Fs, jobs: FileJobs, opts: { copy: CopyOptions; thisThread?: boolean; batch?: number }, worker: { script: string; data: CopyWorkerData } | undefined): Promise<CopyOutcome> {
  const count = jobs.from.length;
  const pair = new ThreadPair(restoreWork(fs, opts.copy), { chunk: CHUNK, ...(worker === undefined ? {} : { worker }) });
  const size = opts.batch !== undefined && Number.isSafeInteger(opts.batch) && opts.batch >= 1 ? opts.batch : BATCH;
  const so = opts.thisThread === false ? { thisThread: false } : {};
  const post = (from: number) => pair.start(sliceJobs(jobs, from, Math.min(count, from + size)), so);
  const out: CopyOutcome = { faults: [], byWorker: 0 };
  try {
    let next = count > 0 ? post(0) : undefined;
    for (let from = 0; next !== undefined; from += size) {
      const run = next;
      next = from + size < count ? post(from + size) : undefined;
      const r = await run.finish();
      for (const f of r.faults) out.faults.push({ index: from + f.index, error: errorOf(f) });
      out.byWorker += r.byWorker;
      if (r.stopped !== undefined) {
        next?.stop();
        break;
      }
    }
    return out;
  } finally {
    await pair.close();
  }
}

/** Jobs [from, to) as a batch of their own. */
function sliceJobs(jobs: FileJobs, from: number, to: number): FileJobs {
  return {
    from: jobs.from.slice(from, to),
    to: jobs.to.slice(from, to),
    size: jobs.size.slice(from, to),
    sha256: jobs.sha256.slice(from, to),
    mtime_ns: jobs.mtime_ns.slice(from, to),
    mode: jobs.mode.slice(from, to),
    uid: jobs.uid.slice(from, to),
    gid: jobs.gid.slice(from, to),
  };
}

/** The worker's side: the same jobs, as they are posted. */
export function runCopyWorker(data: CopyWorkerData, port: { postMessage(v: unknown): void; on(ev: 'message', fn: (m: BatchMessage<FileJobs>) => void): unknown }, fs: Fs): void {
  servePair(port, restoreWork(fs, data.copy));
}
