import { Worker } from 'node:worker_threads';
import type { Fs } from '../io/fs.js';
import { copyAndHash, newCopyBuffer, type CopyExpect } from '../io/copy.js';
import { errorCode, errorMessage } from '../io/errors.js';
import { mapLimit } from './pool.js';

/**
 * The part of a run that scales with the bytes: copying new versions into temp files, hashing them
 * (putting them in place, once announced, is the applier's: src/apply/place.ts). On the two cores the
 * product targets, the copies run on two threads: this one and a worker (the same program file,
 * started for it). For each batch, both threads take copies from one shared counter, so neither waits
 * while the other has work, and each copy is made by exactly one of them. The applier posts batch
 * k+1 before it places batch k, so the worker copies while this thread places.
 *
 * Placing stays on this thread: on two threads it was slower (6.3 s against 6.05 s for 100k new
 * files on tmpfs), since the kernel serialises renames across folders on one filesystem.
 *
 * Measured on 100,000 files / 1 GiB on tmpfs (bench/README.md): copying is ~3.5 s of CPU on one
 * thread (open/read/write syscalls and hashing), placing ~1.3 s (link + rename); all on one thread
 * the initial run took 8.9 s against rsync -a's 5.3 s.
 */

export interface CopyJob {
  src: string;
  tmp: string;
  expect: CopyExpect;
}

/**
 * A batch of copies as columns, one array per field: structured-cloned to the worker, arrays of
 * strings and numbers cost a fifth of as many small objects (measured: 25 batches of 4096, 120 ms
 * against 24 ms).
 */
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

const jobAt = (j: CopyJobs, i: number): CopyJob => ({
  src: j.src[i] as string,
  tmp: j.tmp[i] as string,
  expect: { size: j.size[i] as number, mtime_ns: j.mtime_ns[i] as string, mode: j.mode[i] as number, uid: j.uid[i] as number, gid: j.gid[i] as number },
});

export type CopyOutcome = { ok: true; sha256: string; bytes: number } | { ok: false; error: Error };

export interface JobRun<O> {
  /** Does the jobs the other thread has not taken; one outcome per job, in job order. */
  finish(): Promise<O[]>;
}

export interface Copier {
  /** Starts a batch of copies (the worker begins as soon as it is free); `onCopied` sees every copy made. */
  copy(jobs: CopyJobs, onCopied: (bytes: number) => void): JobRun<CopyOutcome>;
  close(): Promise<void>;
}

export interface CopierOptions {
  fs: Fs;
  fsyncData: boolean;
  newFileOwner?: { uid: number; gid: number };
  maxWorkers: number;
}

async function copyOne(fs: Fs, job: CopyJob, o: Pick<CopierOptions, 'fsyncData' | 'newFileOwner'>, buffer: Buffer): Promise<CopyOutcome> {
  try {
    const r = await copyAndHash(fs, job.src, job.tmp, job.expect, { fsyncData: o.fsyncData, buffer, newFileOwner: o.newFileOwner });
    return { ok: true, ...r };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/** Everything on this thread; copies `maxWorkers` at a time (large files overlap their I/O). */
export function inThreadCopier(o: CopierOptions): Copier {
  const buffers: Buffer[] = [];
  return {
    copy(jobs, onCopied) {
      return {
        async finish() {
          const out = new Array<CopyOutcome>(jobs.src.length);
          await mapLimit(jobs.src, o.maxWorkers, async (_src, i) => {
            const buffer = buffers.pop() ?? newCopyBuffer();
            try {
              const r = await copyOne(o.fs, jobAt(jobs, i), o, buffer);
              out[i] = r;
              if (r.ok) onCopied(r.bytes);
            } finally {
              buffers.push(buffer);
            }
          });
          return out;
        },
      };
    },
    async close() {},
  };
}

export interface CopyWorkerData {
  hardbackCopy: 1;
  fsyncData: boolean;
  newFileOwner?: { uid: number; gid: number };
}

interface BatchMessage {
  jobs: CopyJobs;
  /** An Int32Array over a SharedArrayBuffer: the next job index either thread may take. */
  next: SharedArrayBuffer;
}

/** What the worker answers for the jobs it took, as columns too; errors cross as plain data. */
interface Wire {
  done: number[];
  sha256: string[];
  bytes: number[];
  failed: number[];
  /** An error without a code stays without one: a per-file fault here as on this thread, not a drive failure. */
  code: (string | null)[];
  message: string[];
}

const fromWire = (w: Wire, k: number): Error => {
  const code = w.code[k] ?? null;
  const err = new Error(w.message[k]);
  return code === null ? err : Object.assign(err, { code });
};

/**
 * Copies on this thread and a worker thread. If the worker fails, this thread makes the copies for the
 * rest of the run; a copy the worker took but never answered is made again here, over whatever temp
 * file it left.
 */
export function workerCopier(o: CopierOptions & { workerScript: string }): Copier {
  const data: CopyWorkerData = { hardbackCopy: 1, fsyncData: o.fsyncData, ...(o.newFileOwner ? { newFileOwner: o.newFileOwner } : {}) };
  let worker: Worker | undefined;
  try {
    worker = new Worker(o.workerScript, { workerData: data });
  } catch {
    worker = undefined;
  }
  const buffer = newCopyBuffer();
  const fallback = inThreadCopier(o);
  /** Answers arrive in the order batches were posted. */
  const waiting: ((w: Wire | undefined) => void)[] = [];
  const failAll = (): void => {
    worker = undefined;
    for (const w of waiting.splice(0)) w(undefined);
  };
  worker?.on('message', (m: Wire) => waiting.shift()?.(m));
  worker?.on('error', failAll);
  worker?.on('exit', failAll);

  /** Posts a batch; the returned promise is the worker's answer (undefined when it failed). */
  const post = (msg: BatchMessage): Promise<Wire | undefined> => {
    const w = worker;
    if (w === undefined) return Promise.resolve(undefined);
    const answer = new Promise<Wire | undefined>((resolve) => waiting.push(resolve));
    w.postMessage(msg);
    return answer;
  };

  return {
    copy(jobs, onCopied) {
      if (worker === undefined) return fallback.copy(jobs, onCopied);
      const next = new SharedArrayBuffer(4);
      const answer = post({ jobs, next });
      return {
        async finish() {
          const n = jobs.src.length;
          const out = new Array<CopyOutcome | undefined>(n);
          const counter = new Int32Array(next);
          for (let i = Atomics.add(counter, 0, 1); i < n; i = Atomics.add(counter, 0, 1)) {
            const r = await copyOne(o.fs, jobAt(jobs, i), o, buffer);
            out[i] = r;
            if (r.ok) onCopied(r.bytes);
          }
          const w = await answer;
          if (w !== undefined) {
            w.done.forEach((i, k) => {
              out[i] = { ok: true, sha256: w.sha256[k] as string, bytes: w.bytes[k] as number };
              onCopied(w.bytes[k] as number);
            });
            w.failed.forEach((i, k) => {
              out[i] = { ok: false, error: fromWire(w, k) };
            });
          }
          for (let i = 0; i < n; i++) {
            if (out[i] !== undefined) continue;
            const job = jobAt(jobs, i);
            try {
              o.fs.unlinkSync(job.tmp);
            } catch {
              // never created
            }
            const r = await copyOne(o.fs, job, o, buffer);
            out[i] = r;
            if (r.ok) onCopied(r.bytes);
          }
          return out as CopyOutcome[];
        },
      };
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w !== undefined) await w.terminate();
    },
  };
}

/** The worker's side: for each batch, take jobs from the shared counter until none is left, then answer. */
export function runCopyWorker(
  data: CopyWorkerData,
  port: { postMessage(v: unknown): void; on(ev: 'message', fn: (v: BatchMessage) => void): unknown },
  fs: Fs,
): void {
  const buffer = newCopyBuffer();
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (batch) => {
    queue = queue.then(async () => {
      const counter = new Int32Array(batch.next);
      const out: Wire = { done: [], sha256: [], bytes: [], failed: [], code: [], message: [] };
      for (let i = Atomics.add(counter, 0, 1); i < batch.jobs.src.length; i = Atomics.add(counter, 0, 1)) {
        const r = await copyOne(fs, jobAt(batch.jobs, i), data, buffer);
        if (r.ok) {
          out.done.push(i);
          out.sha256.push(r.sha256);
          out.bytes.push(r.bytes);
        } else {
          out.failed.push(i);
          out.code.push(errorCode(r.error) ?? null);
          out.message.push(errorMessage(r.error));
        }
      }
      port.postMessage(out);
    });
  });
}
