import { tmpName } from '../io/atomic.js';
import { dirname, join, relative, isAbsolute, sep } from 'node:path';
import type { Fs } from '../io/fs.js';
import { isRoot } from '../io/fs.js';
import { errorMessage, failure, isCode, isDriveFailure } from '../io/errors.js';
import { copyVerified, newRestoreBuffer } from '../io/copy-verified.js';
import { hashFile } from '../io/copy.js';
import { secondsFromNs, type Entry, type EntryType } from '../meta/entry.js';
import { isSafeRelPath, parentOf } from '../meta/safe-path.js';
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

const isInside = (child: string, parent: string): boolean => {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
};

/** Read-only: what writing `items` into `root` would do. Existing files of the same size are hashed to tell identical from conflicting. */
export async function planWrite(fs: Fs, opts: PlanOptions): Promise<WritePlan> {
  const plan: WritePlan = { root: opts.root, writes: [], conflicts: [], unavailable: [], parentsToCreate: [], ok: true };
  const items = [...opts.items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const itemPaths = new Set(items.map((i) => i.path));
  /** Per folder path inside the target: 'dir' exists, 'missing' (will be created), or the conflict that blocks it. */
  const folders = new Map<string, 'dir' | 'missing' | 'blocked'>();
  folders.set('', 'dir');
  const buffer = newRestoreBuffer();

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
    const dest = join(opts.root, item.path);
    if ((opts.protect ?? []).some((p) => isInside(dest, p))) {
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
    } else if (st.isFile() && st.size === item.entry.size && (await hashFile(fs, dest, buffer)) === item.entry.sha256) {
      write('identical');
    } else if (opts.force) write('overwrite');
    else conflict(st.isSymbolicLink() ? 'a symlink exists where the file must go' : 'a file with different content exists', false);
  }
  plan.ok = plan.conflicts.every((c) => !c.always && opts.force);
  return plan;
}

export interface WriteReport {
  written: number;
  identical: number;
  bytes: number;
  errors: { path: string; message: string }[];
}

/**
 * Performs a plan that planWrite judged `ok`. Per-item faults (a damaged stored copy, a file the
 * target refuses) are reported and the rest goes on; a full, read-only or failing target stops it.
 */
export function executeWrite(fs: Fs, plan: WritePlan, opts: PlanOptions): WriteReport {
  if (!plan.ok) throw failure('internal: a plan with blocking conflicts cannot be written');
  const report: WriteReport = { written: 0, identical: 0, bytes: 0, errors: [] };
  const root = isRoot();
  const buffer = newRestoreBuffer();
  const swept = new Set<string>();
  const fault = (path: string, err: unknown) => {
    if (isDriveFailure(err)) {
      throw failure(`writing ${join(plan.root, path)} failed (${errorMessage(err)}); the restore stopped: run it again once that is solved`, { cause: err });
    }
    report.errors.push({ path, message: errorMessage(err).includes(path) ? errorMessage(err) : `${path}: ${errorMessage(err)}` });
  };
  const setMeta = (p: string, e: Entry, link: boolean) => {
    const t = secondsFromNs(e.mtime_ns);
    const owner = root && hasOwner(e);
    if (link) {
      if (owner) fs.lchownSync(p, e.uid, e.gid);
      fs.lutimesSync(p, t, t);
      return;
    }
    if (owner) fs.chownSync(p, e.uid, e.gid);
    fs.chmodSync(p, e.mode & 0o7777);
    fs.utimesSync(p, t, t);
  };
  /** Leftovers of a killed restore in a folder we are about to write into. */
  const sweep = (dir: string) => {
    if (swept.has(dir)) return;
    swept.add(dir);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!RESTORE_TMP_RE.test(n)) continue;
      try {
        if (!fs.lstatSync(join(dir, n)).isDirectory()) fs.unlinkSync(join(dir, n));
      } catch {
        // best effort: it is only a leftover temp file of ours
      }
    }
  };
  const removeQuietly = (tmp: string) => {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // best effort: the next restore into this folder removes it
    }
  };
  const tmpBeside = (dest: string) => join(dirname(dest), restoreTmpName());
  /** The plan checked the folders on the way; checked again just before writing, once per folder. */
  const realFolders = new Set<string>(['']);
  const assertRealFolder = (rel: string): void => {
    if (realFolders.has(rel)) return;
    assertRealFolder(parentOf(rel));
    if (fs.lstatSync(join(plan.root, rel)).isDirectory() !== true) {
      throw failure(`${join(plan.root, rel)} changed into a symlink or file while restoring; refusing to write through it`);
    }
    realFolders.add(rel);
  };

  fs.mkdirSync(plan.root, { recursive: true });
  const dirFixups: { path: string; entry: Entry }[] = [];
  for (const rel of plan.parentsToCreate) {
    try {
      const e = opts.parentVersion?.(rel);
      assertRealFolder(parentOf(rel));
      fs.mkdirSync(join(plan.root, rel), { mode: e === undefined ? 0o755 : 0o700 });
      if (e !== undefined) dirFixups.push({ path: rel, entry: e });
    } catch (err) {
      if (!isCode(err, 'EEXIST')) fault(rel, err);
    }
  }
  // Folders (parents first, as the plan is sorted), then files, then symlinks: a symlink we create
  // is never on the way to something we write after it.
  const dirs = plan.writes.filter((w) => w.type === 'dir');
  const files = plan.writes.filter((w) => w.type === 'file');
  const links = plan.writes.filter((w) => w.type === 'symlink');
  for (const w of dirs) {
    const e = w.item.entry as Entry;
    if (w.action === 'create') {
      try {
        assertRealFolder(parentOf(w.path));
        fs.mkdirSync(join(plan.root, w.path), { mode: 0o700 });
      } catch (err) {
        if (!isCode(err, 'EEXIST')) {
          fault(w.path, err);
          continue;
        }
      }
      report.written++;
    } else report.identical++;
    dirFixups.push({ path: w.path, entry: e });
  }
  // Files and symlinks alike: into a temp name beside the destination, then renamed into place.
  const place = (w: (typeof files)[number], link: boolean, make: (tmp: string, e: Entry) => void): void => {
    const e = w.item.entry as Entry;
    const dest = join(plan.root, w.path);
    try {
      assertRealFolder(parentOf(w.path));
      sweep(dirname(dest));
      if (w.action === 'identical') {
        setMeta(dest, e, link);
        report.identical++;
        return;
      }
      const tmp = tmpBeside(dest);
      try {
        make(tmp, e);
        fs.renameSync(tmp, dest);
      } catch (err) {
        removeQuietly(tmp);
        throw err;
      }
      report.written++;
      if (!link) report.bytes += e.size;
    } catch (err) {
      fault(w.path, err);
    }
  };
  for (const w of files) {
    place(w, false, (tmp, e) =>
      copyVerified(fs, opts.locate(w.item), tmp, { size: e.size, sha256: e.sha256 ?? '', mtime_ns: e.mtime_ns, mode: e.mode, uid: e.uid, gid: e.gid }, buffer),
    );
  }
  for (const w of links) {
    place(w, true, (tmp, e) => {
      fs.symlinkSync(e.target ?? '', tmp);
      setMeta(tmp, e, true);
    });
  }
  // Folder modes and times last, deepest first: writing into a folder changes its mtime, and a
  // read-only mode must not stop the writes into it.
  dirFixups.sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
  for (const { path, entry } of dirFixups) {
    try {
      setMeta(join(plan.root, path), entry, false);
    } catch (err) {
      fault(path, err);
    }
  }
  return report;
}
