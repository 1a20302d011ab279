import { dirname, join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { realFs } from '../io/fs.js';
import { failure, isCode, usageError } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { KeepPolicy } from '../config/profiles.js';
import { toRecord, type EntryRecord } from '../meta/entry.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { parseIncrementJson, type CarriedRecord, type IncrementJson } from '../meta/increment.js';
import { applyPolicy, isEmptyPolicy, type Decision } from '../policy/prune.js';
import { Layout, TMP_PREFIX } from '../store/layout.js';
import { compareIds, isIncrementId, timeOfId } from '../store/ids.js';
import { acquireLock } from '../store/lock.js';
import { readManifest, writeManifest } from '../store/manifest.js';
import { serializeIncrement } from '../store/records.js';
import { recoverInterruptedRun, sweepTmp } from './recover.js';

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

export interface PrunePlan {
  decisions: Decision[];
  groups: PruneGroup[];
}

export interface PruneOutcome extends PrunePlan {
  dryRun: boolean;
  removed: string[];
}

interface Loaded {
  id: string;
  json: IncrementJson;
}

/** The increments of a backup, all of them readable: pruning around an unreadable one could lose data. */
function loadIncrements(fs: Fs, layout: Layout): Loaded[] {
  let names: string[];
  try {
    names = fs.readdirSync(layout.increments);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return [];
    throw err;
  }
  const out: Loaded[] = [];
  for (const id of names.filter(isIncrementId).sort(compareIds)) {
    let text: string;
    try {
      text = fs.readFileSync(layout.incrementJson(id), 'utf8');
    } catch (err) {
      throw failure(`increment ${id}: increment.json cannot be read (${(err as Error).message}); prune refuses to guess`, {
        hint: 'run `backup-tool verify`, or remove that increment folder by hand',
      });
    }
    const parsed = parseIncrementJson(text, id);
    if (!parsed.ok) throw failure(`increment ${id}: increment.json is damaged (${parsed.reason}); prune refuses to guess`);
    if (parsed.badEntries.length > 0) throw failure(`increment ${id}: increment.json has bad entries (${parsed.badEntries[0]}); prune refuses to guess`);
    out.push({ id, json: parsed.value });
  }
  return out;
}

/**
 * Pure: which increments go, and what each kept increment takes over. For the pruned increments
 * before a kept one N, each path's records (plus N's old carried list) are folded into one carried
 * record of N that keeps both ends of the span: whether the path existed before it, and its version
 * after it. Replay is per path, last record wins, so the state at N is unchanged; and a state before
 * the span still sees, as the path's next record, whether it existed then. The content of a carried
 * version is linked into N only where N needs it (N does not record the path itself); versions only
 * pruned increments held and that no kept state needs are freed.
 */
export function planPrune(increments: readonly Loaded[], policy: KeepPolicy): PrunePlan {
  const decisions = applyPolicy(
    increments.map((i) => ({ id: i.id, time: timeOfId(i.id) ?? new Date(i.json.started) })),
    policy,
  );
  const keep = new Map(decisions.map((d) => [d.id, d.keep]));
  const groups: PruneGroup[] = [];
  let pending: Loaded[] = [];
  for (const inc of increments) {
    if (!keep.get(inc.id)) {
      pending.push(inc);
      continue;
    }
    if (pending.length > 0) groups.push(carryInto(inc, pending));
    pending = [];
  }
  return { decisions, groups };
}

/**
 * A record seen as a transition of one path: did it exist just before, and just after?
 * new = absent → present, changed = present → present, deleted = present → absent.
 */
const existedBefore = (status: CarriedRecord['status']): boolean => status !== 'new';
const existsAfter = (status: CarriedRecord['status']): boolean => status !== 'deleted';

function carryInto(into: Loaded, pruned: readonly Loaded[]): PruneGroup {
  // Fold each path's records over the pruned span, in replay order: each pruned increment (its
  // carried list, then deleted, then new/changed), then the kept increment's old carried list.
  // The folded record keeps both ends: whether the path existed before the span (what states of
  // earlier kept increments infer from the next record) and its version after the span (what the
  // state at `into` replays). `holder` is the increment whose files/ holds that version today.
  const net = new Map<string, { rec: CarriedRecord; before: boolean; holder: string }>();
  const fold = (rec: CarriedRecord, holder: string) => {
    const seen = net.get(rec.path);
    net.set(rec.path, { rec, before: seen === undefined ? existedBefore(rec.status) : seen.before, holder });
  };
  const own = (r: EntryRecord, status: CarriedRecord['status'], id: string) => fold({ ...toRecord(r), status, from: id }, id);
  for (const p of pruned) {
    for (const c of p.json.carried ?? []) fold(c, p.id);
    for (const r of p.json.deleted) own(r, 'deleted', p.id);
    for (const r of p.json.new) own(r, 'new', p.id);
    for (const r of p.json.changed) own(r, 'changed', p.id);
  }
  for (const c of into.json.carried ?? []) fold(c, into.id);

  const recordedByInto = new Set<string>();
  for (const list of [into.json.new, into.json.changed, into.json.deleted]) for (const r of list) recordedByInto.add(r.path);

  const carried: CarriedRecord[] = [];
  const moves: PruneGroup['moves'] = [];
  for (const [path, { rec, before, holder }] of net) {
    const after = existsAfter(rec.status);
    if (!before && !after) continue; // born and gone inside the span: no trace in any kept state
    const status: CarriedRecord['status'] = !before ? 'new' : after ? 'changed' : 'deleted';
    carried.push({ ...rec, status });
    // The version is needed at `into` only when `into` does not record the path itself.
    if (after && !recordedByInto.has(path) && rec.type === 'file' && rec.tracked && holder !== into.id) moves.push({ from: holder, path });
  }
  carried.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { into: into.id, pruned: pruned.map((p) => p.id), carried, moves };
}

const PRUNE_JOURNAL = 'prune.json';

/**
 * Executes a prune plan; idempotent, so a prune killed at any point is finished by the next prune or
 * backup (the plan is written to .hardback/prune.json first, and removed last):
 * 1. link carried content into the kept increment (already there → fine),
 * 2. rewrite the kept increment's increment.json with the new carried list,
 * 3. point the manifest's `since` of carried versions at the kept increment,
 * 4. remove each pruned folder (renamed into .hardback/tmp first, so it vanishes atomically).
 */
function executePrune(fs: Fs, layout: Layout, groups: readonly PruneGroup[]): string[] {
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
        if (!isCode(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK')) throw err;
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
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return [];
    throw err;
  }
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

export async function runPrune(opts: { fs?: Fs; dist: string; policy: KeepPolicy | undefined; dryRun: boolean; notice?: (m: string) => void }): Promise<PruneOutcome> {
  const fs = opts.fs ?? realFs;
  const layout = new Layout(opts.dist);
  if (opts.policy === undefined || isEmptyPolicy(opts.policy)) {
    throw usageError('prune needs a retention policy: --keep-last N, --keep-daily N, … or "keep" in the config');
  }
  if (opts.dryRun) {
    const plan = planPrune(loadIncrements(fs, layout), opts.policy);
    return { ...plan, dryRun: true, removed: [] };
  }
  const lock = acquireLock(fs, layout.lock, 'backup-tool prune');
  try {
    if (lock.tookOver !== undefined) opts.notice?.(`took over a stale lock left by pid ${lock.tookOver.pid} on ${lock.tookOver.host}`);
    const before = recoverInterruptedPrune(fs, layout);
    if (before.length > 0) opts.notice?.(`finished an interrupted prune (removed ${before.join(', ')})`);
    const rec = recoverInterruptedRun(fs, layout);
    if (rec.id !== undefined) opts.notice?.(`finished the interrupted backup run ${rec.id} first`);
    sweepTmp(fs, layout);
    const plan = planPrune(loadIncrements(fs, layout), opts.policy);
    if (plan.groups.length === 0) return { ...plan, dryRun: false, removed: [] };
    writeFileAtomic(fs, join(layout.state, PRUNE_JOURNAL), JSON.stringify({ groups: plan.groups }));
    const removed = executePrune(fs, layout, plan.groups);
    fs.unlinkSync(join(layout.state, PRUNE_JOURNAL));
    return { ...plan, dryRun: false, removed };
  } finally {
    lock.release();
  }
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
