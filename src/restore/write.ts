import { tmpName } from '../io/atomic.js';
import { dirname, join, relative, sep } from 'node:path';
import type { Fs } from '../io/fs.js';
import { isRoot } from '../io/fs.js';
import { errorMessage, failure, isCode, isDriveFailure } from '../io/errors.js';
import { copyVerified, newRestoreBuffer, type CopyOptions, type StoredVersion } from '../io/copy-verified.js';
import { durabilityFor } from '../io/durability.js';
import { addJob, copyFiles, emptyJobs } from './copy-files.js';
import { hashFile } from '../io/copy.js';
import { secondsFromNs, type Entry, type EntryType } from '../meta/entry.js';
import { isSafeRelPath, isSameOrInside, parentOf } from '../meta/safe-path.js';
import type { StateItem } from './state-at.js';

/**
 * Writes a chosen set of versions into a target folder (`restore`, `recreate`; SPEC §4):
 * plan first (read-only: what would be written, what conflicts), then write only when nothing
 * blocks. The guarantees:
 * - nothing outside the target is written: every path is re-checked with isSafeRelPath, and no
 *   existing component of a destination inside the target may be a symlink or a non-folder;
 * - nothing in the target is deleted; an existing file or symlink with other content is replaced
 *   only with `force`; a folder where a file must go (or the reverse) is never replaced;
 * - a final path only ever receives complete content: each file is written to a temp file in the
 *   same folder, checked against its recorded sha256, flushed, then renamed into place, so a killed
 *   restore leaves no half-written file, and running it again completes it.
 */

/** Our temp files in a target folder: a later restore of the same folder removes leftovers of a killed one. */
export const RESTORE_TMP_PREFIX = '.hb-restore-';
/** tmpName(RESTORE_TMP_PREFIX): process token (pid, 8 hex digits), then a counter. */
const RESTORE_TMP_RE = /^\.hb-restore-[0-9a-z]+-[0-9a-f]{8}-[0-9a-z]+$/;
/** Unique per process and host (random token), then a counter: no random bytes per file. */
const restoreTmpName = (): string => tmpName(RESTORE_TMP_PREFIX);

export type WriteAction =
  /** Nothing there yet. */
  | 'create'
  /** A different file or symlink is there: replaced (only with force). */
  | 'overwrite'
  /** The same content (or folder, or link target) is there: only mode and times are set. */
  | 'identical';

export interface PlannedWrite {
  path: string;
  type: EntryType;
  action: WriteAction;
  item: StateItem;
}

export interface Conflict {
  path: string;
  reason: string;
  /** True when even `force` does not allow it (a folder against a non-folder, a symlink on the way, a protected path). */
  always: boolean;
}

export interface WritePlan {
  root: string;
  writes: PlannedWrite[];
  conflicts: Conflict[];
  /** Items that exist in the chosen state but whose content cannot be had. */
  unavailable: { path: string; type: EntryType; why: 'untracked' | 'missing'; reason: string }[];
  /** Folders on the way to an item that are missing in the target and not items themselves: created plainly. */
  parentsToCreate: string[];
  /** True when the plan may be written: no conflict, or only ones that `force` allows and force is on. */
  ok: boolean;
  /**
   * The target does not exist yet, or is an empty folder (leftovers of a killed restore aside): the
   * plan is written into a staging folder inside it, whose entries are moved into place at the end.
   */
  fresh: boolean;
}

export interface PlanOptions {
  /** Absolute target folder; item paths are relative to it. */
  root: string;
  /** Items of one state, in any order. */
  items: readonly StateItem[];
  force: boolean;
  /** Absolute folders nothing may be written into (the backup itself, when it lies inside the target). */
  protect?: readonly string[];
  /** Absolute path of the stored content of a file item whose source is available. */
  locate: (item: StateItem) => string;
  /** Known versions of folders on the way to the items: a missing one is created with its recorded mode. */
  parentVersion?: (path: string) => Entry | undefined;
}

/** Owner ids are not checked by the metadata parser: only plain ones are applied. */
const hasOwner = (e: Entry): boolean => Number.isSafeInteger(e.uid) && e.uid >= 0 && Number.isSafeInteger(e.gid) && e.gid >= 0;


/** Read-only: what writing `items` into `root` would do. Existing files of the same size are hashed to tell identical from conflicting. */
export async function planWrite(fs: Fs, opts: PlanOptions): Promise<WritePlan> {
  const plan: WritePlan = { root: opts.root, writes: [], conflicts: [], unavailable: [], parentsToCreate: [], ok: true, fresh: isFresh(fs, opts.root) };
  const items = [...opts.items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const itemPaths = new Set(items.map((i) => i.path));
  /** Per folder path inside the target: 'dir' exists, 'missing' (will be created), or the conflict that blocks it. */
  const folders = new Map<string, 'dir' | 'missing' | 'blocked'>();
  folders.set('', 'dir');
  const buffer = newRestoreBuffer();
  const isProtected = protectedPaths(opts.root, opts.protect ?? []);

  const folderState = (rel: string): 'dir' | 'missing' | 'blocked' => {
    const known = folders.get(rel);
    if (known !== undefined) return known;
    const up = folderState(parentOf(rel));
    let state: 'dir' | 'missing' | 'blocked';
    if (up !== 'dir') state = up;
    else {
      const st = fs.lstatSync(join(opts.root, rel), { throwIfNoEntry: false });
      if (st === undefined) state = 'missing';
      else if (st.isDirectory()) state = 'dir';
      else {
        state = 'blocked';
        const what = st.isSymbolicLink() ? 'a symlink in the target; refusing to write through it' : 'not a folder in the target, but a folder is needed there';
        plan.conflicts.push({ path: rel, reason: what, always: true });
      }
    }
    folders.set(rel, state);
    if (state === 'missing' && !itemPaths.has(rel)) plan.parentsToCreate.push(rel);
    return state;
  };

  for (const item of items) {
    if (!isSafeRelPath(item.path)) {
      plan.conflicts.push({ path: String(item.path), reason: 'unsafe path in the metadata; refused', always: true });
      continue;
    }
    if (isProtected(item.path)) {
      plan.conflicts.push({ path: item.path, reason: 'lies inside the backup itself; refused', always: true });
      continue;
    }
    if (item.source.kind === 'unavailable' || item.entry === undefined) {
      const why = item.source.kind === 'unavailable' ? item.source.why : 'missing';
      const reason = item.source.kind === 'unavailable' ? item.source.reason : 'its version is not known';
      plan.unavailable.push({ path: item.path, type: item.type, why, reason });
      continue;
    }
    const parent = folderState(parentOf(item.path));
    if (parent === 'blocked') continue;
    // Below a missing folder nothing is there to look at (the whole of a recreate into a new
    // folder): its path is not even made (path.join of each was ~80 ms of a 100k-file recreate).
    const dest = parent === 'missing' ? '' : join(opts.root, item.path);
    const st = parent === 'missing' ? undefined : fs.lstatSync(dest, { throwIfNoEntry: false });
    const write = (action: WriteAction) => plan.writes.push({ path: item.path, type: item.type, action, item });
    const conflict = (reason: string, always: boolean) => plan.conflicts.push({ path: item.path, reason, always });

    if (item.type === 'dir') {
      if (st === undefined) {
        folders.set(item.path, 'missing');
        write('create');
      } else if (st.isDirectory()) {
        folders.set(item.path, 'dir');
        write('identical');
      } else {
        folders.set(item.path, 'blocked');
        conflict(`${st.isSymbolicLink() ? 'a symlink' : 'a file'} is where the folder must go`, true);
      }
      continue;
    }
    if (st === undefined) write('create');
    else if (st.isDirectory()) conflict(`a folder is where the ${item.type === 'file' ? 'file' : 'symlink'} must go`, true);
    else if (!st.isFile() && !st.isSymbolicLink()) conflict('a special file (socket, FIFO or device) is there', true);
    else if (item.type === 'symlink') {
      if (st.isSymbolicLink() && fs.readlinkSync(dest) === item.entry.target) write('identical');
      else if (opts.force) write('overwrite');
      else conflict(st.isSymbolicLink() ? 'a symlink with another target exists' : 'a file exists where the symlink must go', false);
    } else if (st.isFile() && st.size === item.entry.size && (await hashFile(fs, dest, buffer, st.size)) === item.entry.sha256) {
      write('identical');
    } else if (opts.force) write('overwrite');
    else conflict(st.isSymbolicLink() ? 'a symlink exists where the file must go' : 'a file with different content exists', false);
  }
  plan.ok = plan.conflicts.every((c) => !c.always && opts.force);
  return plan;
}

/**
 * Which item paths lie inside a protected folder: join(root, path) inside one of them. Worked out
 * once for the target, not per item (path.relative per item was a tenth of a 100k-file recreate).
 */
function protectedPaths(root: string, protect: readonly string[]): (path: string) => boolean {
  const below: string[] = [];
  for (const p of protect) {
    if (isSameOrInside(root, p)) return () => true;
    if (isSameOrInside(p, root)) below.push(relative(root, p).split(sep).join('/'));
  }
  if (below.length === 0) return () => false;
  return (path) => below.some((b) => path === b || path.startsWith(`${b}/`));
}

/** A target that does not exist, or holds nothing but leftovers of ours. */
function isFresh(fs: Fs, root: string): boolean {
  try {
    return fs.readdirSync(root).every((n) => RESTORE_TMP_RE.test(n));
  } catch (err) {
    return isCode(err, 'ENOENT');
  }
}

export interface WriteReport {
  written: number;
  identical: number;
  bytes: number;
  errors: { path: string; message: string }[];
}

/** How a plan is written: extra means of doing it faster. */
export interface WriteOptions {
  /** The program file, to start as a second copying thread (the bundle can); none: one thread. */
  workerScript?: string;
}

/**
 * Performs a plan that planWrite judged `ok`. Per-item faults (a damaged stored copy, a file the
 * target refuses) are reported and the rest goes on; a full, read-only or failing target stops it.
 *
 * Into a fresh target (planWrite's `fresh`), everything is first written into a staging folder
 * inside the target (`.hb-restore-*`), flushed, and then each top-level entry is renamed into
 * place: a final path only ever receives a complete subtree, without a temp file and a rename per
 * file. Otherwise each file goes to a temp file beside its destination, renamed when complete.
 */
export async function executeWrite(fs: Fs, plan: WritePlan, opts: PlanOptions, how: WriteOptions = {}): Promise<WriteReport> {
  if (!plan.ok) throw failure('internal: a plan with blocking conflicts cannot be written');
  const w = new Writer(fs, plan, opts);
  fs.mkdirSync(plan.root, { recursive: true });
  w.sweep(plan.root, true);
  if (plan.fresh) await w.staged(how);
  else w.inPlace();
  w.fixFolders();
  return w.report;
}

class Writer {
  readonly report: WriteReport = { written: 0, identical: 0, bytes: 0, errors: [] };
  private readonly root = isRoot();
  private readonly swept = new Set<string>();
  /** The plan checked the folders on the way; checked again just before writing, once per folder. */
  private readonly realFolders = new Set<string>(['']);
  private readonly dirFixups: { path: string; entry: Entry }[] = [];
  private readonly dirs: PlannedWrite[];
  private readonly files: PlannedWrite[];
  private readonly links: PlannedWrite[];

  constructor(
    private readonly fs: Fs,
    private readonly plan: WritePlan,
    private readonly opts: PlanOptions,
  ) {
    this.dirs = plan.writes.filter((w) => w.type === 'dir');
    this.files = plan.writes.filter((w) => w.type === 'file');
    this.links = plan.writes.filter((w) => w.type === 'symlink');
  }

  fault(path: string, err: unknown): void {
    if (isDriveFailure(err)) {
      throw failure(`writing ${join(this.plan.root, path)} failed (${errorMessage(err)}); the restore stopped: run it again once that is solved`, { cause: err });
    }
    this.report.errors.push({ path, message: errorMessage(err).includes(path) ? errorMessage(err) : `${path}: ${errorMessage(err)}` });
  }

  setMeta(p: string, e: Entry, link: boolean): void {
    const t = secondsFromNs(e.mtime_ns);
    const owner = this.root && hasOwner(e);
    if (link) {
      if (owner) this.fs.lchownSync(p, e.uid, e.gid);
      this.fs.lutimesSync(p, t, t);
      return;
    }
    if (owner) this.fs.chownSync(p, e.uid, e.gid);
    this.fs.chmodSync(p, e.mode & 0o7777);
    this.fs.utimesSync(p, t, t);
  }

  /**
   * Leftovers of a killed restore in a folder we are about to write into: temp files, and in the
   * target itself the staging folders of killed runs (whose content never reached a final path).
   */
  sweep(dir: string, folders = false): void {
    if (this.swept.has(dir)) return;
    this.swept.add(dir);
    let names: string[];
    try {
      names = this.fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!RESTORE_TMP_RE.test(n)) continue;
      try {
        if (!this.fs.lstatSync(join(dir, n)).isDirectory()) this.fs.unlinkSync(join(dir, n));
        else if (folders) this.fs.rmSync(join(dir, n), { recursive: true, force: true });
      } catch {
        // best effort: it is only a leftover of ours
      }
    }
  }

  private assertRealFolder(rel: string): void {
    if (this.realFolders.has(rel)) return;
    this.assertRealFolder(parentOf(rel));
    if (this.fs.lstatSync(join(this.plan.root, rel)).isDirectory() !== true) {
      throw failure(`${join(this.plan.root, rel)} changed into a symlink or file while restoring; refusing to write through it`);
    }
    this.realFolders.add(rel);
  }

  private stored(w: PlannedWrite): StoredVersion {
    const e = w.item.entry as Entry;
    return { size: e.size, sha256: e.sha256 ?? '', mtime_ns: e.mtime_ns, mode: e.mode, uid: e.uid, gid: e.gid };
  }

  /** Folders to make: the missing ones above the items, then the items', parents first. */
  private foldersToMake(): { path: string; entry: Entry | undefined; item: boolean }[] {
    const out: { path: string; entry: Entry | undefined; item: boolean }[] = this.plan.parentsToCreate.map((path) => ({ path, entry: this.opts.parentVersion?.(path), item: false }));
    for (const w of this.dirs) out.push({ path: w.path, entry: w.item.entry as Entry, item: true });
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Each file and symlink into a temp name beside its destination, renamed into place when complete. */
  inPlace(): void {
    const { fs, plan } = this;
    const buffer = newRestoreBuffer();
    const dirAction = new Map(this.dirs.map((w) => [w.path, w.action]));
    for (const f of this.foldersToMake()) {
      const identical = f.item && dirAction.get(f.path) === 'identical';
      if (!identical) {
        try {
          this.assertRealFolder(parentOf(f.path));
          fs.mkdirSync(join(plan.root, f.path), { mode: f.item || f.entry !== undefined ? 0o700 : 0o755 });
        } catch (err) {
          if (!isCode(err, 'EEXIST')) {
            this.fault(f.path, err);
            continue;
          }
          if (!f.item) continue;
        }
      }
      if (f.item) {
        if (identical) this.report.identical++;
        else this.report.written++;
      }
      if (f.entry !== undefined) this.dirFixups.push({ path: f.path, entry: f.entry });
    }
    // Files, then symlinks: a symlink we create is never on the way to something we write after it.
    const place = (w: PlannedWrite, link: boolean, make: (tmp: string, e: Entry) => void): void => {
      const e = w.item.entry as Entry;
      const dest = join(plan.root, w.path);
      try {
        this.assertRealFolder(parentOf(w.path));
        this.sweep(dirname(dest));
        if (w.action === 'identical') {
          this.setMeta(dest, e, link);
          this.report.identical++;
          return;
        }
        const tmp = join(dirname(dest), restoreTmpName());
        try {
          make(tmp, e);
          fs.renameSync(tmp, dest);
        } catch (err) {
          removeQuietly(fs, tmp);
          throw err;
        }
        this.report.written++;
        if (!link) this.report.bytes += e.size;
      } catch (err) {
        this.fault(w.path, err);
      }
    };
    for (const w of this.files) place(w, false, (tmp) => copyVerified(fs, this.opts.locate(w.item), tmp, this.stored(w), buffer));
    for (const w of this.links) {
      place(w, true, (tmp, e) => {
        fs.symlinkSync(e.target ?? '', tmp);
        this.setMeta(tmp, e, true);
      });
    }
  }

  /**
   * Everything into a staging folder in the (empty) target, flushed, then each top-level entry
   * renamed into place. The folders in the staging folder are ours, so files are created with their
   * final mode and names, and flushed by one syncfs where the platform has it; a killed run leaves
   * only the staging folder, which the next run removes.
   */
  async staged(how: WriteOptions): Promise<void> {
    const { fs, plan } = this;
    const stage = join(plan.root, restoreTmpName());
    fs.mkdirSync(stage, { mode: 0o700 });
    try {
      await this.writeStage(stage, how);
    } catch (err) {
      try {
        fs.rmSync(stage, { recursive: true, force: true });
      } catch {
        // best effort: the next restore into this target removes it
      }
      throw err;
    }
    // One rename per top-level entry. A stop here leaves entries that are complete, and the staging
    // folder, which the next restore into this target removes.
    for (const name of fs.readdirSync(stage)) {
      const dest = join(plan.root, name);
      try {
        if (fs.lstatSync(dest, { throwIfNoEntry: false }) !== undefined) throw Object.assign(new Error(`${dest} appeared while restoring`), { code: 'EEXIST' });
        fs.renameSync(join(stage, name), dest);
      } catch (err) {
        this.fault(name, err);
      }
    }
    try {
      fs.rmdirSync(stage);
    } catch (err) {
      // Something could not be moved (reported): the next restore into this target removes the rest.
      if (!isCode(err, 'ENOTEMPTY', 'EEXIST')) throw err;
    }
  }

  private async writeStage(stage: string, how: WriteOptions): Promise<void> {
    const { fs } = this;
    const at = (rel: string) => join(stage, rel);
    for (const f of this.foldersToMake()) {
      try {
        fs.mkdirSync(at(f.path), { mode: 0o700 });
        if (f.item) this.report.written++;
        if (f.entry !== undefined) this.dirFixups.push({ path: f.path, entry: f.entry });
      } catch (err) {
        this.fault(f.path, err);
      }
    }
    const durability = durabilityFor(stage, true);
    const st = fs.statSync(stage);
    // New files get the process's owner, and the folder's group unless it is set-group-ID.
    const defaultOwner = (st.mode & 0o2000) === 0 ? { uid: st.uid, gid: st.gid } : undefined;
    const copy: CopyOptions = { fsync: durability.perFile, umask: process.umask(), ...(defaultOwner === undefined ? {} : { defaultOwner }) };
    const jobs = emptyJobs();
    const prefix = `${stage}${sep}`;
    for (const w of this.files) addJob(jobs, this.opts.locate(w.item), prefix + w.path, this.stored(w));
    const { faults } = await copyFiles(fs, jobs, { copy, ...(how.workerScript === undefined ? {} : { workerScript: how.workerScript }) });
    let f = 0;
    this.files.forEach((w, i) => {
      if (faults[f]?.index === i) this.fault(w.path, faults[f++]?.error);
      else {
        this.report.written++;
        this.report.bytes += w.item.entry?.size ?? 0;
      }
    });
    for (const w of this.links) {
      const e = w.item.entry as Entry;
      try {
        fs.symlinkSync(e.target ?? '', at(w.path));
        this.setMeta(at(w.path), e, true);
        this.report.written++;
      } catch (err) {
        this.fault(w.path, err);
      }
    }
    durability.flushAll();
  }

  /** Folder modes and times last, deepest first: writing into a folder changes its mtime, and a read-only mode must not stop the writes into it. */
  fixFolders(): void {
    this.dirFixups.sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
    for (const { path, entry } of this.dirFixups) {
      try {
        this.setMeta(join(this.plan.root, path), entry, false);
      } catch (err) {
        this.fault(path, err);
      }
    }
  }
}

function removeQuietly(fs: Fs, tmp: string): void {
  try {
    fs.unlinkSync(tmp);
  } catch {
    // best effort: the next restore into this folder removes it
  }
}
