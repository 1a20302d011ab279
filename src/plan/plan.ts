import type { Entry, StateEntry } from '../meta/entry.js';
import { baseName, parentOf } from '../meta/safe-path.js';
import { changeReason, quickKey, type ChangeReason } from './compare.js';
import type { StateComparison, StateTable } from '../store/state-table.js';

export interface PutOp {
  kind: 'new' | 'changed';
  entry: Entry;
  prev?: StateEntry;
  reason?: ChangeReason;
  /** A file the last state holds at another path with the same size, mtime and mode, deleted in this run: a move. Its stored version is linked instead of copying. */
  moveFrom?: StateEntry;
  /** The move was matched by looks only (no file identity on this filesystem): confirm by content before linking. */
  verifyMove?: boolean;
}

export interface PlanError {
  path: string;
  op: 'plan';
  code: string;
  message: string;
}

/** What a run will do, computed without touching any disk (SPEC §3 steps 2–3). */
export interface Plan {
  /** Entries leaving the mirror (including the old side of a type change), children before parents. */
  deletes: StateEntry[];
  /** New folders, parents first. */
  mkdirs: Entry[];
  /** Existing folders whose mode (or tracked flag) changed. */
  dirChanges: { entry: Entry; prev: StateEntry }[];
  /** Files and symlinks to store (Applier.apply takes them over: the plan has none left after). */
  puts: PutOp[];
  /** Recorded paths the scan did not find because they are at or below a path it could not read: carried over untouched. */
  keep: string[];
  errors: PlanError[];
}

export interface PlanOptions {
  checksum: boolean;
  /**
   * The comparison the scan marked (ScanResult.compared), when it compared; else the plan begins one.
   * Required with a scan that compared: what it found unchanged is known only by its marks, and a
   * fresh comparison would take all of it for deleted.
   */
  compared: StateComparison | undefined;
  /** The destination folds case (exFAT, FAT, NTFS, APFS default): names differing only in case collide. */
  caseInsensitive: boolean;
  /** Paths the scan could not read: the last state at and below them is kept. */
  unreadable: readonly string[];
}

/** A put whose content is copied from the source (a new or changed file that is not a move). */
export const isCopy = (put: PutOp): boolean => put.entry.type === 'file' && put.moveFrom === undefined;

/**
 * How many files and bytes the puts copy from the source; `withBytes`: how many of those files are
 * not empty (an empty one is made, not copied: there is nothing to read or hash).
 */
export function copyTotals(puts: readonly PutOp[]): { files: number; bytes: number; withBytes: number } {
  let files = 0;
  let bytes = 0;
  let withBytes = 0;
  for (const put of puts) {
    if (!isCopy(put)) continue;
    files++;
    bytes += put.entry.size;
    if (put.entry.size > 0) withBytes++;
  }
  return { files, bytes, withBytes };
}

/** How many entries the plan stores (new or changed files, symlinks and folders). */
export function storedCount(plan: Plan): number {
  return plan.puts.length + plan.mkdirs.length + plan.dirChanges.length;
}

/** A plan that changes nothing (buildPlan fills one in; a first run's walk needs none). */
export const emptyPlan = (): Plan => ({ deletes: [], mkdirs: [], dirChanges: [], puts: [], keep: [], errors: [] });

export function hasChanges(plan: Plan): boolean {
  return plan.deletes.length + plan.mkdirs.length + plan.dirChanges.length + plan.puts.length > 0;
}

/**
 * `scanned` holds what the scan found and did not already find unchanged in `opts.compared` (which
 * marked those). What neither the scan nor the plan found in the last state is gone from the source.
 */
export function buildPlan(scanned: readonly Entry[], last: StateTable, opts: PlanOptions): Plan {
  const plan = emptyPlan();
  const current = opts.caseInsensitive ? dropCaseCollisions(scanned, last, plan.errors) : scanned;
  const cmp = opts.compared ?? last.compare();
  if (cmp.table !== last) throw new Error('buildPlan: the comparison is of another state');

  for (const entry of current) {
    // Fast path: equal quick keys mean unchanged, without decoding the last entry.
    if (!opts.checksum && cmp.hasQuickKey(entry.path, quickKey(entry))) continue;
    const prev = cmp.found(entry.path);
    if (prev !== undefined && prev.type === entry.type) {
      const reason = changeReason(prev, entry, opts);
      if (reason === undefined) continue;
      if (entry.type === 'dir') plan.dirChanges.push({ entry, prev });
      else plan.puts.push({ kind: 'changed', entry, prev, reason });
      continue;
    }
    if (prev !== undefined) plan.deletes.push(prev); // type changed: the old one goes, the new one comes
    if (entry.type === 'dir') plan.mkdirs.push(entry);
    else plan.puts.push({ kind: 'new', entry });
  }

  const unreadable = new Set(opts.unreadable);
  for (const path of cmp.unseen()) {
    if (unreadable.size > 0 && isAtOrBelowAny(path, unreadable)) plan.keep.push(path);
    else plan.deletes.push(last.get(path) as StateEntry);
  }

  plan.mkdirs.sort((a, b) => compareStrings(a.path, b.path));
  plan.deletes.sort((a, b) => compareStrings(b.path, a.path));
  detectMoves(plan, opts.checksum);
  return plan;
}

/** A move is linked, not copied (SPEC §3): match new files to deleted ones by size, mtime, mode and owner. */
function detectMoves(plan: Plan, checksum: boolean): void {
  const gone = new Map<string, StateEntry[]>();
  for (const d of plan.deletes) {
    if (d.type !== 'file' || d.size === 0 || d.sha256 === undefined) continue;
    const key = moveKey(d);
    const list = gone.get(key);
    if (list) list.push(d);
    else gone.set(key, [d]);
  }
  if (gone.size === 0) return;
  for (const put of plan.puts) {
    if (put.kind !== 'new' || put.entry.type !== 'file') continue;
    let candidates = gone.get(moveKey(put.entry));
    if (candidates === undefined) continue;
    if (checksum) candidates = candidates.filter((c) => c.sha256 === put.entry.sha256);
    // Identity beats looks: a rename keeps device, inode and birth time, so where the scan knows
    // them only the same file is a move. Without an identity the match is by looks, and the content
    // is confirmed (hashed) before anything is linked.
    const ino = put.entry.ino;
    if (ino !== undefined) candidates = candidates.filter((c) => c.ino === ino);
    const name = baseName(put.entry.path);
    const sameName = candidates.filter((c) => baseName(c.path) === name);
    // The same name wins only when it is unique; otherwise only a single candidate counts: two
    // equal-looking files are not a move (a guess could store another file's content).
    const from = sameName.length === 1 ? sameName[0] : sameName.length === 0 && candidates.length === 1 ? candidates[0] : undefined;
    if (from !== undefined) {
      put.moveFrom = from;
      if (ino === undefined && !checksum) put.verifyMove = true;
    }
  }
}

/** What a move must keep equal (run.ts hashes, in checksum mode, the new files that may be moves). */
export const moveKey = (e: Entry): string => `${e.size}:${e.mtime_ns}:${e.mode}:${e.uid}:${e.gid}`;

function isAtOrBelowAny(path: string, set: ReadonlySet<string>): boolean {
  if (set.has('')) return true;
  for (let p = path; p !== ''; p = parentOf(p)) if (set.has(p)) return true;
  return false;
}

/**
 * On a case-folding destination two names that differ only in case would overwrite each other.
 * The one the last state already holds wins (its backup stays intact); the other, and everything
 * below it, is a per-entry error.
 */
function dropCaseCollisions(scanned: readonly Entry[], last: ReadonlyMap<string, StateEntry>, errors: PlanError[]): Entry[] {
  const fold = (p: string): string => p.normalize('NFC').toLowerCase();
  const owner = new Map<string, string>();
  const ordered = [...scanned].sort((a, b) => Number(last.has(b.path)) - Number(last.has(a.path)) || compareStrings(a.path, b.path));
  const dropped = new Set<string>();
  for (const e of ordered) {
    const parent = parentOf(e.path);
    if (parent !== '' && dropped.has(parent)) {
      dropped.add(e.path);
      continue;
    }
    const key = fold(e.path);
    const other = owner.get(key);
    if (other === undefined) owner.set(key, e.path);
    else {
      dropped.add(e.path);
      errors.push({
        path: e.path,
        op: 'plan',
        code: 'ECASE',
        message: `${e.path}: the destination does not tell it apart from ${other} (names differ only in case); not backed up`,
      });
    }
  }
  return dropped.size === 0 ? [...scanned] : scanned.filter((e) => !dropped.has(e.path));
}

export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
