import type { Fs } from '../io/fs.js';
import { errorCode, errorMessage, isCode } from '../io/errors.js';
import { toRecord, type EntryRecord, type StateEntry } from '../meta/entry.js';
import {
  type IncrementJson,
  type IncrementJsonOf,
  type IncrementSummary,
  type IncrementText,
  type ParseResult,
  type PathFilter,
  type RecordsAs,
} from '../meta/increment.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { Layout } from './layout.js';
import { compareIds, isIncrementId } from './ids.js';
import { readManifest, type ManifestHeader } from './manifest.js';
import { happened, openJournal, Verdicts, type JournalFile, type JournalHeader } from './journal.js';
import { listOf } from './records.js';
import { readIncrementFile } from './increment-file.js';

/**
 * Everything `backup-tool` reads from a destination, read-only and distrusted (SPEC §6 "Hostile
 * metadata"): the current state, every increment's metadata, and the problems met on the way.
 * Reading never takes the lock, never waits for it and never writes anything, so it is safe while a
 * run is in progress.
 */

export interface CatalogIncrement<J = IncrementJson> {
  id: string;
  /** Undefined when increment.json is missing, unreadable or malformed: the increment is skipped. */
  json: J | undefined;
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
  /**
   * The current state: the manifest plus what a pending journal says reached the mirror. Only the
   * entries of the paths `want.current` accepts (all by default).
   */
  current: Map<string, StateEntry>;
  /** Every increment id that an entry of the whole current state names as its `since`, decoded or not. */
  since: ReadonlySet<string>;
  /** True when the manifest was read and none of its entries was skipped: the current state is whole. */
  currentWhole: boolean;
  /** Every folder under increments/ named like an increment id, in increment order. */
  increments: CatalogIncrement[];
  /** The journal's header when a run is in progress or was interrupted. */
  pending: JournalHeader | undefined;
  /**
   * Each problem names the file and what is wrong with it; any problem makes a command exit 1.
   * Every entry and record is checked, whatever `want` decodes: the problems are always the same.
   */
  problems: string[];
}

/**
 * What a command needs decoded. A search for `*.md` over 100,000 entries and records needs a few
 * thousand of them: decoding every one was most of its time. Entries and records of other paths are
 * still checked (a damaged one is named), only not turned into objects.
 */
export interface CatalogWant {
  /** The entries of the current state to decode (all when undefined). */
  current?: PathFilter;
  /** The increment records to decode (all when undefined). */
  records?: PathFilter;
  /**
   * `records` in a form another thread can rebuild: search masks (restore/search.ts compileMasks),
   * or 'none'. Given, a worker thread may read the increments while this one reads the manifest.
   */
  recordsSpec?: RecordsSpec;
}

const ALL: PathFilter = () => true;

export type RecordsSpec = { masks: readonly string[] } | 'none';

export function readCatalog(fs: Fs, dist: string, want: CatalogWant = {}): Catalog {
  return finishCatalog(fs, readCurrent(fs, dist, want), undefined);
}

/**
 * readCatalog, with the increments read (and parsed, with the same filter) by another thread while
 * this one reads the manifest: `early` resolves to what it read, or undefined when it could not.
 */
export async function readCatalogSharing(fs: Fs, dist: string, want: CatalogWant, early: Promise<ReadonlyMap<string, IncrementRead> | undefined>): Promise<Catalog> {
  const part = readCurrent(fs, dist, want);
  return finishCatalog(fs, part, await early);
}

/** The size of all increment.json files: whether reading them is worth a second thread. */
export function incrementsSize(fs: Fs, dist: string): number {
  const layout = new Layout(dist);
  let bytes = 0;
  for (const id of listIncrementIds(fs, layout, [])) bytes += fs.statSync(layout.incrementJson(id), { throwIfNoEntry: false })?.size ?? 0;
  return bytes;
}

/** One increment as readIncrement reads it: plain data, so another thread can read it. */
export type IncrementRead<J = IncrementJson> = { value: CatalogIncrement<J>; problems: string[] };

/**
 * Every increment folder's metadata, read and parsed (the work another thread can do). With
 * `recordText`, the lists read line by line hold each wanted record as its JSON text
 * (readIncrementFile): for cli/tool/catalog-worker.ts, which sends them to be parsed.
 */
export function readIncrements(fs: Fs, dist: string, wantRecords: PathFilter, opts: { recordText: true }): Map<string, IncrementRead<IncrementText>>;
export function readIncrements(fs: Fs, dist: string, wantRecords: PathFilter): Map<string, IncrementRead>;
export function readIncrements(fs: Fs, dist: string, wantRecords: PathFilter, opts: RecordsAs = {}): Map<string, IncrementRead> | Map<string, IncrementRead<IncrementText>> {
  return new Map(eachIncrement(fs, dist, wantRecords, opts));
}

/** readIncrements, one increment at a time as it is read (in the order the folder lists them). */
export function eachIncrement(fs: Fs, dist: string, wantRecords: PathFilter, opts: { recordText: true }): Generator<[string, IncrementRead<IncrementText>]>;
export function eachIncrement(fs: Fs, dist: string, wantRecords: PathFilter, opts?: RecordsAs): Generator<[string, IncrementRead]>;
export function* eachIncrement(fs: Fs, dist: string, wantRecords: PathFilter, opts: RecordsAs = {}): Generator<[string, IncrementRead | IncrementRead<IncrementText>]> {
  const layout = new Layout(dist);
  const read = (id: string) => (file: string) => (opts.recordText === true ? readIncrementFile(fs, file, id, wantRecords, { recordText: true }) : readIncrementFile(fs, file, id, wantRecords));
  for (const id of listIncrementIds(fs, layout, [])) yield [id, readIncrement(layout, id, read(id))];
}

/** The lists of an interrupted run's increment, as its journal gives them. */
type PendingLists = { new: EntryRecord[]; changed: EntryRecord[]; deleted: EntryRecord[] };
/** An interrupted (or running) run, as its journal tells it. */
type PendingRun = { header: JournalHeader; summary: IncrementSummary; lists: PendingLists };

interface CurrentPart {
  dist: string;
  layout: Layout;
  problems: string[];
  wantRecords: PathFilter;
  state: CurrentState;
  pending: PendingRun | undefined;
}

/**
 * An interrupted (or running) run's changes that happened, applied to `state`, and its increment as
 * they make it. Read one change at a time (store/journal.ts openJournal): judged first, every one,
 * then the changes that happened are applied in a second reading, so a judgement that fails (a
 * mirror folder this user cannot enter) leaves the state as the manifest has it (and the problem is
 * named). Only the records wanted are kept.
 */
function pendingRun(fs: Fs, layout: Layout, journal: JournalFile, state: CurrentState, wantRecords: PathFilter): PendingRun {
  const verdicts = new Verdicts();
  for (const op of journal.ops()) verdicts.push(happened(fs, layout, op));
  const lists: PendingLists = { new: [], changed: [], deleted: [] };
  const summary = { new: 0, changed: 0, deleted: 0, errors: 0, bytes_copied: 0 };
  for (const op of verdicts.doneOps(journal, layout.journal)) {
    state.apply(op.op === 'del' ? undefined : op.entry, op.entry.path);
    const list = listOf(op);
    summary[list]++;
    if (wantRecords(op.entry.path)) lists[list].push(toRecord(op.entry));
  }
  return { header: journal.header, summary, lists };
}

/** The manifest and the journal: the current state. */
function readCurrent(fs: Fs, dist: string, want: CatalogWant): CurrentPart {
  const layout = new Layout(dist);
  const problems: string[] = [];
  const wantCurrent = want.current ?? ALL;
  const wantRecords = want.records ?? ALL;
  const state = readCurrentManifest(fs, layout, problems, wantCurrent);

  let pending: PendingRun | undefined;
  try {
    const journal = openJournal(fs, layout.journal);
    if (journal !== undefined) {
      try {
        pending = pendingRun(fs, layout, journal, state, wantRecords);
      } finally {
        journal.close();
      }
    }
  } catch (err) {
    problems.push(`${layout.journal}: not readable (${errorMessage(err)})`);
  }
  return { dist, layout, problems, wantRecords, state, pending };
}

/** The increments (those in `early` as read there, the others here), and the catalog. */
function finishCatalog(fs: Fs, part: CurrentPart, early: ReadonlyMap<string, IncrementRead> | undefined): Catalog {
  const { dist, layout, problems, wantRecords, state, pending } = part;
  const ids = listIncrementIds(fs, layout, problems);
  if (pending !== undefined && !ids.includes(pending.header.id)) ids.push(pending.header.id);
  ids.sort(compareIds);
  const increments: CatalogIncrement[] = [];
  for (const id of ids) {
    if (id === pending?.header.id) {
      increments.push({ id, json: pendingIncrement(fs, layout, pending.header, pending.summary, pending.lists), pending: true });
      continue;
    }
    const inc = early?.get(id) ?? readIncrement(layout, id, (file) => readIncrementFile(fs, file, id, wantRecords));
    increments.push(inc.value);
    for (const p of inc.problems) problems.push(p); // not push(...): a damaged file may name millions
  }
  return {
    dist,
    layout,
    header: state.header,
    source: state.header?.source,
    current: state.entries,
    since: state.since(),
    currentWhole: state.header !== undefined && state.damaged === 0,
    increments,
    pending: pending?.header,
    problems,
  };
}

// A manifest line (src/store/state-table.ts) that decodes into an entry entryProblem accepts, its
// path's safety aside (checked apart): one test instead of a decode, for the entries a command does
// not need. Any other line is decoded at once, and named when it is damaged.
const SINCE = String.raw`\d{4}-\d{2}-\d{2}T\d{6}Z(?:-\d+)?`;
// The source's identity, as the decode checks it (state-table.ts IDENTITY).
const IDENTITY = String.raw`\d+:\d+(?::\d+)?`;
const NUM = String.raw`\d{1,15}`;
const TAIL = String.raw`\t-?\d+\t${NUM}\t${NUM}\t${NUM}\t`;
// Tested where the line lies in the text read (StateTable.lineMatches): sticky, and up to the line's end.
const GOOD_LINE = new RegExp(
  String.raw`"[^\t]*"\t(?:f:[01]:${NUM}:-?\d+:${NUM}${TAIL}[0-9a-f]{64}|d:[01]:${NUM}${TAIL}|l:[01]:"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"${TAIL})\t(?:${SINCE})?\t(?:${IDENTITY})?(?=\n|$)`,
  'y',
);

interface CurrentState {
  header: ManifestHeader | undefined;
  /** The decoded entries of the wanted paths. */
  entries: Map<string, StateEntry>;
  /** A change a pending journal says happened: the entry's new version, or undefined for a deletion. */
  apply(entry: StateEntry | undefined, path: string): void;
  since(): Set<string>;
  /** How many manifest entries were damaged (named and skipped). */
  damaged: number;
}

/**
 * The manifest through readManifest, which refuses a damaged file as a whole (a run must not guess);
 * a reader names the damage and goes on without the current state. Entries are checked one by one, so
 * a damaged entry is named and skipped; only the wanted ones are decoded.
 */
function readCurrentManifest(fs: Fs, layout: Layout, problems: string[], want: PathFilter): CurrentState {
  const entries = new Map<string, StateEntry>();
  /** The `since` of every entry that is not damaged. */
  const since = new Set<string>();
  /** How many entries name each increment as `since`: counted only when a journal changes entries. */
  let sinceCount: Map<string, number> | undefined;
  const count = (id: string | undefined, by: number) => {
    if (id !== undefined && sinceCount !== undefined) sinceCount.set(id, (sinceCount.get(id) ?? 0) + by);
  };
  /** The `since` of the entries a journal changed, as it is now (undefined: none, or no entry). */
  const changed = new Map<string, string | undefined>();
  const damaged = new Set<string>();
  let m: ReturnType<typeof readManifest> | undefined;
  try {
    m = readManifest(fs, layout.manifest);
  } catch (err) {
    problems.push(`${errorMessage(err)}; the current state is not known: the mirror is not used`);
  }
  const table = m?.entries;
  const slots = table?.slots() ?? 0;
  let lastSince: string | undefined;
  for (let slot = 0; table !== undefined && slot < slots; slot++) {
    const path = table.livePathAt(slot);
    if (path === undefined) continue;
    const wanted = want(path);
    if (!wanted && table.lineMatches(slot, GOOD_LINE) && isSafeRelPath(path)) {
      // Most lines name one of a few increments, often as the line before them did: added to the set
      // only when it differs from that one.
      const id = table.sinceAt(slot);
      if (id !== undefined && id !== lastSince) since.add((lastSince = id));
      continue;
    }
    let e: StateEntry;
    try {
      e = table.valueAt(slot);
    } catch (err) {
      problems.push(`${layout.manifest}: entry skipped: ${errorMessage(err)}`);
      damaged.add(path);
      continue;
    }
    // valueAt has checked what entryProblem checks (state-table.ts decode; test/unit/state-table
    // holds it to that): checking again cost ~1 µs an entry, a tenth of a 100k-file recreate's read.
    if (e.since !== undefined) since.add(e.since);
    if (wanted) entries.set(path, e);
  }
  return {
    header: m?.header,
    entries,
    apply(entry, path) {
      if (sinceCount === undefined) {
        sinceCount = new Map();
        for (let slot = 0; slot < slots; slot++) {
          const p = table?.livePathAt(slot);
          if (p !== undefined && !damaged.has(p)) count(table?.sinceAt(slot), 1);
        }
      }
      const slot = changed.has(path) || damaged.has(path) ? undefined : table?.slot(path);
      count(changed.has(path) ? changed.get(path) : slot === undefined ? undefined : table?.sinceAt(slot), -1);
      changed.set(path, entry?.since);
      count(entry?.since, 1);
      if (entry === undefined) entries.delete(path);
      else if (want(path)) entries.set(path, entry);
    },
    since: () => (sinceCount === undefined ? since : new Set([...sinceCount].filter(([, n]) => n > 0).map(([id]) => id))),
    damaged: damaged.size,
  };
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

/** One increment folder's metadata, its file read by `read` (readIncrementFile). */
function readIncrement<J extends IncrementJsonOf<unknown, unknown>>(layout: Layout, id: string, read: (file: string) => ParseResult<J>): IncrementRead<J> {
  const file = layout.incrementJson(id);
  const skipped = (why: string) => ({ value: { id, json: undefined, problem: why }, problems: [`${file}: ${why}; increment ${id} skipped`] });
  let parsed: ParseResult<J>;
  try {
    parsed = read(file);
  } catch (err) {
    // The file's or the drive's failure (any error Node gives a code: EIO, ESTALE as UNKNOWN,
    // ERR_ACCESS_DENIED); an error without one is a fault of this program, and is thrown.
    if (errorCode(err) === undefined) throw err;
    return skipped(isCode(err, 'ENOENT') ? 'missing' : `not readable (${errorMessage(err)})`);
  }
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
function pendingIncrement(
  fs: Fs,
  layout: Layout,
  header: JournalHeader,
  summary: IncrementSummary,
  lists: PendingLists,
): IncrementJson {
  let previous: string | null = null;
  try {
    const parsed = readIncrementFile(fs, layout.incrementJson(header.id), header.id, () => false);
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
    summary,
    ...lists,
    errors: [],
  };
}
