import type { StateEntry } from '../meta/entry.js';
import { isSafeRelPath, topLevelName } from '../meta/safe-path.js';
import { HardbackError } from '../io/errors.js';
import { asciiJson } from '../meta/ascii-json.js';
import { quickKey } from '../plan/compare.js';

/**
 * The last backed-up state, held as one encoded line per path:
 *
 *   <path JSON> TAB <quick key> TAB <mtime_ns> TAB <mode> TAB <uid> TAB <gid> TAB <sha256> TAB <since> TAB <source dev:inode>
 *
 * where the quick key (plan/compare.ts) is `f:<tracked>:<size>:<mtime_ns>:<mode>`, `d:<tracked>:<mode>`
 * or `l:<tracked>:<target as a JSON string>`. Strings are written as ASCII-only JSON (\uXXXX escapes), so
 * the manifest is plain ASCII: read as latin1 it decodes fast into compact one-byte strings.
 *
 * The quick key holds exactly what the change predicate compares (plan/compare.ts), so a run that
 * finds nothing changed compares strings and never decodes an entry: at 100k entries, parsing every
 * line was most of a no-change run. Entries are decoded (and their path re-validated, since the
 * file is untrusted) only when read through `get`/`values`.
 *
 * An entry given as an object (`set`) is kept as that object (its owner must not change it
 * afterwards) and encoded when the manifest is written; a backup run's entries are encoded at once
 * (`keep`), so it holds no object per entry it stored.
 *
 * Each path has a slot (an index into arrays, in the order paths were added): the slot numbers are
 * what a comparison marks (StateComparison) and what the delta against the manifest base remembers
 * (store/manifest.ts), with no second set of paths.
 */
export class StateTable implements Map<string, StateEntry> {
  /** Path → slot. A slot keeps its path after a deletion (its value is then undefined), so the delta can name it. */
  private readonly slotOf = new Map<string, number>();
  private readonly paths: string[] = [];
  private readonly vals: (string | StateEntry | undefined)[] = [];
  /** The manifest base this table was read from: what a delta is written against (store/manifest.ts). */
  private base: BaseTracking | undefined;
  /** Entries below each top-level name, kept up to date from the recorded counts (only a hint: scan/parallel.ts). */
  private top: Map<string, number> | undefined;

  static from(entries: Iterable<StateEntry>): StateTable {
    const t = new StateTable();
    for (const e of entries) t.set(e.path, e);
    return t;
  }

  /** Parses one manifest line; undefined when it is malformed (its path is re-checked when it is decoded). */
  static pathOfLine(line: string): string | undefined {
    const tab = line.indexOf('\t');
    if (tab < 2 || line.charCodeAt(0) !== 34 /* " */ || line.charCodeAt(tab - 1) !== 34) return undefined;
    const raw = line.slice(1, tab - 1);
    if (!raw.includes('\\')) return raw;
    try {
      const path: unknown = JSON.parse(line.slice(0, tab));
      return typeof path === 'string' ? path : undefined;
    } catch {
      return undefined;
    }
  }

  /** One comparison of the source with this state (the scan, then the plan), marking what it finds. */
  compare(): StateComparison {
    return new StateComparison(this);
  }

  /** @internal StateComparison's access to the slots. */
  slot(path: string): number | undefined {
    return this.slotOf.get(path);
  }
  /**
   * @internal Whether the slot is recorded with exactly this quick key: the no-change test of the
   * scan, made for every entry of the tree, so it compares in place rather than cutting the key out
   * of the line.
   */
  keyAt(slot: number, key: string): boolean {
    const v = this.vals[slot] as string | StateEntry;
    if (typeof v !== 'string') return quickKey(v) === key;
    const a = v.indexOf('\t') + 1;
    return v.startsWith(key, a) && v.charCodeAt(a + key.length) === 9; /* \t */
  }
  /** @internal */
  slots(): number {
    return this.vals.length;
  }
  /** @internal The path of a live slot, undefined for a deleted one. */
  livePathAt(slot: number): string | undefined {
    return this.vals[slot] === undefined ? undefined : this.paths[slot];
  }

  /** Entries that are not folders, counted from the quick keys without decoding any entry. */
  countNonDirs(): number {
    let n = 0;
    for (const v of this.vals) {
      if (v === undefined) continue;
      if (typeof v === 'string' ? v.charCodeAt(v.indexOf('\t') + 1) !== 100 /* d */ : v.type !== 'dir') n++;
    }
    return n;
  }

  /** The encoded lines, for writing the manifest. */
  *encodedLines(): IterableIterator<string> {
    for (const v of this.vals) if (v !== undefined) yield asLine(v);
  }

  /** Each path with its encoded line, without decoding any entry (a reader checks them apart). */
  *encodedEntries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.vals.length; i++) {
      const v = this.vals[i];
      if (v !== undefined) yield [this.paths[i] as string, asLine(v)];
    }
  }

  /** The encoded line of one path. */
  encodedLine(path: string): string | undefined {
    const slot = this.slotOf.get(path);
    return slot === undefined ? undefined : asLine(this.vals[slot] as string | StateEntry);
  }

  // --- the delta against the manifest base (store/manifest.ts) ---

  /**
   * From now on, changes are counted against the base `id` (a manifest of `entries` entries): while
   * they stay within an eighth of it, the manifest is written as a delta beside the base.
   */
  trackChangesSince(id: string, entries: number, top: Readonly<Record<string, number>> | undefined): void {
    this.base = { id, changed: new Set(), limit: Math.floor(entries / DELTA_FRACTION) };
    this.top = top === undefined ? undefined : new Map(Object.entries(top));
  }

  /** The base and the changes since it, in the order they were made; undefined when the table must be written whole. */
  delta(): { baseId: string; changes: IterableIterator<{ path: string; line: string | undefined }> } | undefined {
    const base = this.base;
    if (base?.changed === undefined) return undefined;
    const slots = [...base.changed].sort((a, b) => a - b);
    const self = this;
    function* changes(): IterableIterator<{ path: string; line: string | undefined }> {
      for (const s of slots) {
        const v = self.vals[s];
        yield { path: self.paths[s] as string, line: v === undefined ? undefined : asLine(v) };
      }
    }
    return { baseId: base.id, changes: changes() };
  }

  /** How many paths the delta names. */
  deltaSize(): number {
    return this.base?.changed?.size ?? 0;
  }

  /** The recorded counts of entries per top-level name, kept up to date (undefined when none were recorded). */
  topCounts(): Record<string, number> | undefined {
    return this.top === undefined ? undefined : Object.fromEntries([...this.top].filter(([, n]) => n > 0));
  }

  private changed(slot: number): void {
    const b = this.base;
    if (b?.changed === undefined) return;
    b.changed.add(slot);
    if (b.changed.size > b.limit) b.changed = undefined; // too many: the next write is whole
  }

  private count(path: string, by: number): void {
    if (this.top === undefined) return;
    const name = topLevelName(path);
    this.top.set(name, (this.top.get(name) ?? 0) + by);
  }

  // --- Map ---

  get size(): number {
    return this.slotOf.size;
  }
  has(path: string): boolean {
    return this.slotOf.has(path);
  }
  get(path: string): StateEntry | undefined {
    const slot = this.slotOf.get(path);
    return slot === undefined ? undefined : this.valueAt(slot);
  }
  /** @internal */
  valueAt(slot: number): StateEntry {
    const v = this.vals[slot] as string | StateEntry;
    return typeof v === 'string' ? decode(this.paths[slot] as string, v) : v;
  }
  set(path: string, entry: StateEntry): this {
    if (entry.path !== path) throw new Error(`state: key ${path} does not match entry ${entry.path}`);
    this.store(path, entry);
    return this;
  }
  /**
   * Keeps an entry a run stored, encoded as its manifest line at once: the run lets the object go
   * (increment.json's records are decoded from these lines), so a run that stores many entries (a
   * big move) holds one string per entry, not an object with half a dozen strings of its own.
   */
  keep(entry: StateEntry): void {
    this.store(entry.path, encode(entry));
  }
  /** Stores an already-encoded line (from the manifest file). */
  setLine(path: string, line: string): void {
    this.store(path, line);
  }
  /**
   * Adds the line of a path not yet in the table (reading a manifest whole): one hash lookup instead
   * of two. False when the path was already there (a damaged manifest): the table is then to be dropped.
   */
  addLine(path: string, line: string): boolean {
    const slot = this.append(path, line);
    if (slot === undefined) return false;
    this.changed(slot);
    return true;
  }
  private store(path: string, v: string | StateEntry): void {
    let slot = this.slotOf.get(path);
    if (slot === undefined) slot = this.append(path, v) as number;
    else this.vals[slot] = v;
    this.changed(slot);
  }
  /** A new slot for `path`; undefined (and the index spoiled) when the path already had one. */
  private append(path: string, v: string | StateEntry): number | undefined {
    const slot = this.vals.length;
    const before = this.slotOf.size;
    this.slotOf.set(path, slot);
    if (this.slotOf.size === before) return undefined;
    this.paths.push(path);
    this.vals.push(v);
    this.count(path, 1);
    return slot;
  }
  delete(path: string): boolean {
    const slot = this.slotOf.get(path);
    if (slot === undefined) return false;
    this.slotOf.delete(path);
    this.vals[slot] = undefined;
    this.count(path, -1);
    this.changed(slot);
    return true;
  }
  clear(): void {
    for (const path of [...this.slotOf.keys()]) this.delete(path);
  }
  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== undefined) yield this.paths[i] as string;
  }
  *values(): IterableIterator<StateEntry> {
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== undefined) yield this.valueAt(i);
  }
  *entries(): IterableIterator<[string, StateEntry]> {
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== undefined) yield [this.paths[i] as string, this.valueAt(i)];
  }
  [Symbol.iterator](): IterableIterator<[string, StateEntry]> {
    return this.entries();
  }
  forEach(fn: (value: StateEntry, key: string, map: Map<string, StateEntry>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
  get [Symbol.toStringTag](): string {
    return 'StateTable';
  }
}

/**
 * Which recorded entries the source still has: the scan marks what it finds unchanged (hasQuickKey),
 * the plan what it finds changed (found); whatever is left unmarked (unseen) is gone from the source.
 * A mark per slot, so a run with deletions needs no set of its 100k paths.
 */
export class StateComparison {
  private readonly marks: Uint8Array;
  constructor(readonly table: StateTable) {
    this.marks = new Uint8Array(table.slots());
  }
  hasQuickKey(path: string, key: string): boolean {
    const slot = this.table.slot(path);
    if (slot === undefined || !this.table.keyAt(slot, key)) return false;
    this.mark(slot);
    return true;
  }
  /** The recorded entry at `path`, marked as found. */
  found(path: string): StateEntry | undefined {
    const slot = this.markPath(path);
    return slot === undefined ? undefined : this.table.valueAt(slot);
  }
  /** Marks `path` as found without decoding its entry; its slot, undefined when it is not recorded. */
  markPath(path: string): number | undefined {
    const slot = this.table.slot(path);
    if (slot !== undefined) this.mark(slot);
    return slot;
  }
  /**
   * Marks the recorded paths another thread compared (those `theirs` accepts), but for the ones it
   * did not find: its `unseen` (scan/parallel.ts).
   */
  foundElsewhere(theirs: (path: string) => boolean, notFound: ReadonlySet<string>): void {
    const n = Math.min(this.marks.length, this.table.slots());
    for (let i = 0; i < n; i++) {
      if (this.marks[i] === 1) continue;
      const path = this.table.livePathAt(i);
      if (path !== undefined && theirs(path) && !notFound.has(path)) this.marks[i] = 1;
    }
  }
  /** Recorded paths not marked: gone from the source (or not seen because unreadable). */
  *unseen(): IterableIterator<string> {
    const n = this.table.slots();
    for (let i = 0; i < n; i++) {
      if (this.marks[i] === 1) continue;
      const path = this.table.livePathAt(i);
      if (path !== undefined) yield path;
    }
  }
  private mark(slot: number): void {
    // Slots added after the comparison began (none while a run compares) are never unseen.
    if (slot < this.marks.length) this.marks[slot] = 1;
  }
}

interface BaseTracking {
  id: string;
  /** Slots changed since the base; undefined once they are too many for a delta. */
  changed: Set<number> | undefined;
  limit: number;
}

/** A delta is written while it names at most this fraction (1/n) of the base's entries; beyond, the manifest is rewritten whole. */
const DELTA_FRACTION = 8;

/** A stored value as a manifest line: read lines as they are, a run's entries encoded now. */
const asLine = (v: string | StateEntry): string => (typeof v === 'string' ? v : encode(v));

export function encode(e: StateEntry): string {
  // join gives one flat string; a template literal would give a rope of a dozen pieces.
  return [asciiJson(e.path), quickKey(e), e.mtime_ns, e.mode, e.uid, e.gid, e.sha256 ?? '', e.since ?? '', e.ino ?? ''].join('\t');
}

/** The entry of one manifest line; a StateError when it is damaged. */
export function decodeLine(line: string): StateEntry {
  const path = StateTable.pathOfLine(line);
  if (path === undefined) throw new StateError(`a line is damaged (${JSON.stringify(line.slice(0, 80))})`);
  return decode(path, line);
}

function decode(path: string, line: string): StateEntry {
  const bad = (why: string) => new StateError(`the entry for ${JSON.stringify(path)} is damaged (${why})`);
  if (!isSafeRelPath(path)) throw bad('unsafe path');
  const f = line.split('\t');
  if (f.length !== 9) throw bad('field count');
  const key = f[1] as string;
  const [mtime_ns, modeText, uid, gid, sha256, since, ino] = f.slice(2) as [string, string, string, string, string, string, string];
  const mode = Number(modeText);
  if (!/^-?\d+$/.test(mtime_ns)) throw bad('mtime');
  const k = key.split(':');
  const tracked = k[1] === '1';
  const uidN = Number(uid);
  const gidN = Number(gid);
  // Object literals of one shape each, not a spread of a shared base: decoding 100k entries with a
  // spread took ~5 µs each, most of a `backup-tool` read.
  let e: StateEntry;
  if (k[0] === 'f' && k.length === 5) {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw bad('sha256');
    e = { path, mtime_ns, uid: uidN, gid: gidN, tracked, type: 'file', size: Number(k[2]), mode, sha256 };
  } else if (k[0] === 'd' && k.length === 3) {
    e = { path, mtime_ns, uid: uidN, gid: gidN, tracked, type: 'dir', size: 0, mode };
  } else if (k[0] === 'l') {
    let target: unknown;
    try {
      target = JSON.parse(key.slice(4));
    } catch {
      throw bad('target');
    }
    if (typeof target !== 'string') throw bad('target');
    e = { path, mtime_ns, uid: uidN, gid: gidN, tracked, type: 'symlink', size: 0, mode, target };
  } else throw bad('key');
  if (!Number.isFinite(e.size) || !Number.isFinite(e.mode) || !Number.isFinite(e.uid) || !Number.isFinite(e.gid)) throw bad('numbers');
  if (since !== '') e.since = since;
  if (ino !== '') e.ino = ino;
  return e;
}

/** A damaged manifest entry: a failure (exit 1) naming the entry, never a stack trace. */
export class StateError extends HardbackError {
  constructor(message: string) {
    super('failure', `the manifest is damaged: ${message}`, { hint: 'run `backup-tool verify`; see docs/format.md' });
  }
}
