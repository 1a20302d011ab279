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
 * A backup's durability, found out in the background: `durability()` answers once asked (and only
 * then keeps the process running for the answer), `close()` ends the run's use of it.
 */
export interface DurabilityProbe {
  durability(): Promise<Durability>;
  close(): void;
}

/**
 * durabilityFor, with the one `sync -f` that asks whether syncfs works run in the background by the
 * run's Flusher: a backup starts it before its scan (while the process is small, see Flusher) and
 * asks for the answer only when it has something to apply, so that this first flush (7–10 ms on the
 * ext4 image of bench/) overlaps the scan. Until asked, it does not keep the process alive: a run
 * that finds nothing to do does not wait for a flush of the whole drive. The same Flusher then makes
 * each batch's flush. `start` spawns (a test's stand-in).
 */
export function durabilityProbe(dist: string, enabled: boolean, start: typeof spawn = spawn): DurabilityProbe {
  if (!enabled) return { durability: () => Promise.resolve(OFF), close: nothing };
  if (process.platform !== 'linux') return { durability: () => Promise.resolve(durability(dist, false)), close: nothing };
  const flusher = new Flusher(dist, start);
  // Without an answer (sync could not be started, or failed), each copy is fsync'ed.
  const answer = flusher.flush().then((why) => durability(dist, why === undefined, flusher));
  return {
    durability: () => {
      flusher.hold();
      return answer;
    },
    close: () => flusher.close(),
  };
}

/**
 * `sync -f DIST` for each numbered line it reads, in a long-lived `sh` that writes back the number
 * and that sync's exit status: the run's batch flushes, in order, each made by a `sync` that starts
 * once it was asked, as a `sync` spawned for it would be. One fork of this process (spawned before
 * the scan, at ~50 MB) serves every batch of a run, where a `sync` spawned per batch forked the whole
 * process each time (~120–150 MB by then: 5.5 ms of CPU and 3.3 ms of this thread blocked per fork,
 * against 0.2 ms of CPU for a line to the shell; bench/HISTORY.md, "What changed in session 23").
 * The whole-drive flushes that must end before this thread goes on (`flushAll`: a run's last one,
 * and in link_mode "copy" one per batch whose old versions were copied into the increment) and a
 * recovery's are still a `sync` spawned and waited for.
 *
 * A flush the shell has not answered when it ends, cannot be started or answers out of turn, and
 * each one after, is made by a `sync -f` spawned for it. Until `hold()`, no flush waited for (the
 * shell's or a spawned one) keeps the process running.
 */
export class Flusher {
  private readonly child: ChildProcess | undefined;
  /** The flushes asked of the shell and not yet answered, oldest first: each one's number and answer. */
  private readonly waiting: { n: number; resolve: (why: string | undefined) => void }[] = [];
  /** The `sync`s spawned for flushes the shell could not make, until each exits. */
  private readonly spawned = new Set<ChildProcess>();
  private asked = 0;
  private broken = false;
  private held = false;
  private text = '';

  constructor(
    private readonly dist: string,
    private readonly start: typeof spawn = spawn,
  ) {
    let child: ChildProcess;
    try {
      child = start('/bin/sh', ['-c', FLUSH_LOOP, 'hardback-flush', dist], { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      this.broken = true;
      return;
    }
    this.child = child;
    child.on('error', () => this.fail());
    // 'close' comes after the last of its output was read.
    child.on('close', () => this.fail());
    child.stdin?.on('error', () => this.fail());
    child.stdout?.on('error', () => this.fail());
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.answer(chunk));
    this.refWhileWaited();
  }

  /** Flushes the destination's filesystem: why it could not once it is over (undefined: it did). */
  flush(): Promise<string | undefined> {
    const stdin = this.child?.stdin;
    if (this.broken || stdin == null) return this.spawnedFlush();
    const n = ++this.asked;
    const answered = new Promise<string | undefined>((resolve) => this.waiting.push({ n, resolve }));
    stdin.write(`${n}\n`);
    this.refWhileWaited();
    return answered;
  }

  /** From now on, a flush that is waited for keeps the process running (until then, none does). */
  hold(): void {
    this.held = true;
    for (const child of this.spawned) child.ref();
    this.refWhileWaited();
  }

  /** No more flushes of the shell: it exits once it has answered those asked. Later ones spawn a sync. */
  close(): void {
    this.broken = true;
    const stdin = this.child?.stdin;
    if (stdin != null && !stdin.destroyed) stdin.end();
  }

  private answer(chunk: string): void {
    this.text += chunk;
    for (let nl = this.text.indexOf('\n'); nl >= 0; nl = this.text.indexOf('\n')) {
      const answer = ANSWER.exec(this.text.slice(0, nl));
      this.text = this.text.slice(nl + 1);
      if (answer === null || this.waiting[0]?.n !== Number(answer[1])) return this.fail();
      this.waiting.shift()!.resolve(answer[2] === '0' ? undefined : `exit status ${answer[2]}`);
    }
    this.refWhileWaited();
  }

  /** The shell is gone, failed or out of turn: it gets no more lines, and what it left unanswered gets a `sync` of its own. */
  private fail(): void {
    this.broken = true;
    this.child?.stdin?.destroy();
    for (const { resolve } of this.waiting.splice(0)) void this.spawnedFlush().then(resolve);
    this.refWhileWaited();
  }

  /** A `sync -f` spawned for one flush, kept (and let go of until held). */
  private spawnedFlush(): Promise<string | undefined> {
    const { child, failure } = spawnSyncfs(this.dist, this.start);
    if (child === undefined) return failure;
    this.spawned.add(child);
    if (!this.held) child.unref();
    return failure.finally(() => this.spawned.delete(child));
  }

  private refWhileWaited(): void {
    const { child } = this;
    if (child === undefined) return;
    const keep = this.held && this.waiting.length > 0;
    for (const h of [child, child.stdout as { ref?(): void; unref?(): void } | null]) {
      if (keep) h?.ref?.();
      else h?.unref?.();
    }
  }
}

/** The Flusher's shell: `$1` is the destination; each line read is a flush's number, written back with its status. */
const FLUSH_LOOP = 'while read -r n; do sync -f "$1" </dev/null >/dev/null; echo "$n $?"; done';
/** An answer of FLUSH_LOOP: the flush's number and its sync's exit status; anything else is not trusted. */
const ANSWER = /^(\d+) (\d+)$/;

/** syncfs in the background: settles when `sync -f` exits 0, rejected (code EIO) when it could not flush. */
export const syncfsInBackground = (dist: string, start: typeof spawn = spawn): Promise<void> => asFlush(dist, spawnSyncfs(dist, start).failure);

/** A flush's end: settled when it flushed, rejected (code EIO) with why it did not. */
const asFlush = (dist: string, failure: Promise<string | undefined>): Promise<void> =>
  failure.then((why) => {
    if (why !== undefined) throw flushFailure(dist, why);
  });

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

/**
 * With syncfs: one flush per batch (by `flusher` when given, else by a `sync` spawned for it) and one
 * at the end; without: each copy fsync'ed.
 */
function durability(dist: string, withSyncfs: boolean, flusher?: Flusher): Durability {
  if (!withSyncfs) return { perFile: true, flushBatch: flushed, flushAll: nothing, flushesAll: false };
  const flushAll = (): void => {
    const why = syncfs(dist);
    if (why !== undefined) throw flushFailure(dist, why);
  };
  const flushBatch = flusher === undefined ? () => syncfsInBackground(dist) : () => asFlush(dist, flusher.flush());
  return { perFile: false, flushBatch, flushAll, flushesAll: true };
}
