import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { errorMessage } from './errors.js';

/**
 * How copied data is made durable before the journal announces it (docs/format.md, "fsync policy").
 * Where the platform can flush one filesystem at once (Linux `sync -f`, i.e. syncfs(2)), a batch of
 * copies is flushed with one call: measured on a 100k-file tree, fsync'ing each file cost 2.3 s even
 * on tmpfs (each async fsync is a round trip through libuv's threadpool), one syncfs per 4096 files
 * a few milliseconds. Elsewhere each file is fsync'ed as it is copied.
 */
export interface Durability {
  /** fsync each copied file itself. */
  readonly perFile: boolean;
  /**
   * Flush all data written so far to the destination: before a batch of copies is announced. It runs
   * in the background (a flush is the disk's time, not this thread's): the run copies the next batch
   * meanwhile, and announces this one only once the promise settles (Applier.putAll).
   */
  flushBatch(): Promise<void>;
  /**
   * Flush everything written to the destination (data, renames, links), or nothing when that takes a
   * flush per file (perFile) or durability is off: a run's last flush, which also covers the temp
   * files of increment.json and the manifest (run.ts, io/atomic.ts AtomicWrites).
   */
  flushAll(): void;
  /**
   * flushAll flushes the whole destination (one `sync -f`): the run's last files are fsynced after it,
   * not as they are written, so their fsync finds their data flushed (io/atomic.ts AtomicWrites).
   */
  readonly flushesAll: boolean;
}

const nothing = (): void => {};
const flushed = (): Promise<void> => Promise.resolve();
/** Durability off (BackupOptions.fsyncData false): nothing is flushed or fsync'ed. */
const OFF: Durability = { perFile: false, flushBatch: flushed, flushAll: nothing, flushesAll: false };

export function durabilityFor(dist: string, enabled: boolean): Durability {
  if (!enabled) return OFF;
  return durability(dist, process.platform === 'linux' && syncfs(dist) === undefined);
}

/**
 * durabilityFor, found out on the first call and remembered: for recoveries that may each need it
 * (an interrupted run's, then a prune's), where finding out whether syncfs works is a flush of the
 * drive.
 */
export function durabilityOnce(dist: string, enabled: boolean): () => Durability {
  let known: Durability | undefined;
  return () => (known ??= durabilityFor(dist, enabled));
}

/**
 * durabilityFor, with the one `sync -f` that asks whether syncfs works run in the background: a
 * backup starts it before its scan and asks for the answer (the returned function) only when it has
 * something to apply. Spawned then, it forks a process of ~50 MB instead of one of ~120 MB, and its
 * flush (7–10 ms on the ext4 image of bench/) overlaps the scan. Until asked, it does not keep the
 * process alive: a run that finds nothing to do does not wait for a flush of the whole drive.
 * `start` spawns the probe (a test's stand-in).
 */
export function durabilityProbe(dist: string, enabled: boolean, start: typeof spawn = spawn): () => Promise<Durability> {
  if (!enabled) return () => Promise.resolve(OFF);
  if (process.platform !== 'linux') return () => Promise.resolve(durability(dist, false));
  const probe = spawnSyncfs(dist, start);
  probe.child?.unref();
  // Without an answer (sync could not be started, or failed), each copy is fsync'ed.
  const answer = probe.failure.then((why) => durability(dist, why === undefined));
  return () => {
    probe.child?.ref();
    return answer;
  };
}

/** syncfs in the background: settles when `sync -f` exits 0, rejected (code EIO) when it could not flush. */
export function syncfsInBackground(dist: string, start: typeof spawn = spawn): Promise<void> {
  return spawnSyncfs(dist, start).failure.then((why) => {
    if (why !== undefined) throw flushFailure(dist, why);
  });
}

/** `sync -f DIST` started, and why it did not flush once it is over (undefined: it did). */
function spawnSyncfs(dist: string, start: typeof spawn): { child: ChildProcess | undefined; failure: Promise<string | undefined> } {
  let child: ChildProcess;
  try {
    child = start('sync', syncArgs(dist), { stdio: 'ignore' });
  } catch (err) {
    // Spawning can throw at once (ENOMEM from the fork, say); EAGAIN and ENOENT come as 'error'.
    return { child: undefined, failure: Promise.resolve(whyNot(err, null, null)) };
  }
  const failure = new Promise<string | undefined>((resolve) => {
    child.on('error', (err) => resolve(whyNot(err, null, null)));
    child.on('exit', (status, signal) => resolve(whyNot(undefined, status, signal)));
  });
  return { child, failure };
}

/** `sync -f DIST`: syncfs(2) of the filesystem that holds the destination. */
const syncArgs = (dist: string): string[] => ['-f', dist];

/** syncfs now: undefined once `sync -f DIST` exited 0, else why it did not. */
const syncfs = (dist: string): string | undefined => {
  const r = spawnSync('sync', syncArgs(dist), { stdio: 'ignore' });
  return whyNot(r.error, r.status, r.signal);
};

/** Why a `sync -f` did not flush: it could not be started, was killed, or exited non-zero (undefined: it flushed). */
function whyNot(error: unknown, status: number | null, signal: NodeJS.Signals | null): string | undefined {
  if (error !== undefined) return errorMessage(error);
  if (signal !== null) return `killed by ${signal}`;
  return status === 0 ? undefined : `exit status ${status}`;
}

const flushFailure = (dist: string, why: string): Error =>
  Object.assign(new Error(`could not flush the destination (sync -f ${dist} failed: ${why})`), { code: 'EIO' });

/** With syncfs: one flush per batch and one at the end; without: each copy fsync'ed. */
function durability(dist: string, withSyncfs: boolean): Durability {
  if (!withSyncfs) return { perFile: true, flushBatch: flushed, flushAll: nothing, flushesAll: false };
  const flushAll = (): void => {
    const why = syncfs(dist);
    if (why !== undefined) throw flushFailure(dist, why);
  };
  return { perFile: false, flushBatch: () => syncfsInBackground(dist), flushAll, flushesAll: true };
}
