import { Worker } from 'node:worker_threads';
import { reassertYoungHold, settleYoungFactor, youngGenerationHeld } from './heap.js';
import { workerLoaded, workerStartsUncapped, type WorkerLoad } from './jit.js';
/**
 * Each program file is also its own worker thread: it is started again with workerData saying which
 * part of the work it is there for. One field says it for every role, and each program (src/bin)
 * dispatches on it in one place.
 *
 * - `scan`: part of the lstat walk of a backup (src/scan/parallel.ts)
 * - `copy`: the copies of a backup into temp files (src/apply/copier.ts, on src/threads/pair.ts)
 * - `restore-copy`: the verified copies of a restore or recreate (src/restore/copy-files.ts, same)
 * - `catalog`: reading every increment.json for a search (src/cli/tool/catalog-worker.ts)
 */
export type WorkerRole = 'scan' | 'copy' | 'restore-copy' | 'catalog';

/**
 * Starts a worker of ours. Its young generation is capped at 2 MiB: what a worker allocates per file
 * (stat objects, key strings, job rows) dies young, and the default lets it grow to tens of MiB of
 * resident memory first. Measured at 100k files on tmpfs (GNU time): peak RSS of a no-change run
 * 165 MiB uncapped, 154 MiB at 4 MiB, 145–146 MiB at 2 MiB (with the manifest read 1 MiB at a time);
 * of an initial run 282 → 258 MiB at 4 MiB and the same at 2 MiB; the times did not change.
 */
export function startWorker<R extends WorkerRole>(script: string, data: RoleData<R>): Worker {
  // The worker's heap set-up undoes a young-generation hold (threads/heap.ts): the worker puts it
  // back as it starts, and this thread again once it is online (in case this thread was busy) and
  // once it exits (a worker stopped before it ran, or one that ran after the hold was released).
  // It loads under V8's default inlining (threads/jit.ts workerStartsUncapped): it says when it is
  // loaded; its exit says it for a worker that never got so far, and sets the wanted budget again.
  const load = workerStartsUncapped();
  let worker: Worker;
  try {
    worker = new Worker(script, { workerData: { ...data, holdYoung: youngGenerationHeld(), load }, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  } catch (err) {
    workerLoaded(load);
    throw err;
  }
  worker.once('online', settleYoungFactor);
  worker.once('exit', () => {
    settleYoungFactor();
    workerLoaded(load);
  });
  return worker;
}

/** The part of workerData every role has. */
export interface RoleData<R extends WorkerRole> {
  hardbackRole: R;
  /** Set by startWorker: a young-generation hold was on when the worker was started. */
  holdYoung?: boolean;
  /** Set by startWorker: the load the worker ends once its modules are loaded (threads/jit.ts). */
  load?: WorkerLoad;
}

/**
 * What each worker does first, its modules loaded: put back the hold its own start undid, and say
 * it is loaded, which puts back the inlining cap (startWorker).
 */
export function workerStarting(data: unknown): void {
  const d = data as Partial<RoleData<WorkerRole>> | null;
  reassertYoungHold(d?.holdYoung === true);
  workerLoaded(d?.load);
}

/**
 * The message that gives a worker whose role answered once (the scan) its next role: the copies of
 * the same run take over the scan's worker instead of starting one (src/apply/copier.ts), which
 * costs ~30 ms of a core and left the copies of a small change mostly to this thread.
 */
export interface NextRole<R extends WorkerRole = WorkerRole> {
  hardbackNextRole: RoleData<R>;
}

/**
 * In a worker: `serve` runs the next role this thread is given (ThreadPair's `adopt`), if any. The
 * scan collects what it held before it waits (src/bin/backup.ts): what it read of the manifest would
 * otherwise stay for the whole of the copies, since a worker that allocates little seldom collects
 * its old generation. Measured on a 1 % change of 100k files: the run's peak 125–127 MiB without,
 * 123–124 MiB with (the same as with a fresh copy worker).
 */
export function awaitNextRole(port: { once(ev: 'message', fn: (m: unknown) => void): unknown }, serve: (data: RoleData<WorkerRole>) => void): void {
  port.once('message', (m) => {
    const data = (m as Partial<NextRole> | null)?.hardbackNextRole;
    if (workerRole(data) !== undefined) serve(data as RoleData<WorkerRole>);
  });
}

const ROLES: readonly string[] = ['scan', 'copy', 'restore-copy', 'catalog'] satisfies WorkerRole[];

/** The role a worker's workerData gives, or undefined (not a worker of ours). */
export function workerRole(data: unknown): WorkerRole | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const role: unknown = (data as { hardbackRole?: unknown }).hardbackRole;
  return typeof role === 'string' && ROLES.includes(role) ? (role as WorkerRole) : undefined;
}
