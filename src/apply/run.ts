import type { Worker } from 'node:worker_threads';
import { dirname } from 'node:path';
import type { Fs } from '../io/fs.js';
import { realFs, resolvedPath } from '../io/fs.js';
import { isSameOrInside, pathUnder } from '../meta/safe-path.js';
import { errorCode, errorMessage, failure, HardbackError, isCode, isDriveFailure } from '../io/errors.js';
import { AtomicWrites, writeFileAtomic } from '../io/atomic.js';
import { hashFile, newCopyBuffer } from '../io/copy.js';
import { durabilityOnce, durabilityProbe, type Durability, type DurabilityProbe } from '../io/durability.js';
import type { Profile } from '../config/profiles.js';
import type { StateEntry } from '../meta/entry.js';
import { StateTable, type StateComparison } from '../store/state-table.js';
import type { IncrementError, IncrementSummary } from '../meta/increment.js';
import { compileSelection } from '../select/rules.js';
import { newFindings, regularFileEntry, scanSource, walkSource, type ScanOptions, type ScanResult } from '../scan/walk.js';
import { startParallelScan } from '../scan/parallel.js';
import { buildPlan, copyTotals, emptyPlan, hasChanges, moveKey, storedCount, type Plan } from '../plan/plan.js';
import { quickKey } from '../plan/compare.js';
import { checkGuards, wrongSourceMessage } from '../plan/guards.js';
import { Layout } from '../store/layout.js';
import { acquireLock } from '../store/lock.js';
import { readManifest, readManifestHeader, writeManifest } from '../store/manifest.js';
import { writeManifestIndex, type ManifestIndex } from '../store/manifest-index.js';
import { applyOp, happened, JournalWriter, openJournal, type JournalHeader } from '../store/journal.js';
import { probeDestination } from '../store/probe.js';
import { nextIncrementId } from '../store/ids.js';
import { buildIncrementJson, incrementText, StreamedIncrement } from '../store/records.js';
import { NewState, UpdatedState } from './run-state.js';
import { Applier } from './apply.js';
import { inThreadCopier, workerCopier, type Copier, type CopierOptions } from './copier.js';
import { recoverInterruptedRun, sweepTmp } from './recover.js';
import { recoverDestination } from './startup.js';
import type { Reporter } from './reporter.js';
import { mapLimit } from './pool.js';
import { VERSION } from '../version.js';
import { CAP_HEAP_MIN_STORES, capHeapGrowth, holdYoungGeneration, settleYoungFactor } from '../threads/heap.js';
import { inlineForLongWork } from '../threads/jit.js';

export interface BackupOptions {
  fs?: Fs;
  dryRun: boolean;
  force: boolean;
  /** --checksum, or the profile's `checksum`. */
  checksum: boolean;
  reporter: Reporter;
  /** Make copies durable before announcing them (default true; docs/format.md, "fsync policy"). */
  fsyncData?: boolean;
  now?: () => Date;
  /** The bundled program file: the scan and the copies then run on two threads (src/scan/parallel.ts, src/apply/copier.ts). */
  workerScript?: string;
}

export interface PlanPreview {
  new: string[];
  changed: string[];
  deleted: string[];
  moved: { from: string; to: string }[];
}

export interface BackupOutcome {
  profile: string;
  source: string;
  destination: string;
  status: 'done' | 'no-change' | 'dry-run';
  /** The increment this run created (null when none). */
  id: string | null;
  summary: IncrementSummary;
  errors: IncrementError[];
  skipped: { path: string; kind: string }[];
  linkMode: 'hardlink' | 'copy';
  preview?: PlanPreview;
  started: string;
  finished: string;
}

const exists = (fs: Fs, p: string): boolean => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

/** A destination is attached when it exists or its parent does (an unmounted drive's parent is missing). */
export function isDestinationAttached(fs: Fs, dist: string): boolean {
  return fs.statSync(dist, { throwIfNoEntry: false }) !== undefined || fs.statSync(dirname(dist), { throwIfNoEntry: false })?.isDirectory() === true;
}

function checkSource(fs: Fs, src: string): void {
  const st = fs.statSync(src, { throwIfNoEntry: false });
  if (st === undefined) throw failure(`the source folder ${src} does not exist (is its drive mounted?); nothing was changed`);
  if (!st.isDirectory()) throw failure(`the source ${src} is not a folder; nothing was changed`);
}

/**
 * The destination is never backed up, even when it lies inside src — also through a symlinked path
 * or a bind mount, so the walk skips it by identity (device and inode), not by name.
 */
function destinationIdentity(fs: Fs, dist: string): { dev: bigint; ino: bigint } | undefined {
  const st = fs.statSync(dist, { bigint: true, throwIfNoEntry: false });
  return st === undefined ? undefined : { dev: st.dev, ino: st.ino };
}

interface Prepared {
  plan: Plan;
  /** A first run: the walk of the source, stored as it goes (Applier.applyWalk); `plan` is then empty. */
  walk?: Iterable<StateEntry>;
  last: StateTable;
  recordedSource: string | undefined;
  lastIncrement: string | null;
  errors: IncrementError[];
  skipped: { path: string; kind: string }[];
  /** The scan's worker, idle once it answered: the copies take it over (copierFor), else it is dismissed. */
  idleWorker?: Worker;
  /** The index of the manifest's base, read in full: left for the next run (store/manifest-index.ts). */
  manifestIndex?: ManifestIndex;
}

/** The scan's worker is not needed after all: its memory goes now, not when the process exits. */
function dismissIdleWorker(p: Prepared): void {
  void p.idleWorker?.terminate();
  delete p.idleWorker;
}

/**
 * Above this many recorded entries the scan stays on one thread, so memory stays bounded: the worker
 * holds what it compares with besides this thread's whole state (since session 33 the hashes of
 * each line, 16 bytes and their table, not its share's lines: a no-change run of W3 on ext4 with
 * the index peaked at 391 MiB against 547 MiB before, and at 560 MiB on the run that made the
 * index, which reads text; the limit below was set before, and is kept). Measured on 1,000,000
 * files (W3: 1,040,000 entries, tmpfs, no-change, GNU time, session 6): two threads 4.5–5.7 s at
 * 525–527 MiB of peak RSS, one thread 7.6–8.2 s at 322 MiB; with the largest delta beside the
 * manifest (an eighth of the entries changed), two threads 570–572 MiB, one 357–360 MiB. The
 * target of issue #5 is 600 MiB at W3: ~490 bytes per entry over ~60 MiB reach it at ~1.1M.
 * (Before the state table kept its lines off the heap, two threads took 667–674 MiB at W3, and the
 * limit was 300,000.)
 */
const SCAN_WORKER_MAX_ENTRIES = 1_100_000;
/**
 * Below this many recorded entries the scan stays on one thread too: the worker takes ~40 ms to
 * start, about what walking half of such a tree takes (a no-change run of 8 files took 0.13–0.17 s
 * with the worker, of which 46 ms waiting for it). A first run is walked on this thread
 * (prepareWalk), except on a destination that folds case, where it plans and uses the worker.
 */
const SCAN_WORKER_MIN_ENTRIES = 5_000;

/**
 * From this many recorded entries a run's scan is long work (threads/jit.ts): V8's default inlining
 * from its start. No-change runs on tmpfs, alternating (session 27): 312,000 entries 1.74 s with the
 * default against 1.65 s under the cap (8 rounds), W3's 1,000,000 4.30 s against 4.49 s (6 rounds):
 * the compilations the cap saves cost a fixed ~0.15 s, the slower loops under it a share of the walk.
 */
export const LONG_SCAN_ENTRIES = 600_000;

/** Scan, compare, plan and guard: reads only (SPEC §3 steps 1–3). */
async function prepare(fs: Fs, profile: Profile, layout: Layout, opts: BackupOptions, caseInsensitive: boolean): Promise<Prepared> {
  const skipDir = destinationIdentity(fs, profile.dist);
  // Started first, so the worker's start-up overlaps reading the manifest.
  const recorded = readManifestHeader(fs, layout.manifest);
  // The scan compares with the manifest as it is on the drive (a first run has none: nothing to
  // compare); a dry run adds an interrupted run's journal to it first (below), which only this
  // thread sees, so its worker sends every entry.
  const compares = !caseInsensitive && recorded !== undefined;
  const parallel =
    opts.workerScript === undefined ||
    fs !== realFs ||
    profile.maxWorkers < 2 ||
    (recorded !== undefined && (recorded.entries > SCAN_WORKER_MAX_ENTRIES || recorded.entries < SCAN_WORKER_MIN_ENTRIES))
      ? undefined
      : startParallelScan(fs, profile.src, { rules: profile.rules, skipDir, workerScript: opts.workerScript, weights: recorded?.top, manifest: compares && !opts.dryRun ? layout.manifest : undefined });
  let manifest: ReturnType<typeof readManifest>;
  let scan: ScanResult;
  try {
    manifest = readManifest(fs, layout.manifest, { makeIndex: !opts.dryRun });
    settleYoungFactor();
    if (opts.dryRun) {
      // A run that was interrupted left a journal: the true last state includes what it finished.
      const journal = openJournal(fs, layout.journal);
      if (journal !== undefined) {
        try {
          for (const op of journal.ops()) if (happened(fs, layout, op)) applyOp(manifest.entries, op);
        } finally {
          journal.close();
        }
      }
    }
    const scanOptions: ScanOptions = {
      selector: compileSelection(profile.rules),
      skipDir,
      unchangedAgainst: compares ? manifest.entries.compare() : undefined,
      onProgress: (n) => {
        // The scan worker's start set V8's young-generation factor back at some point while this
        // thread read or walked, without a pause for its "online" (threads/heap.ts): every 1,000
        // entries (~5 µs each) the hold is put back.
        settleYoungFactor();
        opts.reporter.progress({ phase: 'scan', files: n, bytes: 0 });
      },
    };
    scan = parallel === undefined ? scanSource(fs, profile.src, scanOptions) : await parallel.finish(scanOptions);
  } catch (err) {
    // A damaged manifest, say: the error is reported, and the worker must not keep the process alive.
    parallel?.cancel();
    throw err;
  }
  let idleWorker = parallel?.takeWorker();
  if (idleWorker !== undefined && scan.entries.length >= IDLE_WORKER_MAX_ENTRIES) {
    // A large plan is coming: the worker's memory must not sit beside it.
    void idleWorker.terminate();
    idleWorker = undefined;
  }
  try {
    const last = manifest.entries;
    const errors: IncrementError[] = [...scan.errors];
    const unreadable = [...scan.unreadable];
    if (opts.checksum) await hashForChecksum(fs, profile, scan, last, opts, errors, unreadable);
    const plan = buildPlan(scan.entries, last, { checksum: opts.checksum, caseInsensitive, unreadable, compared: scan.compared });
    for (const e of plan.errors) errors.push(e); // not push(...): past ~125,000 arguments it throws
    const refusal = checkGuards({
      plan,
      last,
      topLevelNames: scan.topLevelNames,
      recordedSource: manifest.header?.source,
      source: profile.src,
      maxDeleteRatio: profile.maxDeleteRatio,
      force: opts.force,
    });
    if (refusal !== undefined) throw failure(refusal.message);
    for (const s of scan.skipped) opts.reporter.action('skipped', s.path, `${s.kind}: not backed up`);
    const p: Prepared = { plan, last, recordedSource: manifest.header?.source, lastIncrement: manifest.header?.last_increment ?? null, errors, skipped: scan.skipped };
    if (idleWorker !== undefined) p.idleWorker = idleWorker;
    if (manifest.index !== undefined) p.manifestIndex = manifest.index;
    return p;
  } catch (err) {
    void idleWorker?.terminate();
    throw err;
  }
}

/**
 * The first run of a backup (no manifest yet, so nothing to compare, delete, move or guard): the
 * source is walked while it is stored (Applier.applyWalk), and the findings fill in as it goes.
 * A destination that folds case needs every name before it stores one (plan.ts dropCaseCollisions),
 * so there the run plans as usual.
 */
function prepareWalk(fs: Fs, profile: Profile): Prepared {
  const findings = newFindings(undefined);
  const walk = walkSource(fs, profile.src, { selector: compileSelection(profile.rules), skipDir: destinationIdentity(fs, profile.dist) }, findings);
  return { plan: emptyPlan(), walk, last: new StateTable(), recordedSource: undefined, lastIncrement: null, errors: findings.errors, skipped: findings.skipped };
}

/**
 * --checksum: content decides too. The scan compared metadata as in any run; each file it found
 * exactly as recorded is hashed here, and one whose hash is not the recorded one joins the scanned
 * entries, as it is now, with that hash: the plan finds it changed ('content'), and its copy must be
 * that content (Applier). The files are decoded one at a time from the last state: nothing is held
 * per file of the tree (built for every file, the entries took the run to ~186 MiB on 100k files).
 *
 * Of the scanned entries, a new file that may be a move is hashed: a move needs equal content in
 * checksum mode (plan.ts); and so is one recorded with the same quick key, which the scan sends
 * where it does not compare (a dry run's worker, a case-folding destination): the plan compares
 * the hashes. A file whose metadata changed is not: it is stored anyway, and its copy hashes it.
 *
 * A file that cannot be read, or that is gone or no longer a file when its changed content is found,
 * is a per-file error and keeps its last version.
 */
async function hashForChecksum(
  fs: Fs,
  profile: Profile,
  scan: { entries: StateEntry[]; compared: StateComparison | undefined },
  last: StateTable,
  opts: BackupOptions,
  errors: IncrementError[],
  unreadable: string[],
): Promise<void> {
  const { entries, compared } = scan;
  // A scanned file recorded with the same quick key looks unchanged: the scan sent it all the same
  // where it did not compare (a dry run's worker, a case-folding destination).
  const scanned: StateEntry[] = [];
  const fresh: StateEntry[] = [];
  for (const e of entries) {
    if (e.type !== 'file') continue;
    const prev = last.get(e.path);
    if (prev?.type === 'file') {
      if (quickKey(prev) === quickKey(e)) scanned.push(e);
    } else if (e.size > 0) fresh.push(e);
  }
  if (fresh.length > 0) {
    const moveKeys = new Set<string>();
    for (const l of last.values()) if (l.type === 'file' && l.size > 0) moveKeys.add(moveKey(l));
    for (const e of fresh) if (moveKeys.has(moveKey(e))) scanned.push(e);
  }
  const found = compared?.foundFiles(new Set(entries.map((e) => e.path))) ?? { count: 0, at: () => undefined };
  const total = scanned.length + found.count;
  let done = 0;
  let bytes = 0;
  const buffers: Buffer[] = [];
  const fault = (path: string, err: unknown): void => {
    errors.push({ path, op: 'read', code: errorCode(err) ?? 'EIO', message: isCode(err, 'ECHANGED') ? errorMessage(err) : `${path}: ${errorMessage(err)}` });
    unreadable.push(path);
  };
  const hash = async (e: StateEntry): Promise<string | undefined> => {
    const buffer = buffers.pop() ?? newCopyBuffer();
    try {
      const digest = await hashFile(fs, pathUnder(profile.src, e.path), buffer, e.size);
      bytes += e.size;
      return digest;
    } catch (err) {
      fault(e.path, err);
      return undefined;
    } finally {
      buffers.push(buffer);
      opts.reporter.progress({ phase: 'hash', files: ++done, totalFiles: total, bytes });
    }
  };
  await mapLimit(scanned, profile.maxWorkers, async (e) => {
    const digest = await hash(e);
    if (digest !== undefined) e.sha256 = digest;
  });
  await mapLimit(indexes(found.count), profile.maxWorkers, async (k) => {
    const recorded = found.at(k) as StateEntry;
    const digest = await hash(recorded);
    if (digest === undefined || digest === recorded.sha256) return;
    try {
      const now = regularFileEntry(fs, pathUnder(profile.src, recorded.path), recorded.path, recorded.tracked);
      now.sha256 = digest;
      entries.push(now);
    } catch (err) {
      fault(recorded.path, err);
    }
  });
}

const indexes = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function previewOf(plan: Plan): PlanPreview {
  return {
    new: [...plan.mkdirs.map((e) => e.path), ...plan.puts.filter((p) => p.kind === 'new').map((p) => p.entry.path)],
    changed: [...plan.dirChanges.map((c) => c.entry.path), ...plan.puts.filter((p) => p.kind === 'changed').map((p) => p.entry.path)],
    deleted: plan.deletes.map((e) => e.path),
    moved: plan.puts.filter((p) => p.moveFrom !== undefined).map((p) => ({ from: p.moveFrom?.path ?? '', to: p.entry.path })),
  };
}

/**
 * Plain copies below this many go on this thread alone: starting the worker (~30 ms of a core)
 * would cost more than it saves.
 */
const WORKER_MIN_COPIES = 256;
const WORKER_MIN_BYTES = 64 * 1024 * 1024;
/** With the scan's worker idle (a run that scanned on two threads), copies are shared from this many. */
const IDLE_WORKER_MIN_COPIES = 2;
/**
 * A scan that found this many entries to plan stops its worker before planning: a worker kept beside
 * the plan of a moved folder (29,564 files of W1, no copies) took the run's peak from 143–145 MiB
 * to 153–167 MiB in 7 runs of 10 (tmpfs, GNU time), though it had collected its garbage. The copies
 * of so large a plan, if any, start a worker of their own (~30 ms, nothing beside them).
 */
const IDLE_WORKER_MAX_ENTRIES = CAP_HEAP_MIN_STORES;

function copierFor(fs: Fs, p: Prepared, o: Omit<CopierOptions, 'fs'> & { workerScript: string | undefined }): Copier {
  // Empty files are not counted: a worker has nothing to read or hash for them. W1's moved folder
  // ("Taxes", 29,564 files linked) also brings 301 new empty files, which are never move candidates:
  // counted, they started a copy worker beside the move's plan for nothing: the run peaked at
  // 139.9–141.8 MiB with it, 131.6–133.0 MiB without, in the same 3.7–4.7 s (tmpfs, GNU time, 6 runs
  // each, alternating).
  const { withBytes, bytes } = copyTotals(p.plan.puts);
  // One that has exited since it answered cannot take the copies (threadId -1 once its exit is known).
  const idle = p.idleWorker?.threadId === -1 ? undefined : p.idleWorker;
  delete p.idleWorker;
  // The scan's worker costs nothing to take over: it shares any copies there are to share.
  if (idle !== undefined && withBytes >= IDLE_WORKER_MIN_COPIES && o.maxWorkers >= 2) return workerCopier({ ...o, fs, adopt: idle });
  void idle?.terminate();
  // A first run's size is not known before it is walked: the worker is started (its ~30 ms are
  // nothing beside copying a tree, and little beside the first run of a small one).
  const worthIt = p.walk !== undefined || withBytes >= WORKER_MIN_COPIES || (withBytes >= 2 && bytes >= WORKER_MIN_BYTES);
  return o.workerScript !== undefined && fs === realFs && o.maxWorkers >= 2 && worthIt
    ? workerCopier({ ...o, fs, workerScript: o.workerScript })
    : inThreadCopier({ ...o, fs });
}

const emptySummary = (errors: number): IncrementSummary => ({ new: 0, changed: 0, deleted: 0, errors, bytes_copied: 0 });

/** Allocates the increment id: the run's UTC start second, with -2, -3… when taken. */
function createIncrementDir(fs: Fs, layout: Layout, started: Date): string {
  for (;;) {
    const id = nextIncrementId(started, fs.readdirSync(layout.increments));
    try {
      fs.mkdirSync(layout.incrementDir(id));
      return id;
    } catch (err) {
      if (!isCode(err, 'EEXIST')) throw err;
    }
  }
}


/**
 * One backup run of one profile (SPEC §3): lock → recover → scan → plan → guards → apply → metadata.
 * A drive that is full, read-only or gone is said so, wherever the run met it (driveStop).
 */
export async function runBackup(profile: Profile, opts: BackupOptions): Promise<BackupOutcome> {
  // The source first: its faults are its own, not the backup drive's.
  const fs = opts.fs ?? realFs;
  checkSource(fs, profile.src);
  // Config validation compared the paths as written; through a symlink src may still lie inside dist.
  if (isSameOrInside(resolvedPath(fs, profile.src), resolvedPath(fs, profile.dist))) {
    throw failure(`the source ${profile.src} lies inside the destination ${profile.dist} (through a symlink); the backup would contain itself`);
  }
  try {
    return await backupOnce(fs, profile, opts);
  } catch (err) {
    throw driveStop(err);
  }
}

async function backupOnce(fs: Fs, profile: Profile, opts: BackupOptions): Promise<BackupOutcome> {
  const now = opts.now ?? (() => new Date());
  const startedAt = now();
  const layout = new Layout(profile.dist);
  const outcome = (o: Partial<BackupOutcome> & Pick<BackupOutcome, 'status'>): BackupOutcome => ({
    profile: profile.name,
    source: profile.src,
    destination: profile.dist,
    id: null,
    summary: emptySummary(0),
    errors: [],
    skipped: [],
    linkMode: 'hardlink',
    started: startedAt.toISOString(),
    finished: now().toISOString(),
    ...o,
  });

  if (opts.dryRun) {
    const p = await prepare(fs, profile, layout, opts, false);
    dismissIdleWorker(p);
    const preview = previewOf(p.plan);
    return outcome({
      status: 'dry-run',
      summary: { new: preview.new.length, changed: preview.changed.length, deleted: preview.deleted.length, errors: p.errors.length, bytes_copied: 0 },
      errors: p.errors,
      skipped: p.skipped,
      preview,
    });
  }

  if (!isDestinationAttached(fs, profile.dist)) {
    throw failure(`the destination ${profile.dist} is not attached (its parent folder is missing)`);
  }
  // Folders this run creates: removed again when it refuses before writing anything (link_fallback "error").
  const created: string[] = [];
  let refusedBeforeWriting = false;
  try {
    fs.mkdirSync(profile.dist, { mode: 0o700 });
    created.push(profile.dist);
  } catch (err) {
    if (!isCode(err, 'EEXIST')) throw err;
  }
  for (const d of [layout.state, layout.tmp, layout.mirror, layout.increments]) {
    if (fs.mkdirSync(d, { recursive: true }) !== undefined) created.push(d);
  }

  const lock = acquireLock(fs, layout.lock, 'backup');
  // For a recovery before the run's own durability is known (io/durability.ts: a flush of the drive).
  // Asked by recovery at the start (an interrupted run's, then a prune's), or by a run that stops.
  const durabilityNow = durabilityOnce(profile.dist, opts.fsyncData ?? true);
  let uncapHeap: (() => void) | undefined;
  let relimitInlining: (() => void) | undefined;
  // Whatever thread the run still holds when it ends, on any path (a live worker keeps the process running).
  let prepared: Prepared | undefined;
  let copierMade: Copier | undefined;
  // The run's final metadata: a first run's increment.json is open from its start (abort is a no-op once committed).
  let finalWrites: AtomicWrites | undefined;
  // The run's flushes (its Flusher's shell ends once the run does).
  let probe: DurabilityProbe | undefined;
  // For the whole run, before any worker starts (threads/heap.ts).
  const releaseYoung = holdYoungGeneration();
  try {
    if (lock.tookOver !== undefined) {
      opts.reporter.notice(`took over a stale lock left by pid ${lock.tookOver.pid} on ${lock.tookOver.host} (started ${lock.tookOver.started})`);
    }
    // Another source's backup is not ours to repair either: refuse before touching anything.
    const lastHeader = readManifestHeader(fs, layout.manifest);
    const recorded = lastHeader?.source;
    if (recorded !== undefined && recorded !== profile.src && !opts.force) throw failure(wrongSourceMessage(recorded, profile.src));
    // A scan of this many recorded entries is long work itself (threads/jit.ts).
    if (lastHeader !== undefined && lastHeader.entries >= LONG_SCAN_ENTRIES) relimitInlining = inlineForLongWork();
    recoverDestination(fs, layout, { source: profile.src, profile: profile.name, notice: (m) => opts.reporter.notice(m), durability: durabilityNow });

    const traits = probeDestination(fs, layout.tmp);
    // Asked now, in the background: the answer is awaited only if there is something to apply.
    probe = durabilityProbe(profile.dist, opts.fsyncData ?? true);
    let linkMode: 'hardlink' | 'copy' = 'hardlink';
    if (!traits.hardlinks) {
      if (profile.linkFallback === 'error') {
        refusedBeforeWriting = true;
        throw failure(`the destination ${profile.dist} cannot hold hard links, and link_fallback is "error"; nothing was written`);
      }
      linkMode = 'copy';
      opts.reporter.notice(`the destination ${profile.dist} cannot hold hard links: increments will hold copies (link_mode "copy")`);
    }

    // Only when no manifest (nor delta) exists at all: a damaged one must reach readManifest, which refuses it.
    const firstRun = !traits.caseInsensitive && !exists(fs, layout.manifest) && !exists(fs, layout.manifestDelta);
    const p = firstRun ? prepareWalk(fs, profile) : await prepare(fs, profile, layout, opts, traits.caseInsensitive);
    prepared = p;
    // A cache for the next run's read; whether it could be written changes nothing else. Not when
    // the manifest is about to be rewritten for another source (below): it would be of the old one.
    if (p.manifestIndex !== undefined && p.recordedSource === profile.src) writeManifestIndex(fs, layout.manifest, p.manifestIndex);
    delete p.manifestIndex;
    if (p.walk === undefined && !hasChanges(p.plan)) {
      if (p.recordedSource !== profile.src) {
        writeManifest(fs, layout.manifest, { source: profile.src, lastIncrement: p.lastIncrement }, p.last);
      }
      return outcome({ status: 'no-change', summary: emptySummary(p.errors.length), errors: p.errors, skipped: p.skipped, linkMode });
    }

    const id = createIncrementDir(fs, layout, startedAt);
    const header: JournalHeader = { journal: 1, id, profile: profile.name, source: profile.src, started: startedAt.toISOString(), link_mode: linkMode };
    let journal: JournalWriter;
    try {
      journal = new JournalWriter(fs, layout.journal, header);
    } catch (err) {
      // Nothing was announced yet: the empty increment folder goes (else the next run removes it).
      try {
        fs.rmdirSync(layout.incrementDir(id));
      } catch {
        // repairBareIncrements at the next start
      }
      throw stopped(fs, layout, err, durabilityNow);
    }
    // The provisional increment.json (complete: false) lists nothing and counts no bytes (a walked run
    // rewrites it part way): after a crash its lists are rebuilt from the journal, and its errors are
    // kept (apply/recover.ts).
    const incrementJson = (done: Applier, complete: boolean) =>
      buildIncrementJson({
        header,
        previous: p.lastIncrement,
        lists: complete ? done.state.lists() : { new: [], changed: [], deleted: [] },
        errors: [...p.errors, ...done.errors],
        skipped: p.skipped,
        bytesCopied: complete ? done.bytesCopied : 0,
        finished: complete ? now().toISOString() : null,
        complete,
        version: VERSION,
      });
    const durability = await probe.durability();
    const large = p.walk !== undefined || storedCount(p.plan) >= CAP_HEAP_MIN_STORES;
    // Before the copier starts a worker: its copies are long work too (threads/jit.ts).
    if (large) relimitInlining ??= inlineForLongWork();
    const copier = copierFor(fs, p, {
      fsyncData: durability.perFile,
      newFileOwner: traits.newFileOwner,
      maxWorkers: profile.maxWorkers,
      workerScript: opts.workerScript,
    });
    copierMade = copier;
    if (large) {
      // Once the worker runs: its heap set-up undid the young-generation hold, which it and
      // startWorker have put back by then (threads/heap.ts), before the run's largest part.
      await copier.started();
      uncapHeap = capHeapGrowth();
    }
    const state = p.walk === undefined ? new UpdatedState(p.last) : new NewState();
    const applier = new Applier({ fs, layout, id, src: profile.src, linkMode, journal, durability, newFileOwner: traits.newFileOwner, reporter: opts.reporter, copier }, state);
    // increment.json and the manifest are written before the run's last flush, which makes them
    // durable with every version the run placed; only then are they renamed into place (so a
    // complete increment.json never names a version a power cut could lose). With `sync -f` that is
    // one flush of the drive where the placed versions, then each file, took one each.
    const writes = new AtomicWrites(fs, durability.flushesAll ? () => durability.flushAll() : undefined);
    finalWrites = writes;
    let streamed: StreamedIncrement | undefined;
    try {
      writeFileAtomic(fs, layout.incrementJson(id), incrementText(incrementJson(applier, false)));
      // A first run's records are written as it stores them, into the temp file of its final
      // increment.json (nothing else knows them: a crash leaves that temp file, which the next start
      // removes, and the journal, from which recovery rebuilds the lists).
      if (state instanceof NewState) {
        streamed = new StreamedIncrement(writes.stream(layout.incrementJson(id)), incrementJson(applier, false));
        state.streamTo(streamed);
      }
      if (p.walk === undefined) await applier.apply(p.plan);
      else {
        // The walk finds its errors (unreadable folders, names that are not UTF-8) as it goes: each
        // batch's are recorded before the batch is stored, as a planned run records them all first.
        let recorded = 0;
        await applier.applyWalk(p.walk, () => {
          if (p.errors.length === recorded) return;
          recorded = p.errors.length;
          writeFileAtomic(fs, layout.incrementJson(id), incrementText(incrementJson(applier, false)));
        });
        for (const s of p.skipped) opts.reporter.action('skipped', s.path, `${s.kind}: not backed up`);
      }
    } catch (err) {
      // The worker stops first: nothing may write into tmp/ while recovery sweeps it (and a live
      // worker would keep the process running).
      writes.abort();
      await copier.close();
      closeQuietly(journal);
      // Recovery reads the manifest again: the run's own state goes first (W3, a drive found full
      // after ~10,000 of 100,000 changes: 619-646 MiB at the peak with both, 426-444 MiB without).
      state.release();
      throw stopped(fs, layout, err, () => durability);
    }
    // Every copy is made: the worker exits while this thread writes the metadata (~4 ms), and
    // before anything sweeps tmp/ (nothing may write into it meanwhile).
    const closing = copier.close();
    const errors = [...p.errors, ...applier.errors];
    const made = state.counts();
    if (made.new + made.changed + made.deleted === 0) {
      // Every change failed: no increment is worth keeping; the errors are reported all the same.
      writes.abort();
      await closing;
      journal.close();
      fs.rmSync(layout.incrementDir(id), { recursive: true, force: true });
      fs.unlinkSync(layout.journal);
      sweepTmp(fs, layout);
      // A first run that found nothing to store records the source all the same, as a run of a plan
      // with no changes does (above).
      if (p.walk !== undefined && applier.errors.length === 0) writeManifest(fs, layout.manifest, { source: profile.src, lastIncrement: null }, state.manifest());
      return outcome({ status: 'no-change', summary: emptySummary(errors.length), errors, skipped: p.skipped, linkMode });
    }
    const json = incrementJson(applier, true);
    try {
      // Without syncfs, the folders of what the run placed, deleted and made are fsynced first.
      applier.syncFolders();
      if (streamed !== undefined) streamed.finish(json);
      else writes.write(layout.incrementJson(id), incrementText(json));
      writeManifest(fs, layout.manifest, { source: profile.src, lastIncrement: id }, state.manifest(), writes);
      writes.commit();
    } catch (err) {
      writes.abort();
      await closing;
      closeQuietly(journal);
      state.release();
      throw stopped(fs, layout, err, () => durability);
    }
    await closing;
    journal.close();
    fs.unlinkSync(layout.journal);
    sweepTmp(fs, layout);
    return outcome({ status: 'done', id, summary: json.summary, errors, skipped: p.skipped, linkMode });
  } finally {
    if (prepared !== undefined) dismissIdleWorker(prepared);
    finalWrites?.abort();
    probe?.close();
    await copierMade?.close();
    // The heap settings first: a lock that cannot be released (a drive pulled out) must not leave
    // them on for the next profile.
    uncapHeap?.();
    relimitInlining?.();
    releaseYoung();
    lock.release();
    if (refusedBeforeWriting) {
      for (const d of created.reverse()) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not empty (an earlier run's state): it stays
        }
      }
    }
  }
}

/** A drive failure in the user's words; undefined for any other error. */
function driveTrouble(err: unknown): string | undefined {
  if (isCode(err, 'ENOSPC', 'EDQUOT')) return 'the backup drive is full';
  if (isCode(err, 'EROFS')) return 'the backup drive is read-only';
  return isDriveFailure(err) ? 'the backup drive failed or was removed' : undefined;
}

/**
 * A drive failure met outside stopped() (which says what the run had stored): before the run's
 * journal existed (taking the lock, finishing an interrupted run, making the increment's folder),
 * or after its metadata was in place (removing the journal). An interrupted run's journal is still
 * there for the next start. Any other error, and one already said (a HardbackError), is given back
 * as it is.
 */
function driveStop(err: unknown): unknown {
  const what = err instanceof HardbackError ? undefined : driveTrouble(err);
  if (what === undefined) return err;
  return failure(`${what} (${errorMessage(err)}); the run stopped. The backup is consistent; run backup again once the problem is solved.`, { cause: err });
}

/** After a fault the journal's file may not close (a drive that was pulled out): recovery decides from the disk anyway. */
function closeQuietly(journal: JournalWriter): void {
  try {
    journal.close();
  } catch {
    // the next start recovers from whatever reached the disk
  }
}

/**
 * A fatal fault stopped the run: finalise what reached the disk now (the same recovery a crash gets),
 * and turn the fault into a clear failure. If even that cannot be written, the journal stays and the
 * next run finishes the job.
 */
function stopped(fs: Fs, layout: Layout, err: unknown, durability: () => Durability): Error {
  let finalised = true;
  let nothingKept = false;
  try {
    const rec = recoverInterruptedRun(fs, layout, durability);
    nothingKept = rec.id === undefined || rec.removedEmpty;
    sweepTmp(fs, layout);
  } catch {
    finalised = false;
  }
  const what = driveTrouble(err) ?? 'the run failed';
  const state = !finalised
    ? 'the journal was kept: the next run finishes recording what was written'
    : nothingKept
      ? 'nothing of it had reached the backup'
      : 'what was written so far is recorded and the increment is marked incomplete';
  return failure(`${what} (${errorMessage(err)}); the run stopped; ${state}. The backup is consistent; run backup again once the problem is solved.`, {
    cause: err,
  });
}
