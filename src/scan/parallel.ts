import type { Worker } from 'node:worker_threads';
import type { Fs } from '../io/fs.js';
import { compileSelection, type SelectionRules } from '../select/rules.js';
import { readHashedManifest, readManifest } from '../store/manifest.js';
import { scanSource, type ScanError, type ScanOptions, type ScanResult } from './walk.js';
import { startWorker, type RoleData } from '../threads/roles.js';
import { topLevelName } from '../meta/safe-path.js';
import { reshaped } from '../meta/entry.js';

/**
 * The scan on two threads. A no-change run is the lstat walk and little else; on the two cores the
 * product targets, a worker thread walks part of the tree at the same time.
 *
 * The top-level folders are shared out by how many entries the last run found below each (the
 * manifest header keeps those counts), or alternately on a first run. The worker is started before
 * this thread reads the manifest. It compares with the manifest through the hashes its index keeps
 * of each line (store/hashed-state.ts), or, without an index of this base, reads the lines of its
 * own share as text (the others are counted, not kept: this thread reads and checks the whole), and
 * walks its share with the same code. Each name of its share is walked by the thread that claims it
 * first (ShareClaims): this thread takes those the worker has not reached once its own share is
 * walked. The worker sends back only what a plan needs: the entries it did not find unchanged, the
 * names it walked, and what it found as marks by slot (through the index) or the recorded paths
 * below those names it did not find (as text). Unchanged entries never cross, and neither thread
 * builds an object for them. Once it has answered, the worker waits for a next role: the run's
 * copies take it over (takeWorker).
 *
 * Measured on 100k files, tmpfs (bench/HISTORY.md): sending every path and quick key to this thread
 * and comparing them here cost the worker ~60 ms of keys and this thread ~40 ms of comparing after
 * its own walk.
 */

export interface ScanWorkerData extends RoleData<'scan'> {
  src: string;
  rules: SelectionRules;
  skipDir: { dev: bigint; ino: bigint } | undefined;
  /** The worker's share, largest first when the last run's counts are known: the order both threads claim its names in. */
  names: string[];
  /** Int32 per name of `names`: 0 free, 1 claimed by the worker, 2 claimed by this thread. */
  claims: SharedArrayBuffer;
  /** The manifest to compare with (through its index's hashes, or its share's lines); undefined: every entry is sent, the plan compares. */
  manifest: string | undefined;
}

/** What a walk of one share adds to the other's result. */
type ShareScan = Pick<ScanResult, 'entries' | 'skipped' | 'errors' | 'unreadable'>;

/** The worker's answer. */
interface ShareResult extends ShareScan {
  /** The names of the share it walked (the others this thread claimed first). */
  walked: string[];
  /** Recorded paths below `walked` the walk did not find (with `manifest`, read as text). */
  unseen: string[];
  /**
   * With `manifest` read through its index (readHashedManifest): what it found, as marks by slot,
   * and the manifest they are of (its base, its count of slots and of paths), in place of `unseen`.
   */
  found?: { marks: Uint8Array; slots: number; base: string | null; live: number };
}

const BY_WORKER = 1;
const BY_THIS_THREAD = 2;

/**
 * The names of a share, each walked by the thread that claims it first: the worker takes them in
 * order, and this thread, once its own share is walked, takes those the worker has not reached yet.
 * Both walk them in the share's order (walkSource `rootOrder`), largest first when the last run's
 * counts are known, so what is left to take at the end is small.
 */
class ShareClaims {
  private readonly index = new Map<string, number>();
  private readonly slots: Int32Array;
  constructor(
    readonly names: readonly string[],
    readonly buffer: SharedArrayBuffer,
  ) {
    names.forEach((n, i) => this.index.set(n, i));
    this.slots = new Int32Array(buffer);
  }
  static create(names: readonly string[]): ShareClaims {
    return new ShareClaims(names, new SharedArrayBuffer(4 * Math.max(1, names.length)));
  }
  /** A walk's `topLevel`: true when a name of the share is claimed by `by` now (and added to `into`). */
  claimer(by: number, into: Set<string>): (name: string) => boolean {
    return (name) => {
      const i = this.index.get(name);
      if (i === undefined || Atomics.compareExchange(this.slots, i, 0, by) !== 0) return false;
      into.add(name);
      return true;
    };
  }
  /** The share's names first, in its order; the others after them, as listed. */
  readonly order = (listed: string[]): string[] => {
    const rank = (n: string): number => this.index.get(n) ?? this.names.length;
    return listed.map((n, i) => ({ n, i, r: rank(n) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.n);
  };
}

/**
 * Splits names into two shares of about equal weight; the worker's share is returned. Even, as timed:
 * on a 100k-file no-change run this thread (which also reads the manifest before it walks) waited
 * 10–70 ms for the worker at an even split, under 15 ms when the worker took 40 %, 50–150 ms at 58 %;
 * the runs took 0.64–0.70 s, 0.68–0.70 s and 0.67–0.74 s.
 */
export function workerShare(names: readonly string[], weights: Readonly<Record<string, number>> | undefined): Set<string> {
  const share = new Set<string>();
  if (weights === undefined) {
    names.forEach((n, i) => {
      if (i % 2 === 1) share.add(n);
    });
    return share;
  }
  // The header is metadata from the drive: only own numeric properties count ("constructor" is no weight).
  const weightOf = (n: string): number => {
    const w: unknown = Object.hasOwn(weights, n) ? weights[n] : undefined;
    return typeof w === 'number' && Number.isFinite(w) && w > 0 ? w : 1;
  };
  const sorted = [...names].sort((a, b) => weightOf(b) - weightOf(a));
  let mine = 0;
  let theirs = 0;
  for (const n of sorted) {
    const w = weightOf(n);
    if (theirs < mine) {
      share.add(n);
      theirs += w;
    } else mine += w;
  }
  return share;
}

export interface ParallelScan {
  /**
   * Walks this thread's share and merges the worker's: the same result scanSource would give. A
   * worker started with the manifest compared with it: `opts.unchangedAgainst` must then be a
   * comparison with the state read from that same manifest.
   */
  finish(opts: ScanOptions): Promise<ScanResult>;
  /**
   * After `finish`: the worker, idle and alive, for another role of the same run (the copies take it
   * over: ThreadPair's `adopt`), or undefined when it failed. Whoever takes it must adopt or terminate
   * it; until then it is unref'd, so a worker left over never keeps the process running.
   */
  takeWorker(): Worker | undefined;
  /** Stops the worker (when the run fails before finish, or nothing takes it over). */
  cancel(): void;
}

/** Starts the worker on its share of src; undefined when there is nothing to share. */
export function startParallelScan(
  fs: Fs,
  src: string,
  o: {
    rules: SelectionRules;
    skipDir: ScanOptions['skipDir'];
    workerScript: string;
    weights: Readonly<Record<string, number>> | undefined;
    /** The manifest the run compares with (undefined: the plan compares every entry, as in checksum mode). */
    manifest: string | undefined;
  },
): ParallelScan | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(src);
  } catch {
    return undefined; // the walk reports the unreadable source itself
  }
  const share = workerShare(names, o.weights);
  if (share.size === 0) return undefined;
  const claims = ShareClaims.create([...share]);
  let worker: Worker;
  try {
    const data: ScanWorkerData = { hardbackRole: 'scan', src, rules: o.rules, skipDir: o.skipDir, names: [...share], claims: claims.buffer, manifest: o.manifest };
    worker = startWorker(o.workerScript, data);
  } catch {
    return undefined;
  }
  const answer = new Promise<ShareResult | undefined>((resolve) => {
    worker.once('message', (m: ShareResult) => resolve(m));
    // An answer that cannot be read is no answer: the worker stays alive (awaitNextRole), so its
    // exit would never come.
    worker.once('messageerror', () => resolve(undefined));
    worker.once('error', () => resolve(undefined));
    worker.once('exit', () => resolve(undefined));
  });
  let idle: Worker | undefined;
  // One that has exited is no longer there to take over (ThreadPair would wait for its answers).
  worker.once('exit', () => {
    idle = undefined;
  });
  return {
    cancel() {
      idle = undefined;
      void worker.terminate();
    },
    takeWorker() {
      const w = idle;
      idle = undefined;
      return w;
    },
    async finish(opts: ScanOptions): Promise<ScanResult> {
      // Without a comparison here, what the worker found unchanged would be marked nowhere: deleted.
      const compared = opts.unchangedAgainst;
      if (o.manifest !== undefined && compared === undefined) {
        void worker.terminate();
        throw new Error('the scan worker compared with the manifest, but this scan does not');
      }
      // The progress counts on across this thread's walks.
      let counted = 0;
      const onProgress = opts.onProgress;
      const from = (base: number) => (onProgress === undefined ? undefined : (n: number) => onProgress((counted = base + n)));
      const mine = scanSource(fs, src, { ...opts, topLevel: (n) => !share.has(n), onProgress: from(0) });
      // Then the names of the worker's share it has not reached yet (it may not even have started).
      const taken = new Set<string>();
      const claim = claims.claimer(BY_THIS_THREAD, taken);
      // A share walk that could not list the source folder claimed none of the names it was there
      // for, and the other walk may have walked them all the same: only names nobody walked count as
      // unreadable (what is recorded below them is kept), with that listing's error, once.
      let listingError: ScanError | undefined;
      const add = (theirs: ShareScan, names: ReadonlySet<string>, reshape: boolean): void => {
        listingError ??= mergeShare(mine, theirs, names, reshape);
      };
      const settle = (walkedThere: ReadonlySet<string>): ScanResult => {
        const unwalked = [...share].filter((n) => !taken.has(n) && !walkedThere.has(n));
        if (listingError !== undefined && unwalked.length > 0) {
          for (const n of unwalked) mine.unreadable.push(n);
          if (!mine.errors.some((e) => e.path === '.')) mine.errors.push(listingError);
        }
        return mine;
      };
      add(scanSource(fs, src, { ...opts, topLevel: claim, rootOrder: claims.order, onProgress: from(counted) }), taken, false);
      const r = await answer;
      if (r === undefined) void worker.terminate();
      else {
        // It waits for a next role (awaitNextRole): takeWorker hands it over.
        worker.unref();
        idle = worker;
      }
      const rewalk = (): ScanResult => {
        // The names the worker claimed are walked here.
        const rest = new Set([...share].filter((n) => !taken.has(n)));
        const walkedRest = new Set<string>();
        const restOnly = (n: string): boolean => {
          if (!rest.has(n)) return false;
          walkedRest.add(n);
          return true;
        };
        add(scanSource(fs, src, { ...opts, topLevel: restOnly }), rest, true);
        return settle(walkedRest);
      };
      if (r === undefined) return rewalk(); // the worker failed
      const walked = new Set(r.walked);
      // A worker that compared sent only what it did not find unchanged; one without the manifest
      // sent every entry, and the plan compares them.
      if (o.manifest !== undefined && compared !== undefined) {
        if (r.found === undefined) compared.foundElsewhere(walked, r.unseen);
        else if (!compared.foundByWorker(r.found.marks, r.found.slots, r.found.base, r.found.live)) {
          // Marks of another numbering of the slots than this thread's (never seen: both read the
          // same files under the run's lock): its walk is not used, and its names are walked here.
          return rewalk();
        }
      }
      add(r, walked, true);
      return settle(walked);
    },
  };
}

/**
 * Adds a walk of the top-level `names` of the worker's share to this thread's result, but for what
 * it says of the source folder itself (its unreadable '' and error '.': it could not list it), which
 * is returned: finish decides what it means once every walk is done.
 */
function mergeShare(mine: ScanResult, theirs: ShareScan, names: ReadonlySet<string>, reshape: boolean): ScanError | undefined {
  // Rebuilt in this thread's shape: as they arrive, each would carry a property array once completed.
  for (const e of theirs.entries) mine.entries.push(reshape ? reshaped(e) : e);
  for (const s of theirs.skipped) mine.skipped.push(s);
  for (const u of theirs.unreadable) if (u !== '') mine.unreadable.push(u);
  for (const e of theirs.errors) if (e.path.includes('/') || names.has(e.path)) mine.errors.push(e);
  return theirs.errors.find((e) => e.path === '.');
}

/**
 * The worker's side: read the manifest (through its index's hashes, or else its share's lines as
 * text), walk the share comparing with it, answer once.
 */
export function runScanWorker(data: ScanWorkerData, port: { postMessage(v: unknown): void }, fs: Fs): void {
  const claims = new ShareClaims(data.names, data.claims);
  const hashed = data.manifest === undefined ? undefined : readHashedManifest(fs, data.manifest);
  const text = data.manifest === undefined || hashed !== undefined ? undefined : readManifest(fs, data.manifest, { only: new Set(data.names) }).entries.compare();
  const byHash = hashed?.state.compare();
  const compared = byHash ?? text;
  const walked = new Set<string>();
  const claim = claims.claimer(BY_WORKER, walked);
  const r = scanSource(fs, data.src, { selector: compileSelection(data.rules), skipDir: data.skipDir, topLevel: claim, rootOrder: claims.order, unchangedAgainst: compared });
  // Entries it sends are found too (the plan compares them): what is left is only what is gone.
  if (compared !== undefined) for (const e of r.entries) compared.markPath(e.path);
  // Read as text, the recorded paths below the names it walked that it did not find (this thread
  // compares the others; they are not sent, as they may be many); else its marks, by slot.
  const unseen: string[] = [];
  if (text !== undefined) for (const path of text.unseen()) if (walked.has(topLevelName(path))) unseen.push(path);
  const answer: ShareResult = {
    entries: r.entries,
    skipped: r.skipped,
    errors: r.errors,
    unreadable: r.unreadable,
    walked: [...walked],
    unseen,
  };
  if (hashed !== undefined && byHash !== undefined) answer.found = { marks: byHash.marks, slots: hashed.state.slots(), base: hashed.base, live: hashed.state.size() };
  port.postMessage(answer);
}
