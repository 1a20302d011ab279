import { constants } from 'node:fs';
import type { Fs } from '../io/fs.js';
import { newEntry, type Entry } from '../meta/entry.js';
import { pathUnder } from '../meta/safe-path.js';
import type { StateComparison } from '../store/state-table.js';
import type { Selector } from '../select/rules.js';
import { quickKeyOf } from '../plan/compare.js';
import { errorCode, errorMessage } from '../io/errors.js';
import { SourceChangedError } from '../io/copy.js';
import { lstatFor, publicLstat } from '../io/stat.js';

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFBLK } = constants;

/**
 * A file's identity across runs: device, inode and birth time. A rename keeps all three; an inode
 * number reused after a deletion (ext4 does that at once) comes with a new birth time. Where the
 * filesystem reports no birth time there is no identity, and a move must be confirmed by content.
 */
function identityOf(st: { dev: bigint; ino: bigint; birthtimeNs: bigint }): string | undefined {
  return st.birthtimeNs > 0n ? `${st.dev}:${st.ino}:${st.birthtimeNs}` : undefined;
}

/**
 * The entry of the regular file at `abs` as it is now; a SourceChangedError when it is gone or no
 * longer a regular file. For a file the scan found as recorded but whose content --checksum found
 * changed (apply/run.ts): its new version is stored with the metadata it has now.
 */
export function regularFileEntry(fs: Fs, abs: string, rel: string, tracked: boolean): Entry {
  const st = publicLstat(fs)(abs);
  if (st === undefined) throw new SourceChangedError('vanished', rel);
  if ((st.mode & S_IFMT) !== S_IFREG) throw new SourceChangedError('not-a-file', rel);
  return newEntry(rel, 'file', st.size, st.mtimeNs, st.mode & 0o7777, st.uid, st.gid, tracked, undefined, identityOf(st));
}

export interface ScanError {
  path: string;
  op: 'scan';
  code: string;
  message: string;
}

/** What a walk compares with: StateComparison, or the scan worker's HashedComparison (store/hashed-state.ts). */
export interface QuickKeyLookup {
  /** Whether `path` is recorded with exactly this quick key (then marked found). */
  hasQuickKey(path: string, key: string): boolean;
}

export interface ScanResult<C extends QuickKeyLookup = StateComparison> {
  /** Selected entries, each folder before its content. */
  entries: Entry[];
  /** Sockets, FIFOs and devices: never stored (SPEC §3). */
  skipped: { path: string; kind: string }[];
  errors: ScanError[];
  /**
   * Paths whose content could not be listed or stat'ed this run: what the last state recorded at or
   * below them is kept as it was, never treated as deleted.
   */
  unreadable: string[];
  /** Number of names directly inside src (0 = an empty source folder). */
  topLevelNames: number;
  /**
   * The comparison the scan marked (`unchangedAgainst`): the plan must go on with this one, since
   * the entries it found unchanged are only marked there (buildPlan's `compared`).
   */
  compared: C | undefined;
}

export interface ScanOptions<C extends QuickKeyLookup = StateComparison> {
  selector: Selector;
  /** A folder never to enter, by identity: the destination, when it lies inside src (under any name). */
  skipDir?: { dev: bigint; ino: bigint };
  onProgress?: (entries: number) => void;
  /**
   * A comparison with the last state: an entry whose quick key (plan/compare.ts) equals the recorded
   * one is marked found there, and no entry is built for it. On a run
   * where little changed this spares building an object per entry
   * (most of the work after the syscalls). Leave it out where the plan must see every entry (a
   * case-folding destination); checksum mode hashes the files marked found (apply/run.ts).
   */
  unchangedAgainst?: C;
  /**
   * Only these names directly inside src are walked (the others are another thread's share). Asked
   * once per name, just before it would be walked: a thread may claim the name then (scan/parallel.ts).
   */
  topLevel?: (name: string) => boolean;
  /** The order the names directly inside src are walked in (default: as listed). */
  rootOrder?: (names: string[]) => string[];
}

/** What a walk finds besides the entries it yields (walkSource fills it as it goes). */
export type WalkFindings<C extends QuickKeyLookup = StateComparison> = Omit<ScanResult<C>, 'entries'>;

export function newFindings<C extends QuickKeyLookup = StateComparison>(compared: C | undefined): WalkFindings<C> {
  return { skipped: [], errors: [], unreadable: [], topLevelNames: 0, compared };
}

/**
 * Walks `src` with lstat, never following symlinks, pruning excluded folders early. Synchronous on
 * purpose: for a metadata-only walk, libuv's thread hand-off costs more than the syscalls themselves
 * (measured: sync readdir+lstat was ~2x faster than fs.promises with 16 in flight, see bench/).
 */
export function scanSource<C extends QuickKeyLookup = StateComparison>(fs: Fs, src: string, opts: ScanOptions<C>): ScanResult<C> {
  const findings = newFindings(opts.unchangedAgainst);
  const entries = [...walkSource(fs, src, opts, findings)];
  return { entries, ...findings };
}

/** A folder walked into: its entry is yielded once something below it is, or at its end when it is included. */
interface OpenDir {
  rel: string;
  mtime_ns: string;
  mode: number;
  uid: number;
  gid: number;
  decided: boolean;
}

/**
 * The walk itself, yielding each selected entry as it finds it: a folder just before the first entry
 * below it (or after its content, when nothing below it is yielded), so each folder still comes
 * before its content. A consumer may act on each entry before the walk goes on: a first run stores
 * the tree while walking it (apply/run.ts), so it never holds an entry per file.
 */
export function* walkSource<C extends QuickKeyLookup>(fs: Fs, src: string, opts: ScanOptions<C>, result: WalkFindings<C>): Generator<Entry> {
  /** Entries found exactly as recorded (no entry was built for them) or yielded: counted for the progress only. */
  let seen = 0;
  const last = opts.unchangedAgainst;
  /** True (and listed) when the entry is exactly as the last state records it. */
  const same = (rel: string, type: Entry['type'], tracked: boolean, size: number, mtime_ns: string, mode: number, target?: string): boolean => {
    if (last === undefined || !last.hasQuickKey(rel, quickKeyOf(type, tracked, size, mtime_ns, mode, target))) return false;
    seen++;
    return true;
  };
  const sel = opts.selector;
  const skip = opts.skipDir;
  const lstat = lstatFor(fs, src);
  let lastReport = 0;
  /** The folders being walked, outermost first. */
  const open: OpenDir[] = [];

  /**
   * The entries of the open folders not yet decided, outermost first: something below them is about
   * to be yielded. The undecided ones are always the innermost (a folder is decided with its parents).
   */
  function* openedDirs(): Generator<Entry> {
    let i = open.length;
    while (i > 0 && !(open[i - 1] as OpenDir).decided) i--;
    for (; i < open.length; i++) {
      const d = open[i] as OpenDir;
      d.decided = true;
      const e = dirEntry(d);
      if (e !== undefined) yield e;
    }
  }
  const dirEntry = (d: OpenDir): Entry | undefined => {
    const tracked = sel.isTracked(d.rel, true);
    if (same(d.rel, 'dir', tracked, 0, d.mtime_ns, d.mode)) return undefined;
    seen++;
    return newEntry(d.rel, 'dir', 0, d.mtime_ns, d.mode, d.uid, d.gid, tracked, undefined, undefined);
  };

  const listNames = (abs: string, rel: string): string[] | undefined => {
    let names: string[];
    try {
      names = fs.readdirSync(abs);
    } catch (err) {
      result.errors.push({ path: rel === '' ? '.' : rel, op: 'scan', code: errorCode(err) ?? 'EIO', message: errorMessage(err) });
      result.unreadable.push(rel);
      return undefined;
    }
    if (names.some((n) => n.includes('\uFFFD'))) names = validNames(abs, rel);
    return names;
  };

  // A name that is not valid UTF-8 cannot be stored faithfully under a JS string: report, never mangle.
  const validNames = (abs: string, rel: string): string[] => {
    const out: string[] = [];
    for (const raw of fs.readdirSync(abs, { encoding: 'buffer' })) {
      const s = raw.toString('utf8');
      if (Buffer.from(s, 'utf8').equals(raw)) out.push(s);
      else {
        const shown = (rel === '' ? '' : `${rel}/`) + raw.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
        result.errors.push({ path: shown, op: 'scan', code: 'EILSEQ', message: `${shown}: file name is not valid UTF-8; not backed up` });
      }
    }
    return out;
  };

  /**
   * One folder being listed: its names, the next one to look at, and whether anything below it was
   * selected (or could not be read). The walk keeps them on a stack rather than recursing, so an
   * entry deep in the tree is yielded straight to the consumer, not passed up through one
   * generator per level.
   */
  interface Listing {
    abs: string;
    rel: string;
    names: string[];
    next: number;
    any: boolean;
    /** Undefined for src itself. */
    dir: OpenDir | undefined;
  }
  /** A folder walked to its end: included when something below it is (or a rule includes it). */
  function* closed(l: Listing, parent: Listing): Generator<Entry> {
    const dir = l.dir as OpenDir;
    if (!l.any && !sel.dirIncluded(l.rel)) return;
    parent.any = true;
    if (dir.decided) return;
    yield* openedDirs();
    const e = dirEntry(dir);
    if (e !== undefined) yield e;
  }
  /** Whether an open folder's entry is still to be yielded before an entry below it. */
  const undecided = (): boolean => open.length > 0 && !(open[open.length - 1] as OpenDir).decided;

  const listed = listNames(src, '');
  if (listed === undefined) return;
  const rootNames = opts.rootOrder === undefined ? listed : opts.rootOrder(listed);
  result.topLevelNames = rootNames.length;
  const stack: Listing[] = [{ abs: src, rel: '', names: rootNames, next: 0, any: false, dir: undefined }];
  while (stack.length > 0) {
    const l = stack[stack.length - 1] as Listing;
    if (l.next === l.names.length) {
      stack.pop();
      if (l.dir !== undefined) {
        open.pop();
        yield* closed(l, stack[stack.length - 1] as Listing);
      }
      continue;
    }
    const name = l.names[l.next++] as string;
    const { abs, rel } = l;
    if (rel === '' && opts.topLevel !== undefined && !opts.topLevel(name)) continue;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const childAbs = pathUnder(abs, name);
    let st;
    try {
      st = lstat(childAbs);
    } catch (err) {
      result.errors.push({ path: childRel, op: 'scan', code: errorCode(err) ?? 'EIO', message: errorMessage(err) });
      result.unreadable.push(childRel);
      l.any = true;
      continue;
    }
    if (st === undefined) continue; // vanished between readdir and lstat: it is simply not there
    // Each field of the view is converted when it is read (io/stat.ts): the mode once, the type
    // taken from it; owners only for an entry that is built. The view lasts until this thread's
    // next stat call: nothing below makes one before the entry is built (sel, same(), readlinkSync
    // and newEntry make none; a folder's listing comes after its fields were read).
    const mtime_ns = st.mtimeNs;
    const fullMode = st.mode;
    const mode = fullMode & 0o7777;
    const kind = fullMode & S_IFMT;
    if (kind === S_IFDIR) {
      if (skip !== undefined && st.ino === skip.ino && st.dev === skip.dev) continue;
      // Read before the listing below (and whatever enterDir may become).
      const { uid, gid } = st;
      if (!sel.enterDir(childRel)) continue;
      const dir: OpenDir = { rel: childRel, mtime_ns, mode, uid, gid, decided: false };
      open.push(dir);
      const names = listNames(childAbs, childRel);
      const child: Listing = { abs: childAbs, rel: childRel, names: names ?? [], next: 0, any: names === undefined, dir };
      // An unreadable folder counts as having content: what the last state holds below it is kept.
      stack.push(child);
      continue;
    }
    if (!sel.fileIncluded(childRel)) continue;
    if (kind === S_IFREG) {
      const tracked = sel.isTracked(childRel, false);
      const size = st.size;
      l.any = true;
      if (!same(childRel, 'file', tracked, size, mtime_ns, mode)) {
        // Built before the folders are yielded: what their consumer does (a first run's copies)
        // may stat again, and the view lasts until this thread's next stat call.
        const e = newEntry(childRel, 'file', size, mtime_ns, mode, st.uid, st.gid, tracked, undefined, identityOf(st));
        if (undecided()) yield* openedDirs();
        seen++;
        yield e;
      }
    } else if (kind === S_IFLNK) {
      let target: string;
      try {
        target = fs.readlinkSync(childAbs);
      } catch (err) {
        result.errors.push({ path: childRel, op: 'scan', code: errorCode(err) ?? 'EIO', message: errorMessage(err) });
        result.unreadable.push(childRel);
        l.any = true;
        continue;
      }
      const tracked = sel.isTracked(childRel, false);
      l.any = true;
      if (!same(childRel, 'symlink', tracked, 0, mtime_ns, mode, target)) {
        const e = newEntry(childRel, 'symlink', 0, mtime_ns, mode, st.uid, st.gid, tracked, target, undefined);
        if (undecided()) yield* openedDirs();
        seen++;
        yield e;
      }
    } else {
      const what = kind === S_IFIFO ? 'fifo' : kind === S_IFSOCK ? 'socket' : kind === S_IFBLK ? 'block device' : 'character device';
      result.skipped.push({ path: childRel, kind: what });
    }
    if (opts.onProgress && seen - lastReport >= 1000) {
      lastReport = seen;
      opts.onProgress(lastReport);
    }
  }
}
