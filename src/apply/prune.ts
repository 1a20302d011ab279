import { join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { realFs } from '../io/fs.js';
import { failure, isCode, usageError } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { KeepPolicy } from '../config/profiles.js';
import { toRecord, type EntryRecord } from '../meta/entry.js';
import type { CarriedRecord, IncrementJson, ParseResult } from '../meta/increment.js';
import { readIncrementFile } from '../store/increment-file.js';
import { applyPolicy, isEmptyPolicy, type Decision } from '../policy/prune.js';
import { Layout } from '../store/layout.js';
import { compareIds, isIncrementId, timeOfId } from '../store/ids.js';
import { acquireLock } from '../store/lock.js';
import { readManifestHeader } from '../store/manifest.js';
import { recoverDestination } from './startup.js';
import { durabilityOnce } from '../io/durability.js';
import { executePrune, PRUNE_JOURNAL, pruneJournalText, type PruneGroup } from './prune-exec.js';

export type { PruneGroup };

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
    let parsed: ParseResult;
    try {
      parsed = readIncrementFile(fs, layout.incrementJson(id), id, () => true);
    } catch (err) {
      throw failure(`increment ${id}: increment.json cannot be read (${(err as Error).message}); prune refuses to guess`, {
        hint: 'run `backup-tool verify`, or remove that increment folder by hand',
      });
    }
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
    const header = readManifestHeader(fs, layout.manifest);
    // An interrupted backup run's changes are made durable before they are recorded, as a backup's start does.
    const durability = durabilityOnce(opts.dist, true);
    recoverDestination(fs, layout, { source: header?.source ?? '', profile: 'unknown', notice: (m) => opts.notice?.(m), durability });
    const plan = planPrune(loadIncrements(fs, layout), opts.policy);
    if (plan.groups.length === 0) return { ...plan, dryRun: false, removed: [] };
    writeFileAtomic(fs, join(layout.state, PRUNE_JOURNAL), pruneJournalText(plan.groups));
    const removed = executePrune(fs, layout, plan.groups, durability);
    fs.unlinkSync(join(layout.state, PRUNE_JOURNAL));
    return { ...plan, dryRun: false, removed };
  } finally {
    lock.release();
  }
}
