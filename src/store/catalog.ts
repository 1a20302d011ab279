import type { Fs } from '../io/fs.js';
import { errorMessage, isCode } from '../io/errors.js';
import type { StateEntry } from '../meta/entry.js';
import { parseIncrementJson, type IncrementJson, checkRecord } from '../meta/increment.js';
import { Layout } from './layout.js';
import { compareIds, isIncrementId } from './ids.js';
import { readManifest, type ManifestHeader } from './manifest.js';
import { readJournal, resolveJournal, type JournalHeader } from './journal.js';
import { recordsFromOps } from './records.js';

/**
 * Everything `backup-tool` reads from a destination, read-only and distrusted (SPEC §6 "Hostile
 * metadata"): the current state, every increment's metadata, and the problems met on the way.
 * Reading never takes the lock, never waits for it and never writes anything, so it is safe while a
 * run is in progress.
 */

export interface CatalogIncrement {
  id: string;
  /** Undefined when increment.json is missing, unreadable or malformed: the increment is skipped. */
  json: IncrementJson | undefined;
  problem?: string;
  /** The increment of a run still in progress or interrupted: its lists come from the journal. */
  pending?: boolean;
}

export interface Catalog {
  dist: string;
  layout: Layout;
  /** The manifest header (undefined for a backup that has none yet, or whose header is unreadable). */
  header: ManifestHeader | undefined;
  /** The source folder this backup belongs to, as the manifest records it. */
  source: string | undefined;
  /** The current state: the manifest plus what a pending journal says reached the mirror. */
  current: Map<string, StateEntry>;
  /** Every folder under increments/ named like an increment id, in increment order. */
  increments: CatalogIncrement[];
  /** The journal's header when a run is in progress or was interrupted. */
  pending: JournalHeader | undefined;
  /** Each problem names the file and what is wrong with it; any problem makes a command exit 1. */
  problems: string[];
}

export function readCatalog(fs: Fs, dist: string): Catalog {
  const layout = new Layout(dist);
  const problems: string[] = [];
  const { header, entries } = readCurrentManifest(fs, layout, problems);

  let pending: { header: JournalHeader; lists: ReturnType<typeof recordsFromOps> } | undefined;
  try {
    const journal = readJournal(fs, layout.journal);
    if (journal !== undefined) {
      const done = resolveJournal(fs, layout, journal).done.filter((op) => entryProblem(op.entry) === undefined);
      for (const op of done) {
        if (op.op === 'del') entries.delete(op.entry.path);
        else entries.set(op.entry.path, op.entry);
      }
      if (isIncrementId(journal.header.id)) pending = { header: journal.header, lists: recordsFromOps(done) };
    }
  } catch (err) {
    problems.push(`${layout.journal}: not readable (${errorMessage(err)})`);
  }

  const ids = listIncrementIds(fs, layout, problems);
  if (pending !== undefined && !ids.includes(pending.header.id)) ids.push(pending.header.id);
  ids.sort(compareIds);
  const increments: CatalogIncrement[] = [];
  for (const id of ids) {
    if (id === pending?.header.id) {
      increments.push({ id, json: pendingIncrement(fs, layout, pending.header, pending.lists), pending: true });
      continue;
    }
    const inc = readIncrement(fs, layout, id);
    increments.push(inc.value);
    problems.push(...inc.problems);
  }
  return { dist, layout, header, source: header?.source, current: entries, increments, pending: pending?.header, problems };
}

/** A state entry is a record plus `since`: the same checks, and a valid increment id there. */
function entryProblem(v: unknown): string | undefined {
  const bad = checkRecord(v);
  if (bad !== undefined) return bad;
  const since = (v as { since?: unknown }).since;
  return since !== undefined && !(typeof since === 'string' && isIncrementId(since)) ? `${(v as { path: string }).path}: bad since` : undefined;
}

/**
 * The manifest through readManifest, which refuses a damaged file as a whole (a run must not guess);
 * a reader names the damage and goes on without the current state. Entries are decoded one by one, so
 * a damaged entry is named and skipped.
 */
function readCurrentManifest(fs: Fs, layout: Layout, problems: string[]): { header: ManifestHeader | undefined; entries: Map<string, StateEntry> } {
  const entries = new Map<string, StateEntry>();
  let m: ReturnType<typeof readManifest>;
  try {
    m = readManifest(fs, layout.manifest);
  } catch (err) {
    problems.push(`${errorMessage(err)}; the current state is not known: the mirror is not used`);
    return { header: undefined, entries };
  }
  for (const path of m.entries.keys()) {
    let e: StateEntry | undefined;
    try {
      e = m.entries.get(path);
    } catch (err) {
      problems.push(`${layout.manifest}: entry skipped: ${errorMessage(err)}`);
      continue;
    }
    const bad = entryProblem(e);
    if (bad === undefined && e !== undefined) entries.set(path, e);
    else problems.push(`${layout.manifest}: entry skipped: ${bad ?? 'unreadable'}`);
  }
  return { header: m.header, entries };
}

function listIncrementIds(fs: Fs, layout: Layout, problems: string[]): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(layout.increments);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) problems.push(`${layout.increments}: not readable (${errorMessage(err)})`);
    return [];
  }
  return names.filter(isIncrementId);
}

function readIncrement(fs: Fs, layout: Layout, id: string): { value: CatalogIncrement; problems: string[] } {
  const file = layout.incrementJson(id);
  const skipped = (why: string) => ({ value: { id, json: undefined, problem: why }, problems: [`${file}: ${why}; increment ${id} skipped`] });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return skipped(isCode(err, 'ENOENT') ? 'missing' : `not readable (${errorMessage(err)})`);
  }
  const parsed = parseIncrementJson(text, id);
  if (!parsed.ok) return skipped(parsed.reason);
  const json = parsed.value;
  const problems = parsed.badEntries.map((b) => `${file}: entry skipped: ${b}`);
  // Fields the parser does not check are made harmless here: they are only ever read as ids.
  if (json.previous !== null && !isIncrementId(json.previous)) json.previous = null;
  if (json.pruned !== undefined && !(Array.isArray(json.pruned) && json.pruned.every((p) => isIncrementId(p)))) {
    problems.push(`${file}: "pruned" is not a list of increment ids; ignored`);
    delete json.pruned;
  }
  return { value: { id, json }, problems };
}

/**
 * The increment of a run in progress (or interrupted) as its journal describes it: the changes that
 * reached the mirror so far. Its increment.json, when readable, gives the run's other fields.
 */
function pendingIncrement(fs: Fs, layout: Layout, header: JournalHeader, lists: ReturnType<typeof recordsFromOps>): IncrementJson {
  let previous: string | null = null;
  try {
    const parsed = parseIncrementJson(fs.readFileSync(layout.incrementJson(header.id), 'utf8'), header.id);
    if (parsed.ok && parsed.value.previous !== null && isIncrementId(parsed.value.previous)) previous = parsed.value.previous;
  } catch {
    // the run may not have written it yet: the journal alone describes the increment
  }
  return {
    format: 1,
    id: header.id,
    profile: String(header.profile),
    source: String(header.source),
    started: String(header.started),
    finished: null,
    complete: false,
    link_mode: header.link_mode === 'copy' ? 'copy' : 'hardlink',
    hardback_version: '',
    previous,
    summary: { new: lists.new.length, changed: lists.changed.length, deleted: lists.deleted.length, errors: 0, bytes_copied: 0 },
    ...lists,
    errors: [],
  };
}
