import { dirname, join } from 'node:path';
import { constants } from 'node:buffer';
import type { Fs } from '../io/fs.js';
import { isRoot, openIfExists } from '../io/fs.js';
import { fileLines } from '../io/line-pieces.js';
import { failure, isCode, isNoHardlink } from '../io/errors.js';
import { tmpName, writeFileAtomic } from '../io/atomic.js';
import type { Durability } from '../io/durability.js';
import { settleIncrementFiles } from './folder-sync.js';
import { carryMeta, linkOrCopy, type PlaceMeta } from './place.js';
import { isObj, type CarriedRecord } from '../meta/increment.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { Layout, TMP_PREFIX } from '../store/layout.js';
import { compareIds, isIncrementId } from '../store/ids.js';
import { readManifest, writeManifest } from '../store/manifest.js';
import { incrementText } from '../store/records.js';
import { readIncrementFile } from '../store/increment-file.js';

/** Carrying out a prune plan, and finishing one a crash interrupted (docs/retention.md). */

/**
 * One group of a prune: consecutive pruned increments and the kept increment after them, into which
 * their still-needed records (and the content of those records) are carried.
 */
export interface PruneGroup {
  into: string;
  pruned: string[];
  /** The new `carried` list of `into`: one record per path, replacing the old one. */
  carried: CarriedRecord[];
  /** Tracked versions whose content moves from a pruned increment's files/ to into/files/. */
  moves: { from: string; path: string }[];
}

export const PRUNE_JOURNAL = 'prune.json';

/**
 * Executes a prune plan; idempotent, so a prune killed at any point is finished by the next prune or
 * backup (the plan is written to .hardback/prune.json first, and removed last):
 * 1. link carried content into the kept increment (already there: kept if it holds the version's
 *    bytes or its source is gone, else made again),
 * 2. rewrite the kept increment's increment.json with the new carried list,
 * 3. point the manifest's `since` of carried versions at the kept increment,
 * 4. make the carried content durable: one flush of the drive (syncfs), or without it an fsync of
 *    each copy and of each folder that got a link or copy (`durability`, asked only when something
 *    is carried). A pruned folder may be the version's only other place: after a power cut its
 *    removal must not have reached the disk without the new link, or a copy's data.
 * 5. remove each pruned folder (renamed into .hardback/tmp first, so it vanishes atomically).
 */
export function executePrune(fs: Fs, layout: Layout, groups: readonly PruneGroup[], durability: () => Durability): string[] {
  const removed: string[] = [];
  const sinceMap = new Map<string, string>();
  /** The carried versions in kept increments, and those to fsync without syncfs (copies, and what an interrupted attempt left). */
  const carried: string[] = [];
  const copies: string[] = [];
  for (const g of groups) {
    for (const m of g.moves) {
      const from = layout.incrementFile(m.from, m.path);
      const to = layout.incrementFile(g.into, m.path);
      fs.mkdirSync(dirname(to), { recursive: true });
      // A second link (a copy where the drive has none), never a rename: until the pruned folder is
      // gone, both the old and the new place hold the version, so a prune killed here leaves every
      // state restorable through either increment.json.
      carried.push(to);
      if (fs.lstatSync(to, { throwIfNoEntry: false }) !== undefined) {
        // Made by an interrupted attempt. Kept when it holds the version's bytes (a link, or a copy
        // whose data reached the disk: after a power cut, what is read is what the disk has), or
        // once its source is gone (step 4 had made it durable). Otherwise made again, into a temp
        // file renamed over it, so that the kept increment, whose increment.json may list it
        // already, never lacks it.
        if (fs.lstatSync(from, { throwIfNoEntry: false }) === undefined) continue;
        if (sameBytes(fs, from, to)) {
          // A copy may have been interrupted before it got its metadata: given it again. After
          // kill -9 its data may be in the page cache only: fsynced in step 4 (without syncfs).
          if (!sameFile(fs, from, to)) carryMeta(fs, to, metaOf(fs, from), isRoot());
          copies.push(to);
          continue;
        }
        const tmp = join(layout.tmp, tmpName(`${TMP_PREFIX}carried-`));
        if (linkOrCopyCarried(fs, from, tmp)) copies.push(to);
        replaceWith(fs, tmp, to);
        continue;
      }
      if (linkOrCopyCarried(fs, from, to)) copies.push(to);
    }
    const parsed = readIncrementFile(fs, layout.incrementJson(g.into), g.into, () => true);
    if (!parsed.ok) throw failure(`increment ${g.into}: increment.json is damaged (${parsed.reason})`);
    const json = parsed.value;
    json.carried = g.carried;
    json.pruned = [...new Set([...(json.pruned ?? []), ...g.pruned])].sort(compareIds);
    writeFileAtomic(fs, layout.incrementJson(g.into), incrementText(json));
    for (const p of g.pruned) sinceMap.set(p, g.into);
  }
  const manifest = readManifest(fs, layout.manifest);
  if (manifest.header !== undefined) {
    let touched = false;
    for (const e of manifest.entries.values()) {
      const to = e.since === undefined ? undefined : sinceMap.get(e.since);
      if (to !== undefined) {
        manifest.entries.set(e.path, { ...e, since: to });
        touched = true;
      }
    }
    if (touched) writeManifest(fs, layout.manifest, { source: manifest.header.source, lastIncrement: manifest.header.last_increment }, manifest.entries);
  }
  // Step 4.
  if (carried.length > 0) settleIncrementFiles(fs, layout, durability(), carried, copies);
  for (const g of groups) {
    for (const p of g.pruned) {
      const gone = join(layout.tmp, `${TMP_PREFIX}pruned-${p}`);
      try {
        fs.renameSync(layout.incrementDir(p), gone);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
      fs.rmSync(gone, { recursive: true, force: true });
      removed.push(p);
    }
  }
  return removed;
}

/** Whether two files hold the same bytes (read through, 1 MiB at a time). */
function sameBytes(fs: Fs, a: string, b: string): boolean {
  const fa = fs.openSync(a, 'r');
  try {
    const fb = fs.openSync(b, 'r');
    try {
      if (fs.fstatSync(fa).size !== fs.fstatSync(fb).size) return false;
      const ba = Buffer.allocUnsafe(1 << 20);
      const bb = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = fs.readSync(fa, ba, 0, ba.length, null);
        const m = fs.readSync(fb, bb, 0, bb.length, null);
        if (n !== m || !ba.subarray(0, n).equals(bb.subarray(0, m))) return false;
        if (n === 0) return true;
      }
    } finally {
      fs.closeSync(fb);
    }
  } finally {
    fs.closeSync(fa);
  }
}

/**
 * Renames `tmp` over `to`. Windows replaces no read-only file (a version whose recorded mode is
 * read-only): `to` is made writable, and the rename tried again.
 */
function replaceWith(fs: Fs, tmp: string, to: string): void {
  try {
    fs.renameSync(tmp, to);
  } catch (err) {
    if (!isCode(err, 'EPERM', 'EACCES')) throw err;
    fs.chmodSync(to, 0o600);
    fs.renameSync(tmp, to);
  }
}

/**
 * A second link to a carried version, or a copy where the drive has none (true): a copy carries the
 * mode, mtime and (as root) owner of the copy it was made from, as a run's copies do (place.ts); it
 * is fsynced in step 4 where no flush of the drive covers it.
 */
function linkOrCopyCarried(fs: Fs, from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return false;
  } catch (err) {
    if (!isNoHardlink(err)) throw err;
    linkOrCopy(fs, from, to, metaOf(fs, from), { linkMode: 'copy', root: isRoot(), fsyncCopies: false });
    return true;
  }
}

/** The mode, owner and mtime of the copy of a version a carried copy is made from. */
function metaOf(fs: Fs, file: string): PlaceMeta {
  const st = fs.lstatSync(file, { bigint: true });
  return { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime_ns: String(st.mtimeNs) };
}

/** Whether two paths name one file (a hard link). */
function sameFile(fs: Fs, a: string, b: string): boolean {
  const sa = fs.lstatSync(a, { bigint: true });
  const sb = fs.lstatSync(b, { bigint: true });
  return sa.ino === sb.ino && sa.dev === sb.dev;
}

/**
 * The plan as .hardback/prune.json holds it: a header line, then for each group a line naming its
 * increments and counts, followed by its carried records and its moves, a line each. Never one
 * text: pruning the first increment of a backup of 2.3 million files carries each of their records,
 * longer together than a string can be (docs/format.md, "Layout"). Builds before this one wrote the
 * plan as one JSON document (`{"groups": [...]}`), which is still read.
 */
export function* pruneJournalText(groups: readonly PruneGroup[]): Generator<string> {
  yield `${JSON.stringify({ hardback: 'prune', format: 2, groups: groups.length })}\n`;
  for (const g of groups) {
    yield `${JSON.stringify({ into: g.into, pruned: g.pruned, carried: g.carried.length, moves: g.moves.length })}\n`;
    for (const c of g.carried) yield `${JSON.stringify(c)}\n`;
    for (const m of g.moves) yield `${JSON.stringify(m)}\n`;
  }
}

/**
 * The plan in `file` (pruneJournalText, or one document as earlier builds wrote it), its groups
 * unchecked: undefined when there is no file; 'damaged' when it is not whole (it is written
 * atomically, so such a plan was never acted on); groups `null` for JSON that is no plan this build
 * knows (another format, a hand-made file): refused, not removed.
 */
function readPruneJournal(fs: Fs, file: string): { groups: unknown } | 'damaged' | undefined {
  const fd = openIfExists(fs, file);
  if (fd === undefined) return undefined;
  try {
    const lines = fileLines(fs, fd);
    const first = lines.next();
    let header: unknown;
    try {
      header = first.done === true || first.value === undefined ? undefined : JSON.parse(first.value);
    } catch {
      header = undefined;
    }
    if (!(isObj(header) && header.hardback === 'prune')) {
      // One document (as earlier builds wrote it, or laid out by hand), or damaged. An earlier
      // build's was one string: in UTF-8, at most 3 bytes a character of it.
      if (fs.fstatSync(fd).size > 3 * constants.MAX_STRING_LENGTH) return 'damaged';
      let text: string;
      try {
        // From the descriptor's position, still 0: the lines were read at positions given.
        text = fs.readFileSync(fd, 'utf8');
      } catch (err) {
        if (!isCode(err, 'ERR_STRING_TOO_LONG')) throw err;
        return 'damaged';
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        return 'damaged';
      }
      return { groups: isObj(doc) ? doc.groups : null };
    }
    if (header.format !== 2 || typeof header.groups !== 'number') return { groups: null };
    const next = (): unknown => {
      const line = lines.next();
      if (line.done === true || line.value === undefined) throw new SyntaxError('the plan ends early, or has a line too long');
      return JSON.parse(line.value);
    };
    try {
      const groups: unknown[] = [];
      for (let i = 0; i < header.groups; i++) {
        const g = next();
        if (!isObj(g) || typeof g.carried !== 'number' || typeof g.moves !== 'number') return 'damaged';
        const carried: unknown[] = [];
        for (let k = 0; k < g.carried; k++) carried.push(next());
        const moves: unknown[] = [];
        for (let k = 0; k < g.moves; k++) moves.push(next());
        groups.push({ into: g.into, pruned: g.pruned, carried, moves });
      }
      return lines.next().done === true ? { groups } : 'damaged';
    } catch (err) {
      if (err instanceof SyntaxError) return 'damaged';
      throw err;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Finishes a prune that was interrupted (called under the lock by prune and by backup); `durability` as for executePrune. */
export function recoverInterruptedPrune(fs: Fs, layout: Layout, durability: () => Durability): string[] {
  const file = join(layout.state, PRUNE_JOURNAL);
  const raw = readPruneJournal(fs, file);
  if (raw === undefined) return [];
  if (raw === 'damaged') {
    fs.unlinkSync(file);
    return [];
  }
  const groups = raw.groups;
  if (!isPrunePlan(groups)) {
    throw failure(`${file}: not a prune plan hardback wrote (of another format, or an id or path in it is invalid); refusing to act on it`, {
      hint: 'if no prune is running, move the file away',
    });
  }
  const removed = executePrune(fs, layout, groups, durability);
  fs.unlinkSync(file);
  return removed;
}

/** The plan of an interrupted prune is metadata like any other: every id and path is checked before use. */
function isPrunePlan(groups: unknown): groups is PruneGroup[] {
  if (!Array.isArray(groups)) return false;
  return groups.every((g: Partial<PruneGroup>) =>
    typeof g === 'object' && g !== null &&
    typeof g.into === 'string' && isIncrementId(g.into) &&
    Array.isArray(g.pruned) && g.pruned.every((p) => typeof p === 'string' && isIncrementId(p) && p !== g.into) &&
    Array.isArray(g.carried) && g.carried.every((c) => typeof c === 'object' && c !== null && isSafeRelPath(c.path)) &&
    Array.isArray(g.moves) && g.moves.every((m) => typeof m === 'object' && m !== null && typeof m.from === 'string' && isIncrementId(m.from) && isSafeRelPath(m.path)),
  );
}
