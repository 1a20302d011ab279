import { dirname, join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { chownIfSupported, isRoot } from '../io/fs.js';
import { errorCode, errorMessage, isCode, isDriveFailure } from '../io/errors.js';
import { tmpName } from '../io/atomic.js';
import { copyAndHash, hashFile, newCopyBuffer, SourceChangedError } from '../io/copy.js';
import { secondsFromNs, type Entry, type StateEntry } from '../meta/entry.js';
import type { IncrementError } from '../meta/increment.js';
import { parentOf } from '../meta/safe-path.js';
import type { Plan, PutOp } from '../plan/plan.js';
import type { Layout } from '../store/layout.js';
import type { StateTable } from '../store/state-table.js';
import { TMP_PREFIX } from '../store/layout.js';
import type { JournalOp, JournalWriter } from '../store/journal.js';
import { mapLimit } from './pool.js';
import type { Durability } from '../io/durability.js';
import type { Reporter } from './reporter.js';


/** A put is committed in batches: copies first, one journal fsync, then the renames. */
const BATCH_FILES = 256;
/** Deletions, new folders and mode changes are announced this many at a time. */
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
  maxWorkers: number;
  /** How copies are made durable before they are announced (docs/format.md, "fsync policy"). */
  durability: Durability;
  /** Owner of a newly created file on the destination (from the probe). */
  newFileOwner?: { uid: number; gid: number };
  reporter: Reporter;
}

/**
 * Applies a plan to the mirror and the new increment (SPEC §3 steps 4–6). Every change is announced
 * in the journal before it is made, and `done` lists exactly what reached the disk: the increment's
 * lists and the new manifest are derived from it.
 */
export class Applier {
  readonly state: StateTable;
  readonly done: JournalOp[] = [];
  readonly errors: IncrementError[] = [];
  bytesCopied = 0;
  filesCopied = 0;
  private readonly ctx: ApplyContext;
  private readonly madeDirs = new Set<string>();
  /** Mirror folders whose final mode/mtime must be (re)applied at the end. */
  private readonly dirFixups = new Map<string, Entry>();
  private readonly moveSources = new Map<string, string>();
  private readonly root = isRoot();

  constructor(ctx: ApplyContext, lastState: StateTable) {
    this.ctx = ctx;
    this.state = lastState.clone();
  }

  async apply(plan: Plan): Promise<void> {
    this.takeMoveSources(plan.puts);
    this.deleteAll(plan.deletes);
    this.makeDirs(plan.mkdirs);
    await this.putAll(plan.puts);
    this.changeDirModes(plan.dirChanges);
    this.fixDirs();
  }

  private recordError(path: string, op: string, err: unknown): void {
    const code = err instanceof SourceChangedError ? err.code : (errorCode(err) ?? 'EIO');
    const message = errorMessage(err).includes(path) ? errorMessage(err) : `${path}: ${errorMessage(err)}`;
    this.errors.push({ path, op, code, message });
    this.ctx.reporter.action('error', path, message);
  }

  /** Per-file fault: record and go on; a fatal one is rethrown to stop the run. */
  private fault(path: string, op: string, err: unknown): void {
    if (isDriveFailure(err)) throw err;
    this.recordError(path, op, err);
  }

  private tmpPath(): string {
    return join(this.ctx.layout.tmp, `${tmpName(TMP_PREFIX)}`);
  }

  /** Hard link, or (link_mode "copy") a copy carrying the same mode and mtime. */
  private linkOrCopy(from: string, to: string, meta: Entry): void {
    const { fs } = this.ctx;
    if (this.ctx.linkMode === 'hardlink') {
      fs.linkSync(from, to);
      return;
    }
    fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    if (this.root) chownIfSupported(() => fs.chownSync(to, meta.uid, meta.gid));
    fs.chmodSync(to, meta.mode);
    const t = secondsFromNs(meta.mtime_ns);
    fs.utimesSync(to, t, t);
  }

  /** Creates the increment-side parent folders of `file` (cached: one mkdir per folder per run). */
  private ensureIncrementParent(file: string): void {
    const dir = dirname(file);
    if (this.madeDirs.has(dir)) return;
    this.ctx.fs.mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  /**
   * Without root, a mirror folder whose recorded mode forbids writing (e.g. 0555) must be opened
   * for the run; its mode is put back at the end.
   */
  private openMirrorParent(rel: string): void {
    if (this.root) return;
    const parent = parentOf(rel);
    if (parent === '' || this.dirFixups.has(parent)) return;
    const e = this.state.get(parent);
    // Only a folder: after a failed deletion the last state may still hold a file there (the child's write then fails).
    if (e === undefined || e.type !== 'dir' || (e.mode & 0o700) === 0o700) return;
    this.ctx.fs.chmodSync(this.ctx.layout.mirrorPath(parent), e.mode | 0o700);
    this.dirFixups.set(parent, e);
  }

  /** Moves keep their content reachable before the deletions run: a temp link to each source. */
  private takeMoveSources(puts: readonly PutOp[]): void {
    for (const put of puts) {
      const from = put.moveFrom;
      if (from === undefined || this.moveSources.has(from.path)) continue;
      const tmp = this.tmpPath();
      try {
        this.linkOrCopy(this.ctx.layout.mirrorPath(from.path), tmp, from);
        this.moveSources.set(from.path, tmp);
      } catch (err) {
        if (isDriveFailure(err)) throw err;
        // The mirror copy is not usable: the move falls back to copying from the source.
        delete put.moveFrom;
      }
    }
  }

  /**
   * Announces `ops` in chunks (one write each) and yields each op once its chunk is in the journal:
   * every change is announced before it is made, without a syscall per announcement.
   */
  private *announce(ops: readonly JournalOp[]): Generator<JournalOp> {
    for (let i = 0; i < ops.length; i += ANNOUNCE_CHUNK) {
      const chunk = ops.slice(i, i + ANNOUNCE_CHUNK);
      for (const op of chunk) this.ctx.journal.append(op);
      // Durable, not only written: after a power cut the mirror must not hold changes the journal lost.
      this.ctx.journal.sync();
      yield* chunk;
    }
  }

  private deleteAll(deletes: readonly StateEntry[]): void {
    const { fs, layout, id } = this.ctx;
    for (const op of this.announce(deletes.map((entry): JournalOp => ({ op: 'del', entry })))) {
      const entry = op.entry;
      const target = layout.mirrorPath(entry.path);
      let kept: string | undefined;
      try {
        if (entry.type === 'file' && entry.tracked) {
          const keep = layout.incrementDeleted(id, entry.path);
          this.ensureIncrementParent(keep);
          this.linkOrCopy(target, keep, entry);
          kept = keep;
        }
        this.openMirrorParent(entry.path);
        if (entry.type === 'dir') fs.rmdirSync(target);
        else fs.unlinkSync(target);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) {
          // Not deleted: the version stays in the mirror, so deleted/ must not keep a link to it.
          if (kept !== undefined) {
            try {
              fs.unlinkSync(kept);
            } catch {
              // a crash-equivalent: recovery removes the links of undone deletions
            }
          }
          this.fault(entry.path, 'delete', err);
          continue;
        }
        // Already gone from the mirror: the deletion is what we wanted anyway.
      }
      this.state.delete(entry.path);
      this.done.push(op);
      this.ctx.reporter.action('deleted', entry.path);
    }
  }

  private makeDirs(mkdirs: readonly Entry[]): void {
    const { fs, layout, id } = this.ctx;
    for (const op of this.announce(mkdirs.map((e): JournalOp => ({ op: 'mkdir', entry: { ...e, since: id } })))) {
      const { entry, entry: e } = op;
      const target = layout.mirrorPath(e.path);
      try {
        this.openMirrorParent(e.path);
        fs.mkdirSync(target, { mode: 0o700 });
      } catch (err) {
        if (!isCode(err, 'EEXIST') || fs.lstatSync(target).isDirectory() !== true) {
          this.fault(e.path, 'mkdir', err);
          continue;
        }
      }
      this.dirFixups.set(e.path, e);
      this.state.set(e.path, entry);
      this.done.push(op);
      this.ctx.reporter.action('new', e.path);
    }
  }

  private changeDirModes(changes: Plan['dirChanges']): void {
    const { id } = this.ctx;
    for (const op of this.announce(changes.map(({ entry: e }): JournalOp => ({ op: 'dirmode', entry: { ...e, since: id } })))) {
      const { entry, entry: e } = op;
      this.dirFixups.set(e.path, e);
      this.state.set(e.path, entry);
      this.done.push(op);
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
      const e = this.state.get(rel);
      if (e === undefined || e.type !== 'dir') continue;
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

  private totalFiles = 0;
  private totalBytes = 0;

  private async putAll(puts: readonly PutOp[]): Promise<void> {
    for (const put of puts) {
      if (put.entry.type === 'file' && put.moveFrom === undefined) {
        this.totalFiles++;
        this.totalBytes += put.entry.size;
      }
    }
    let batch: PutOp[] = [];
    let bytes = 0;
    for (const put of puts) {
      batch.push(put);
      bytes += put.moveFrom === undefined ? put.entry.size : 0;
      const [maxFiles, maxBytes] = this.ctx.durability.perFile ? [BATCH_FILES, BATCH_BYTES] : [FLUSHED_BATCH_FILES, FLUSHED_BATCH_BYTES];
      if (batch.length >= maxFiles || bytes >= maxBytes) {
        await this.putBatch(batch);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) await this.putBatch(batch);
  }

  private async putBatch(batch: readonly PutOp[]): Promise<void> {
    const { journal } = this.ctx;
    const ready: { put: PutOp; tmp: string; entry: StateEntry }[] = [];
    const buffers: Buffer[] = [];
    await mapLimit(batch, this.ctx.maxWorkers, async (put) => {
      const buffer = buffers.pop() ?? newCopyBuffer();
      try {
        const prepared = await this.prepare(put, buffer);
        if (prepared !== undefined) ready.push({ put, ...prepared });
      } finally {
        buffers.push(buffer);
      }
    });
    // Make the copies durable, announce them, make the announcements durable, then make the changes.
    this.ctx.durability.flushBatch();
    const ops = ready.map(({ put, tmp, entry }): JournalOp => {
      const op: JournalOp = { op: 'put', kind: put.kind, entry, tmp: tmp.slice(this.ctx.layout.tmp.length + 1) };
      if (put.moveFrom !== undefined) op.moved_from = put.moveFrom.path;
      journal.append(op);
      return op;
    });
    journal.sync();
    ready.forEach((r, i) => this.commit(r.entry, r.tmp, ops[i] as JournalOp, r.put.kind));
  }

  /** The new version, complete, in a temp file on the destination; undefined after a per-file fault. */
  private async prepare(put: PutOp, buffer: Buffer): Promise<{ tmp: string; entry: StateEntry } | undefined> {
    const { fs } = this.ctx;
    const e = put.entry;
    const tmp = this.tmpPath();
    const entry: StateEntry = { ...e, since: this.ctx.id };
    try {
      if (e.type === 'symlink') {
        fs.symlinkSync(e.target ?? '', tmp);
        if (this.root) chownIfSupported(() => fs.lchownSync(tmp, e.uid, e.gid));
        const t = secondsFromNs(e.mtime_ns);
        fs.lutimesSync(tmp, t, t);
        return { tmp, entry };
      }
      const moved = put.moveFrom === undefined ? undefined : this.moveSources.get(put.moveFrom.path);
      const confirmed = put.verifyMove !== true || (await hashFile(fs, join(this.ctx.src, e.path), buffer)) === put.moveFrom?.sha256;
      if (moved !== undefined && put.moveFrom?.sha256 !== undefined && confirmed) {
        this.linkOrCopy(moved, tmp, e);
        entry.sha256 = put.moveFrom.sha256;
        return { tmp, entry };
      }
      const copied = await copyAndHash(fs, join(this.ctx.src, e.path), tmp, e, { fsyncData: this.ctx.durability.perFile, buffer, newFileOwner: this.ctx.newFileOwner });
      if (e.sha256 !== undefined && e.sha256 !== copied.sha256) throw new SourceChangedError('changed', e.path);
      entry.sha256 = copied.sha256;
      this.bytesCopied += copied.bytes;
      this.filesCopied++;
      this.ctx.reporter.progress({
        phase: 'copy',
        files: this.filesCopied,
        totalFiles: this.totalFiles,
        bytes: this.bytesCopied,
        totalBytes: this.totalBytes,
      });
      return { tmp, entry };
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // best effort: the copy may never have created it
      }
      this.fault(e.path, 'read', err);
      return undefined;
    }
  }

  private commit(entry: StateEntry, tmp: string, op: JournalOp, kind: 'new' | 'changed'): void {
    const { fs, layout, id } = this.ctx;
    let linked: string | undefined;
    try {
      if (entry.tracked && entry.type === 'file') {
        const keep = layout.incrementFile(id, entry.path);
        this.ensureIncrementParent(keep);
        this.linkOrCopy(tmp, keep, entry);
        linked = keep;
      }
      this.openMirrorParent(entry.path);
      fs.renameSync(tmp, layout.mirrorPath(entry.path));
    } catch (err) {
      if (linked !== undefined) fs.unlinkSync(linked);
      // The temp file stays until the journal is gone (the sweep removes it): its presence is what
      // says "not done".
      this.fault(entry.path, 'write', err);
      return;
    }
    this.state.set(entry.path, entry);
    this.done.push(op);
    this.ctx.reporter.action(kind, entry.path);
  }
}
