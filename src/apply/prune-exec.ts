import { dirname, join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { readTextIfExists } from '../io/fs.js';
import { failure, isCode, isNoHardlink } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { CarriedRecord } from '../meta/increment.js';
import { parseIncrementJson } from '../meta/increment.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { Layout, TMP_PREFIX } from '../store/layout.js';
import { compareIds, isIncrementId } from '../store/ids.js';
import { readManifest, writeManifest } from '../store/manifest.js';
import { serializeIncrement } from '../store/records.js';

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
 * 1. link carried content into the kept increment (already there → fine),
 * 2. rewrite the kept increment's increment.json with the new carried list,
 * 3. point the manifest's `since` of carried versions at the kept increment,
 * 4. remove each pruned folder (renamed into .hardback/tmp first, so it vanishes atomically).
 */
export function executePrune(fs: Fs, layout: Layout, groups: readonly PruneGroup[]): string[] {
  const removed: string[] = [];
  const sinceMap = new Map<string, string>();
  for (const g of groups) {
    for (const m of g.moves) {
      const from = layout.incrementFile(m.from, m.path);
      const to = layout.incrementFile(g.into, m.path);
      fs.mkdirSync(dirname(to), { recursive: true });
      // A second link (a copy where the drive has none), never a rename: until the pruned folder is
      // gone, both the old and the new place hold the version, so a prune killed here leaves every
      // state restorable through either increment.json.
      if (fs.lstatSync(to, { throwIfNoEntry: false }) !== undefined) continue;
      try {
        fs.linkSync(from, to);
      } catch (err) {
        if (!isNoHardlink(err)) throw err;
        fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
      }
    }
    const text = fs.readFileSync(layout.incrementJson(g.into), 'utf8');
    const parsed = parseIncrementJson(text, g.into);
    if (!parsed.ok) throw failure(`increment ${g.into}: increment.json is damaged (${parsed.reason})`);
    const json = parsed.value;
    json.carried = g.carried;
    json.pruned = [...new Set([...(json.pruned ?? []), ...g.pruned])].sort(compareIds);
    writeFileAtomic(fs, layout.incrementJson(g.into), serializeIncrement(json));
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

/** Finishes a prune that was interrupted (called under the lock by prune and by backup). */
export function recoverInterruptedPrune(fs: Fs, layout: Layout): string[] {
  const file = join(layout.state, PRUNE_JOURNAL);
  const text = readTextIfExists(fs, file);
  if (text === undefined) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Written atomically, so a damaged one was never acted on.
    fs.unlinkSync(file);
    return [];
  }
  const groups = (raw as { groups?: unknown }).groups;
  if (!isPrunePlan(groups)) {
    throw failure(`${file}: not a prune plan hardback wrote (an id or path in it is invalid); refusing to act on it`, {
      hint: 'if no prune is running, move the file away',
    });
  }
  const removed = executePrune(fs, layout, groups);
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
