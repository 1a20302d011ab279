import { Worker } from 'node:worker_threads';
import type { Fs } from '../io/fs.js';
import type { Entry } from '../meta/entry.js';
import { compileSelection, type SelectionRules } from '../select/rules.js';
import { quickKey } from '../plan/compare.js';
import { scanSource, type ScanOptions, type ScanResult } from './walk.js';
import type { RoleData } from '../threads/roles.js';

/**
 * The scan on two threads. A no-change run is the lstat walk and little else; on the two cores the
 * product targets, a worker thread walks part of the tree at the same time (measured on 100k files:
 * 497 ms on one thread, ~390 ms on two; the rest is lost to sharing the kernel's locks).
 *
 * The top-level folders are shared out by how many entries the last run found below each (the
 * manifest header keeps those counts), or alternately on a first run. The worker is started before
 * the manifest is read, so its start-up overlaps that read. It walks its share with the same code,
 * sends back each path with its quick key, and then only the full entries this thread asks for:
 * those not found unchanged in the last state.
 */

export interface ScanWorkerData extends RoleData<'scan'> {
  src: string;
  rules: SelectionRules;
  skipDir: { dev: bigint; ino: bigint } | undefined;
  names: string[];
}

interface KeysMessage {
  paths: string[];
  keys: string[];
  rest: Pick<ScanResult, 'skipped' | 'errors' | 'unreadable'>;
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
  /** Walks this thread's share and merges the worker's: the same result scanSource would give. */
  finish(opts: ScanOptions): Promise<ScanResult>;
  /** Stops the worker (when the run fails before finish): a live worker would keep the process running. */
  cancel(): void;
}

/** Starts the worker on its share of src; undefined when there is nothing to share. */
export function startParallelScan(
  fs: Fs,
  src: string,
  o: { rules: SelectionRules; skipDir: ScanOptions['skipDir']; workerScript: string; weights: Readonly<Record<string, number>> | undefined },
): ParallelScan | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(src);
  } catch {
    return undefined; // the walk reports the unreadable source itself
  }
  const share = workerShare(names, o.weights);
  if (share.size === 0) return undefined;
  let worker: Worker;
  try {
    const data: ScanWorkerData = { hardbackRole: 'scan', src, rules: o.rules, skipDir: o.skipDir, names: [...share] };
    worker = new Worker(o.workerScript, { workerData: data });
  } catch {
    return undefined;
  }
  const nextMessage = <T>(): Promise<T | undefined> =>
    new Promise((resolve) => {
      const done = (v: T | undefined) => {
        worker.off('message', onMessage);
        worker.off('error', onEnd);
        worker.off('exit', onEnd);
        resolve(v);
      };
      const onMessage = (m: T) => done(m);
      const onEnd = () => done(undefined);
      worker.on('message', onMessage);
      worker.on('error', onEnd);
      worker.on('exit', onEnd);
    });
  const keysMessage = nextMessage<KeysMessage>();
  return {
    cancel() {
      void worker.terminate();
    },
    async finish(opts: ScanOptions): Promise<ScanResult> {
      const mine = scanSource(fs, src, { ...opts, topLevel: (n) => !share.has(n) });
      const keys = await keysMessage;
      if (keys === undefined) {
        // The worker failed: walk its share here.
        const theirs = scanSource(fs, src, { ...opts, topLevel: (n) => share.has(n) });
        return merge(mine, theirs, share);
      }
      const last = opts.unchangedAgainst;
      const want: string[] = [];
      keys.paths.forEach((path, i) => {
        if (last !== undefined && last.hasQuickKey(path, keys.keys[i] as string)) mine.unchanged.push(path);
        else want.push(path);
      });
      const entriesMessage = nextMessage<Entry[]>();
      worker.postMessage(want);
      const entries = await entriesMessage;
      void worker.terminate();
      if (entries === undefined) throw new Error('the scan worker stopped before sending its entries');
      return merge(mine, { ...keys.rest, entries, unchanged: [] }, share);
    },
  };
}

function merge(mine: ScanResult, theirs: Pick<ScanResult, 'entries' | 'unchanged' | 'skipped' | 'errors' | 'unreadable'>, share: ReadonlySet<string>): ScanResult {
  for (const e of theirs.entries) mine.entries.push(e);
  for (const p of theirs.unchanged) mine.unchanged.push(p);
  for (const s of theirs.skipped) mine.skipped.push(s);
  for (const u of theirs.unreadable) mine.unreadable.push(u);
  // Problems of the source folder itself (its listing) are reported once, by this thread.
  for (const e of theirs.errors) if (e.path.includes('/') || share.has(e.path)) mine.errors.push(e);
  return mine;
}

/** The worker's side: walk the share, send paths and quick keys, then the entries asked for. */
export function runScanWorker(data: ScanWorkerData, port: { postMessage(v: unknown): void; once(ev: 'message', fn: (v: string[]) => void): unknown }, fs: Fs): void {
  const names = new Set(data.names);
  const r = scanSource(fs, data.src, { selector: compileSelection(data.rules), skipDir: data.skipDir, topLevel: (n) => names.has(n) });
  const byPath = new Map<string, Entry>();
  const paths: string[] = [];
  const keys: string[] = [];
  for (const e of r.entries) {
    byPath.set(e.path, e);
    paths.push(e.path);
    keys.push(quickKey(e));
  }
  port.once('message', (want: string[]) => port.postMessage(want.map((p) => byPath.get(p)).filter((e): e is Entry => e !== undefined)));
  const msg: KeysMessage = { paths, keys, rest: { skipped: r.skipped, errors: r.errors, unreadable: r.unreadable } };
  port.postMessage(msg);
}
