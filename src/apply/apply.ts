import type { Fs } from '../io/fs.js';
import { chownIfSupported, isRoot } from '../io/fs.js';
import { errorCode, errorMessage, isCode, isDriveFailure } from '../io/errors.js';
import { fsyncDir, tmpName } from '../io/atomic.js';
import { copyAndHash, hashFile, newCopyBuffer, SourceChangedError } from '../io/copy.js';
import { secondsFromNs, type Entry, type StateEntry } from '../meta/entry.js';
import type { IncrementError } from '../meta/increment.js';
import { parentOf, pathUnder } from '../meta/safe-path.js';
import { copyTotals, isCopy, type Plan, type PutOp } from '../plan/plan.js';
import type { Layout } from '../store/layout.js';
import type { RunState } from './run-state.js';
import { TMP_PREFIX } from '../store/layout.js';
import type { JournalOp, JournalWriter } from '../store/journal.js';
import { addCopyJob, newCopyJobs, type Copier, type CopyOutcome, type JobRun } from './copier.js';
import { keepVersion, linkOrCopy, MadeDirs, putInMirror, StrayLinkError, type PlaceOptions } from './place.js';
import { ChangedFolders, settleIncrementFiles } from './folder-sync.js';
import type { Durability } from '../io/durability.js';
import type { Reporter } from './reporter.js';


/** A put is committed in batches: copies first, one journal fsync, then the renames. */
const BATCH_FILES = 256;
/** Deletions, a plan's new folders and mode changes are announced this many at a time (a first run's folders: a batch's at once, makeDirsLater). */
const ANNOUNCE_CHUNK = 512;
const BATCH_BYTES = 64 * 1024 * 1024;
/** With one flush per batch (syncfs), batches are larger: the flush costs the same whatever their size. */
const FLUSHED_BATCH_FILES = 4096;
const FLUSHED_BATCH_BYTES = 256 * 1024 * 1024;

export interface ApplyContext {
  fs: Fs;
  layout: Layout;
  id: string;
  src: string;
  linkMode: 'hardlink' | 'copy';
  journal: JournalWriter;
  /** How copies are made durable before they are announced (docs/format.md, "fsync policy"). */
  durability: Durability;
  /** Owner of a newly created file on the destination (from the probe). */
  newFileOwner?: { uid: number; gid: number };
  reporter: Reporter;
  /** Makes the copies (on one thread or two: src/apply/copier.ts). */
  copier: Copier;
}

interface StartedBatch {
  batch: readonly PutOp[];
  /** The batch's folders in the mirror are made (a walked run: Applier.makeDirsLater). */
  dirs: Promise<void>;
  tmps: readonly string[];
  /** Indexes (into batch) of the plain copies handed to the copier, in job order. */
  copies: readonly number[];
  run: JobRun<CopyOutcome>;
}

interface Ready {
  put: PutOp;
  tmp: string;
  entry: StateEntry;
}

/**
 * A copied batch, on its way to being placed: its flush makes its copies durable, then its
 * announcement is written and made durable (`announced` settles after both, or with the first failure).
 */
interface Flushing {
  ready: readonly Ready[];
  announced: Promise<void>;
  dirs: Promise<void>;
}

/**
 * Applies a plan (or a first run's walk) to the mirror and the new increment (SPEC §3 steps 4–6).
 * Every change is announced in the journal before it is made, and `state` records exactly what
 * reached the disk: the increment's lists and the new manifest are derived from it.
 */
export class Applier {
  /** What reached the mirror: the new state and increment.json's lists (run-state.ts). */
  readonly state: RunState;
  readonly errors: IncrementError[] = [];
  bytesCopied = 0;
  filesCopied = 0;
  private readonly ctx: ApplyContext;
  /** Mirror folders whose final mode/mtime must be (re)applied at the end. */
  private readonly dirFixups = new Map<string, Entry>();
  /** Mirror folders openMirrorParent found writable. */
  private readonly parentsChecked = new Set<string>();
  /** Per moved-from path: a temp link to its stored version, and how many puts still need it. */
  private readonly moveSources = new Map<string, { tmp: string; users: number }>();
  private readonly root = isRoot();
  /** Increment folders made so far (one mkdir per folder per run). */
  private readonly dirs: MadeDirs;
  /**
   * Without syncfs (durability.perFile): the mirror folders ('' the mirror itself) whose entries the
   * run changed, fsynced once at the end (syncFolders).
   */
  private readonly changedFolders: Set<string> | undefined;
  private buffer: Buffer | undefined;

  constructor(ctx: ApplyContext, state: RunState) {
    this.ctx = ctx;
    this.state = state;
    this.dirs = new MadeDirs(ctx.layout.incrementDir(ctx.id));
    if (ctx.durability.perFile) this.changedFolders = new Set();
  }

  /** Applies `plan`, taking its puts and deletes over: they are gone from it afterwards. */
  async apply(plan: Plan): Promise<void> {
    const { puts, beforePlacing } = this.takePlan(plan);
    ({ files: this.totalFiles, bytes: this.totalBytes } = copyTotals(puts));
    await this.putAll(this.batches(takeEach(puts)), beforePlacing);
    this.changeDirModes(plan.dirChanges);
    this.fixDirs();
  }

  /**
   * The plan's puts, once a temp link to each move's source is made, and what must be done before any
   * put is placed: the deletions, then the new folders (putAll does it while the copier makes the
   * first batch's copies: 100 deletions took 6 ms of a 1 % change on tmpfs, 12–15 ms on ext4, with
   * their journal fsync). The plan keeps neither its puts nor its deletions, and the deletions are let
   * go once done: an async function keeps its locals while it waits, and the deleted entries would
   * stay for the whole run, where now each stays only as long as a move still needs it (a moved
   * folder of 29,564 files held 9 MB of them to the end).
   */
  private takePlan(plan: Plan): { puts: PutOp[]; beforePlacing: () => void } {
    const { puts, mkdirs } = plan;
    let deletes: StateEntry[] | undefined = plan.deletes;
    plan.puts = [];
    plan.deletes = [];
    this.takeMoveSources(puts);
    return {
      puts,
      beforePlacing: () => {
        const now = deletes ?? [];
        deletes = undefined;
        this.deleteAll(now);
        this.makeDirs(mkdirs);
      },
    };
  }

  /**
   * Stores every entry `walk` yields as new, while it walks: the first run of a backup, where the last
   * state is empty, so nothing can be deleted, moved or refused by a guard and the plan would be "all
   * of it". Each folder comes before its content (scan/walk.ts); the folders of a batch are announced
   * before the batch is handed out (and `onBatch` called: the run records the walk's errors so far),
   * and made before it is placed (makeDirsLater).
   * Only a batch's entries are held, and the folders (their modes are set at the end): a plan held
   * every entry of the tree at once (bench/HISTORY.md, "What changed in session 5").
   */
  async applyWalk(walk: Iterable<Entry>, onBatch?: () => void): Promise<void> {
    const dirs: Entry[] = [];
    const puts = (function* (): Generator<PutOp> {
      for (const entry of walk) {
        if (entry.type === 'dir') dirs.push(entry);
        else yield { kind: 'new', entry };
      }
    })();
    try {
      await this.putAll(
        this.batches(puts, () => {
          this.makeDirsLater(dirs);
          dirs.length = 0;
          onBatch?.();
        }),
      );
    } catch (err) {
      // Nothing of the run may still be changing once it stops.
      await this.dirsMade.catch(() => {});
      throw err;
    }
    await this.dirsMade;
    this.fixDirs();
  }

  /**
   * Without syncfs no flush of the drive makes the run's links, renames, deletions and new folders
   * durable: each folder that holds one is fsynced here, once, and the run puts its final
   * increment.json in place only after (run.ts), so that it never lists a version a power cut could
   * still take (with syncfs, the run's last flush does this). They are the mirror's folders (with
   * the modes fixDirs set), the increment's, the increments folder, and the temp folder: a put whose
   * temp file came back after a power cut, with the journal, would count as not done.
   */
  syncFolders(): void {
    const changed = this.changedFolders;
    if (changed === undefined) return;
    const folders = new ChangedFolders(this.ctx.layout);
    for (const dir of this.dirs.folders) folders.increment(dir);
    for (const rel of this.dirFixups.keys()) changed.add(rel);
    for (const rel of changed) folders.mirror(rel, this.state.folder(rel) !== undefined);
    folders.sync(this.ctx.fs);
  }

  private recordError(path: string, op: string, err: unknown): void {
    const code = err instanceof SourceChangedError ? err.code : (errorCode(err) ?? 'EIO');
    const message = errorMessage(err).includes(path) ? errorMessage(err) : `${path}: ${errorMessage(err)}`;
    this.errors.push({ path, op, code, message });
    this.ctx.reporter.action('error', path, message);
  }

  /** Per-file fault: record and go on; a fatal one is rethrown to stop the run. */
  private fault(path: string, op: string, err: unknown): void {
    if (isDriveFailure(err) || err instanceof StrayLinkError) throw err;
    this.recordError(path, op, err);
  }

  private sourcePath(rel: string): string {
    return pathUnder(this.ctx.src, rel);
  }

  private tmpPath(): string {
    return `${this.ctx.layout.tmp}/${tmpName(TMP_PREFIX)}`;
  }

  /** Hard link, or (link_mode "copy") a copy carrying the same mode, owner and mtime. */
  private linkOrCopy(from: string, to: string, meta: Entry): void {
    linkOrCopy(this.ctx.fs, from, to, meta, this.placeOptions());
  }

  private placeOptions(): PlaceOptions {
    return { linkMode: this.ctx.linkMode, root: this.root, fsyncCopies: this.ctx.durability.perFile };
  }

  private ensureIncrementParent(file: string): void {
    this.dirs.ensureParent(this.ctx.fs, file);
  }

  /**
   * Without root, a mirror folder whose recorded mode forbids writing (e.g. 0555) must be opened
   * for the run; its mode is put back at the end.
   */
  private openMirrorParent(rel: string): void {
    if (this.root) return;
    const parent = parentOf(rel);
    if (parent === '' || this.dirFixups.has(parent) || this.parentsChecked.has(parent)) return;
    // Only a folder: after a failed deletion the last state may still hold a file there (the child's write then fails).
    const e = this.state.folder(parent);
    if (e === undefined || (e.mode & 0o700) === 0o700) {
      // Nothing to open: not asked again (mirror folder modes change only at the end, in fixDirs).
      this.parentsChecked.add(parent);
      return;
    }
    this.ctx.fs.chmodSync(this.ctx.layout.mirrorPath(parent), e.mode | 0o700);
    this.dirFixups.set(parent, e);
  }

  /**
   * Moves keep their content reachable before the deletions run: a temp link to each source. That
   * temp file becomes the put's own (it is renamed into place), unless several puts share it.
   */
  private takeMoveSources(puts: readonly PutOp[]): void {
    for (const put of puts) {
      const from = put.moveFrom;
      if (from === undefined) continue;
      const known = this.moveSources.get(from.path);
      if (known !== undefined) {
        known.users++;
        continue;
      }
      const tmp = this.tmpPath();
      try {
        this.linkOrCopy(this.ctx.layout.mirrorPath(from.path), tmp, from);
        this.moveSources.set(from.path, { tmp, users: 1 });
      } catch (err) {
        if (isDriveFailure(err)) throw err;
        // The mirror copy is not usable: the move falls back to copying from the source.
        delete put.moveFrom;
      }
    }
  }

  /** One put fewer needs a move's source; true when it was the last (the entry is then forgotten). */
  private releaseMoveSource(put: PutOp, moved: { users: number }): boolean {
    if (--moved.users > 0) return false;
    if (put.moveFrom !== undefined) this.moveSources.delete(put.moveFrom.path);
    return true;
  }

  /**
   * Announces `ops` in chunks (one write each) and yields each op once its chunk is in the journal:
   * every change is announced before it is made, without a syscall per announcement.
   */
  private *announce(ops: readonly JournalOp[]): Generator<JournalOp> {
    for (const chunk of this.announceChunks(ops)) yield* chunk;
  }

  /** announce, a chunk at a time: each chunk once its lines are in the journal. */
  private *announceChunks(ops: readonly JournalOp[]): Generator<JournalOp[]> {
    for (let i = 0; i < ops.length; i += ANNOUNCE_CHUNK) {
      const chunk = ops.slice(i, i + ANNOUNCE_CHUNK);
      for (const op of chunk) this.ctx.journal.append(op);
      // Durable, not only written: after a power cut the mirror must not hold changes the journal lost.
      this.ctx.journal.sync();
      yield chunk;
    }
  }

  /**
   * Makes the copies an increment keeps of versions (link_mode "copy": `copies`, in files/ or
   * deleted/) durable, their data and their names, before the change that relies on it: a
   * deletion's unlink from the mirror, or a put's rename over it (recovery reads a put whose temp
   * file is gone as done, and increment.json then lists the copy in files/). With syncfs, one flush
   * of the drive; without it, each copy was fsynced as it was made (PlaceOptions.fsyncCopies), and
   * here each folder that holds one, and each folder above it up to increments/ (the run may have
   * just made them: each is an entry of the one above). Hard links need nothing: they are names of
   * an inode whose data is durable already.
   */
  private settleCopies(copies: readonly string[]): void {
    if (copies.length > 0) settleIncrementFiles(this.ctx.fs, this.ctx.layout, this.ctx.durability, copies, []);
  }

  /**
   * Per announced chunk: first the increment's link (or copy) of each tracked file in deleted/, then,
   * once its copies are durable (settleCopies), the deletions from the mirror.
   */
  private deleteAll(deletes: readonly StateEntry[]): void {
    const { fs, layout, id } = this.ctx;
    for (const chunk of this.announceChunks(deletes.map((entry): JournalOp => ({ op: 'del', entry })))) {
      const kept: { entry: StateEntry; keep: string | undefined; gone: boolean }[] = [];
      const copies: string[] = [];
      for (const { entry } of chunk) {
        const keep = entry.type === 'file' && entry.tracked ? layout.incrementDeleted(id, entry.path) : undefined;
        if (keep !== undefined) {
          try {
            this.ensureIncrementParent(keep);
          } catch (err) {
            this.notDeleted(entry, undefined, err);
            continue;
          }
        }
        try {
          if (keep !== undefined) {
            // From here a file may exist at keep (link_mode "copy" copies, then sets metadata).
            this.linkOrCopy(layout.mirrorPath(entry.path), keep, entry);
            if (this.ctx.linkMode === 'copy') copies.push(keep);
          }
          kept.push({ entry, keep, gone: false });
        } catch (err) {
          // Already gone from the mirror: the deletion is what we wanted anyway.
          if (isCode(err, 'ENOENT')) kept.push({ entry, keep, gone: true });
          else this.notDeleted(entry, keep, err);
        }
      }
      this.settleCopies(copies);
      for (const { entry, keep, gone } of kept) {
        if (!gone) {
          const target = layout.mirrorPath(entry.path);
          try {
            this.openMirrorParent(entry.path);
            if (entry.type === 'dir') fs.rmdirSync(target);
            else fs.unlinkSync(target);
          } catch (err) {
            if (!isCode(err, 'ENOENT')) {
              this.notDeleted(entry, keep, err);
              continue;
            }
          }
        }
        this.state.deleted(entry);
        this.changedFolders?.add(parentOf(entry.path));
        this.ctx.reporter.action('deleted', entry.path);
      }
    }
  }

  /** A deletion that failed: the version stays in the mirror, so deleted/ must not keep a link to it (`keep`). */
  private notDeleted(entry: StateEntry, keep: string | undefined, err: unknown): void {
    if (keep !== undefined) {
      try {
        this.ctx.fs.unlinkSync(keep);
      } catch (unlinkErr) {
        // Stop: recovery removes the links of undone deletions; going on would leave this one.
        if (!isCode(unlinkErr, 'ENOENT')) throw new StrayLinkError(keep, unlinkErr);
      }
    }
    this.fault(entry.path, 'delete', err);
  }

  private makeDirs(mkdirs: readonly Entry[]): void {
    for (const op of this.announce(this.mkdirOps(mkdirs))) this.makeDir(op);
  }

  /**
   * makeDirs for a walked run's batch, without waiting: the folders are announced at once and made
   * once the journal's fsync (off this thread) is done, while the batch is copied. Each batch's
   * folders are made after the earlier batches', so a parent before its children. `dirsMade` then
   * settles once all folders announced so far are made (or with the first failure): a batch is
   * placed only after that.
   */
  private makeDirsLater(mkdirs: readonly Entry[]): void {
    const ops = this.mkdirOps(mkdirs);
    let synced: Promise<void> = Promise.resolve();
    if (ops.length > 0) {
      for (const op of ops) this.ctx.journal.append(op);
      synced = this.ctx.journal.syncAsync();
      synced.catch(() => {});
    }
    // In turn, not Promise.all: a later fsync that fails first must not settle the chain while an
    // earlier batch's folders are still to be made (they would be made after the run stopped).
    const made = this.dirsMade.then(() => synced).then(() => {
      for (const op of ops) this.makeDir(op);
    });
    made.catch(() => {});
    this.dirsMade = made;
  }

  /** The folders makeDirsLater announced, made (or the first failure): settled before the run goes on without them. */
  private dirsMade: Promise<void> = Promise.resolve();

  private mkdirOps(mkdirs: readonly Entry[]): JournalOp[] {
    const { id } = this.ctx;
    return mkdirs.map((e): JournalOp => ({ op: 'mkdir', entry: { ...e, since: id } }));
  }

  /** One announced folder made in the mirror (a per-folder fault is recorded). */
  private makeDir(op: JournalOp): void {
    const { fs, layout } = this.ctx;
    const { entry, entry: e } = op;
    const target = layout.mirrorPath(e.path);
    try {
      this.openMirrorParent(e.path);
      fs.mkdirSync(target, { mode: 0o700 });
    } catch (err) {
      if (!isCode(err, 'EEXIST') || fs.lstatSync(target).isDirectory() !== true) {
        this.fault(e.path, 'mkdir', err);
        return;
      }
    }
    this.dirFixups.set(e.path, e);
    this.state.stored('new', entry);
    this.changedFolders?.add(parentOf(e.path));
    this.ctx.reporter.action('new', e.path);
  }

  private changeDirModes(changes: Plan['dirChanges']): void {
    const { id } = this.ctx;
    for (const op of this.announce(changes.map(({ entry: e }): JournalOp => ({ op: 'dirmode', entry: { ...e, since: id } })))) {
      const { entry, entry: e } = op;
      this.dirFixups.set(e.path, e);
      this.state.stored('changed', entry);
      this.ctx.reporter.action('changed', e.path);
    }
  }

  /** Final folder modes, owners and mtimes, deepest first so setting a child never disturbs its parent's mtime after. */
  private fixDirs(): void {
    const { fs, layout } = this.ctx;
    const dirs = [...this.dirFixups.keys()].sort().reverse();
    for (const rel of dirs) {
      // Only a folder that is still one: a folder deleted this run may have been replaced by a file
      // or a symlink, and chmod/utimes would follow a symlink out of the backup.
      const e = this.state.folder(rel);
      if (e === undefined) continue;
      const p = layout.mirrorPath(rel);
      try {
        if (this.root) chownIfSupported(() => fs.chownSync(p, e.uid, e.gid));
        fs.chmodSync(p, e.mode);
        const t = secondsFromNs(e.mtime_ns);
        fs.utimesSync(p, t, t);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) this.fault(rel, 'chmod', err);
      }
    }
  }

  /** What the plan copies, for the progress (unknown in a walked run). */
  private totalFiles: number | undefined;
  private totalBytes: number | undefined;

  /**
   * `puts` cut into batches, taken one at a time: putAll lets each batch go once it is committed (its
   * ops die with it; a run keeps only each entry's line in its state). Holding every op to the end
   * cost 5 MB of a 100k-file first run. `beforeEach` runs before a batch is handed out (a walked
   * run makes the batch's folders there).
   */
  private *batches(puts: Iterator<PutOp>, beforeEach?: () => void): Generator<PutOp[]> {
    let batch: PutOp[] = [];
    let bytes = 0;
    const [maxFiles, maxBytes] = this.ctx.durability.perFile ? [BATCH_FILES, BATCH_BYTES] : [FLUSHED_BATCH_FILES, FLUSHED_BATCH_BYTES];
    for (let r = puts.next(); r.done !== true; r = puts.next()) {
      const put = r.value;
      batch.push(put);
      if (isCopy(put)) bytes += put.entry.size;
      if (batch.length >= maxFiles || bytes >= maxBytes) {
        beforeEach?.();
        yield batch;
        batch = [];
        bytes = 0;
      }
    }
    beforeEach?.();
    if (batch.length > 0) yield batch;
  }

  /**
   * Copies, commits and places the batches. Batch k+1 is taken (in a walked run: walked) and handed
   * to the copier before this thread joins the copies of batch k: the worker goes on to it as soon as
   * its part of batch k is done, and copies while this thread places batch k-1 (handing it over only
   * after batch k was copied left the worker idle whenever it finished batch k+1 before this thread
   * had placed batch k: 0.63 s of a 100k-file first run on tmpfs). Batch k's flush (syncfs) runs in
   * the background while both threads copy batch k+1: a flush is the disk's time, and waiting for it
   * here left this thread idle for 6.3 s of a 20.8 s first run of 100k files on the ext4 image of
   * bench/ (25 batches, a flush each). Batch k is announced as soon as its flush is done, and the
   * journal's fsync runs meanwhile too (announceWhenFlushed); it is placed as soon as that fsync is
   * done, from the event loop, while this thread copies batch k+1 (placed only once batch k+1 was
   * copied, the last batch but one was placed after the run's last copy, with the worker idle:
   * ~0.1 s of a 100k-file first run on the ext4 image). Batch k+1 is placed only after batch k. Without
   * syncfs the flush has settled at once (each copy was fsynced), and the batch is placed the same
   * way: one order for both, which the crash images of a first run (per-file) cover.
   * `beforePlacing` runs once the first batch is handed out (or at once, when there is none).
   */
  private async putAll(batches: Iterator<PutOp[]>, beforePlacing?: () => void): Promise<void> {
    const take = (): StartedBatch | undefined => {
      const r = batches.next();
      return r.done === true ? undefined : this.startBatch(r.value);
    };
    let copying = take();
    // The copier has the first batch: this thread meanwhile does what comes before any placing.
    beforePlacing?.();
    // The batch copied before: placed as soon as its flush and announcement are over, while this
    // thread copies the next one (its copies let the event loop run: copier.ts), so that the run's
    // last copy is followed by the last batch's placing only.
    let placing: Promise<void> | undefined;
    // A placing that failed while the next batch was being copied: the run's first failure.
    let placingFailed: { err: unknown } | undefined;
    try {
      while (copying !== undefined) {
        const following = take();
        const ready = await this.prepareBatch(copying);
        const before = placing;
        placing = undefined;
        if (before !== undefined) await before;
        placing = this.commitBatch(this.announceWhenFlushed(ready, copying.dirs));
        // A failure is awaited below (or in the catch): not unhandled meanwhile.
        placing.catch((err: unknown) => {
          placingFailed ??= { err };
        });
        copying = following;
      }
    } catch (err) {
      if (placingFailed !== undefined && placingFailed.err !== err) {
        // The batch before failed to be placed first: that is the failure to report.
        this.ctx.reporter.notice(`the next batch could not be copied either: ${errorMessage(err)}`);
        throw placingFailed.err;
      }
      // The next batch stopped the run (a full drive, say): the batch copied before it is still
      // placed, once its flush is over, as it would have been without the overlap. Its own
      // failure, if any, is not the one to report.
      if (placing !== undefined) {
        try {
          await placing;
        } catch (commitErr) {
          // The run stops on `err` all the same, and recovery decides what reached the disk; this
          // one is told, not lost.
          this.ctx.reporter.notice(`the batch copied before it could not be placed either: ${errorMessage(commitErr)}`);
        }
      }
      throw err;
    }
    if (placing !== undefined) await placing;
  }

  /**
   * Starts the flush of a copied batch; once it has ended, announces the batch and starts the
   * journal's fsync, both while this thread copies the next batch (its copies let the event loop
   * run: copier.ts). The run may stop before `announced` is awaited: its failure is then no one's to
   * report.
   */
  private announceWhenFlushed(ready: readonly Ready[], dirs: Promise<void>): Flushing {
    const announced = this.ctx.durability.flushBatch().then(() => this.announceBatch(ready));
    announced.catch(() => {});
    return { ready, announced, dirs };
  }

  /**
   * Announces a batch whose copies are durable, and makes the announcements durable: the puts'
   * lines, then one fsync of the journal off this thread.
   */
  private announceBatch(ready: readonly Ready[]): Promise<void> {
    const { fs, journal, layout, durability } = this.ctx;
    // Without syncfs each copy was fsynced as it was made; their names in the temp folder must be
    // durable too before the journal announces them, or a power cut could take a temp file and leave
    // its put looking done.
    if (durability.perFile) fsyncDir(fs, layout.tmp);
    for (const { put, tmp, entry } of ready) {
      const op: JournalOp = { op: 'put', kind: put.kind, entry, tmp: tmp.slice(layout.tmp.length + 1) };
      if (put.moveFrom !== undefined) op.moved_from = put.moveFrom.path;
      journal.append(op);
    }
    return journal.syncAsync();
  }

  /** Temp names for a batch, and its plain copies handed to the copier at once. */
  private startBatch(batch: readonly PutOp[]): StartedBatch {
    const tmps = batch.map(() => this.tmpPath());
    const copies: number[] = [];
    const jobs = newCopyJobs();
    batch.forEach((put, i) => {
      const e = put.entry;
      if (!isCopy(put)) return;
      copies.push(i);
      // Only what the copy needs crosses to the worker thread.
      addCopyJob(jobs, { src: this.sourcePath(e.path), tmp: tmps[i] as string, expect: e });
    });
    const run = this.ctx.copier.copy(jobs, (n) => {
      this.bytesCopied += n;
      this.filesCopied++;
      this.ctx.reporter.progress({ phase: 'copy', files: this.filesCopied, totalFiles: this.totalFiles, bytes: this.bytesCopied, totalBytes: this.totalBytes });
    });
    return { batch, dirs: this.dirsMade, tmps, copies, run };
  }

  /** Symlinks and moves here while the copier works; then the copies' outcomes. */
  private async prepareBatch(b: StartedBatch): Promise<Ready[]> {
    const ready: Ready[] = [];
    const buffer = (this.buffer ??= newCopyBuffer());
    for (let i = 0; i < b.batch.length; i++) {
      const put = b.batch[i] as PutOp;
      if (isCopy(put)) continue;
      const prepared = await this.prepareOther(put, b.tmps[i] as string, buffer);
      if (prepared !== undefined) ready.push({ put, ...prepared });
    }
    const outcomes = await b.run.finish();
    b.copies.forEach((i, j) => {
      const put = b.batch[i] as PutOp;
      const tmp = b.tmps[i] as string;
      const e = put.entry;
      const r = outcomes[j] as CopyOutcome;
      let err: unknown = r.ok ? undefined : r.error;
      // --checksum compared content the scan hashed: the copy must be that content.
      if (r.ok && e.sha256 !== undefined && e.sha256 !== r.sha256) {
        err = new SourceChangedError('changed', e.path);
        this.removeTemp(tmp);
        // Counted (for progress) as it was copied: not a copy that was kept.
        this.bytesCopied -= r.bytes;
        this.filesCopied--;
      }
      if (err !== undefined) {
        this.fault(e.path, 'read', err);
        return;
      }
      if (!r.ok) return;
      const entry: StateEntry = e;
      entry.since = this.ctx.id;
      entry.sha256 = r.sha256;
      ready.push({ put, tmp, entry });
    });
    return ready;
  }

  /**
   * Once the batch's copies and then its announcements are durable (announceWhenFlushed), puts each in place
   * (src/apply/place.ts): the links (or copies) into the increment's files/ first, then, once
   * those copies are durable (settleCopies), the renames into the mirror. A version that could not
   * be placed keeps its temp file until the journal is gone: its presence says "not done".
   */
  private async commitBatch({ ready, announced, dirs }: Flushing): Promise<void> {
    const { fs, layout } = this.ctx;
    // The batch's folders in the increment are made while its flush or its announcement's fsync may
    // still run (1,800 folders of a 1 % change took ~70 ms on the ext4 image, its flush ~40 ms). Made
    // before the announcement is durable, a folder holds nothing yet: a crash leaves it empty at
    // worst, as a failed put does.
    // One that cannot be made is left to keepVersion, which reports it.
    const keeps = ready.map(({ entry }) => this.keepOf(entry));
    for (const keep of keeps) {
      if (keep === undefined) continue;
      try {
        this.ensureIncrementParent(keep);
      } catch (err) {
        // keepVersion tries again, and reports it (a failing drive: once, for the whole batch)
        if (isDriveFailure(err)) break;
      }
    }
    await announced;
    await dirs;
    const placeOptions = this.placeOptions();
    // The puts kept in the increment, by their index in `ready` (and `keeps`): a new object per put,
    // spread from its Ready, made the loop below cost the main thread ~0.2 s more in a 100k-file
    // first run (CPU profile).
    const kept: number[] = [];
    const copies: string[] = [];
    for (let i = 0; i < ready.length; i++) {
      const { tmp, entry } = ready[i] as Ready;
      const keep = keeps[i];
      let err: unknown;
      try {
        this.openMirrorParent(entry.path);
      } catch (e) {
        err = e;
      }
      if (keep !== undefined) err ??= keepVersion(fs, tmp, keep, entry, this.dirs, placeOptions);
      if (err !== undefined) {
        // A drive failure or a link that could not be removed stops the run here (fault rethrows).
        this.fault(entry.path, 'write', err);
        continue;
      }
      if (keep !== undefined && placeOptions.linkMode === 'copy') copies.push(keep);
      kept.push(i);
    }
    this.settleCopies(copies);
    for (const i of kept) {
      const { put, tmp, entry } = ready[i] as Ready;
      const err = putInMirror(fs, tmp, layout.mirrorPath(entry.path), keeps[i]);
      if (err !== undefined) {
        this.fault(entry.path, 'write', err);
        continue;
      }
      this.state.stored(put.kind, entry);
      this.changedFolders?.add(parentOf(entry.path));
      this.ctx.reporter.action(put.kind, entry.path);
    }
  }

  /** Where the increment keeps a put's version: tracked files only (SPEC §3). */
  private keepOf(entry: StateEntry): string | undefined {
    return entry.tracked && entry.type === 'file' ? this.ctx.layout.incrementFile(this.ctx.id, entry.path) : undefined;
  }

  private removeTemp(tmp: string): void {
    try {
      this.ctx.fs.unlinkSync(tmp);
    } catch {
      // best effort: the sweep at the end of the run removes leftovers
    }
  }

  /**
   * A symlink, or a moved file linked to the version already stored (else copied here), in `tmp` or in
   * the move's own temp file; undefined after a per-file fault.
   */
  private async prepareOther(put: PutOp, tmp: string, buffer: Buffer): Promise<{ tmp: string; entry: StateEntry } | undefined> {
    const { fs } = this.ctx;
    const e = put.entry;
    const entry: StateEntry = e;
    entry.since = this.ctx.id;
    try {
      if (e.type === 'symlink') {
        fs.symlinkSync(e.target ?? '', tmp);
        if (this.root) chownIfSupported(() => fs.lchownSync(tmp, e.uid, e.gid));
        const t = secondsFromNs(e.mtime_ns);
        fs.lutimesSync(tmp, t, t);
        return { tmp, entry };
      }
      const moved = put.moveFrom === undefined ? undefined : this.moveSources.get(put.moveFrom.path);
      const confirmed = put.verifyMove !== true || (await hashFile(fs, this.sourcePath(e.path), buffer, e.size)) === put.moveFrom?.sha256;
      if (moved !== undefined && moved.users > 0 && put.moveFrom?.sha256 !== undefined && confirmed) {
        entry.sha256 = put.moveFrom.sha256;
        // The last put that needs this stored version takes the temp link itself.
        if (this.releaseMoveSource(put, moved)) return { tmp: moved.tmp, entry };
        this.linkOrCopy(moved.tmp, tmp, e);
        return { tmp, entry };
      }
      if (moved !== undefined) this.releaseMoveSource(put, moved);
      // Not linkable after all: copied like a new file.
      const copied = await copyAndHash(fs, this.sourcePath(e.path), tmp, e, { fsyncData: this.ctx.durability.perFile, buffer, newFileOwner: this.ctx.newFileOwner });
      entry.sha256 = copied.sha256;
      this.bytesCopied += copied.bytes;
      this.filesCopied++;
      return { tmp, entry };
    } catch (err) {
      this.removeTemp(tmp);
      this.fault(e.path, 'read', err);
      return undefined;
    }
  }
}

/** Each item of `items` once, each slot emptied as it is taken: the array does not keep what was handed out. */
function* takeEach<T>(items: T[]): Generator<T> {
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as T;
    items[i] = undefined as T;
    yield item;
  }
}
