import type { StateEntry } from '../meta/entry.js';
import { isSafeRelPath, topLevelName } from '../meta/safe-path.js';
import { HardbackError } from '../io/errors.js';
import { asciiJson } from '../meta/ascii-json.js';
import { quickKey } from '../plan/compare.js';
import { isIncrementId } from './ids.js';
import { keyHashes, pathHashes } from './line-hashes.js';

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
 * No object per entry: a line is kept where it was read, as a range of the manifest's text (the
 * reader's 1 MiB chunks, which V8 keeps outside the heap), and found through an index of typed
 * arrays: per slot its text, start, key and end offsets and the hash of its path; a hash table of
 * slots by path. A line a run stores (or a delta brings) is a string of its own. So reading the
 * manifest leaves almost nothing on the heap for the collector to carry, where a Map of 100k paths
 * to 100k line strings held ~12 MB of small objects, and grew V8's young generation as it read
 * (bench/HISTORY.md, "What changed in session 6").
 *
 * Paths are compared in their canonical JSON form (asciiJson): a line whose path is written
 * otherwise (escapes a writer of ours does not make) is re-encoded when it is added.
 *
 * Each path has a slot (an index into the columns, in the order paths were added): the slot numbers
 * are what a comparison marks (StateComparison) and what the delta against the manifest base
 * remembers (store/manifest.ts). A slot keeps its path after a deletion (the delta names it), and a
 * path stored again takes its slot back.
 */
/** Where a manifest's index is read to (StateTable.indexColumns). */
export interface IndexColumns {
  hashes: Int32Array;
  buckets: Int32Array | undefined;
}

export class StateTable implements Map<string, StateEntry> {
  /** Texts shared by many lines (chunks of a manifest as read): text index t ≥ 0. */
  private readonly texts: string[] = [];
  /** Lines of their own (stored by a run, or from a delta): text index t < 0 is own[-1 - t]. */
  private readonly own: string[] = [];
  // Per slot: its text, where its line starts, where its quick key starts (after the first tab),
  // where it ends (exclusive, before the newline), its path's hash, and whether it is live.
  private tx: Int32Array;
  private start: Int32Array;
  private keyPos: Int32Array;
  private end: Int32Array;
  private hashes: Int32Array;
  private live: Uint8Array;
  private n = 0;
  private liveCount = 0;
  /** Live slots whose entry is a folder (countNonDirs: the mass-deletion guard asks on every run that deletes). */
  private dirCount = 0;
  /** Open addressing: slot + 1 per bucket, 0 for an empty one; at most three quarters full. */
  private buckets: Int32Array;
  /** The manifest base this table was read from: what a delta is written against (store/manifest.ts). */
  private base: BaseTracking | undefined;
  /** Entries below each top-level name, kept up to date from the recorded counts (only a hint: scan/parallel.ts). */
  private top: Map<string, number> | undefined;
  /** Whether a line was re-encoded as it was added (its path not written as asciiJson writes it): no index then. */
  private reencoded = false;

  /**
   * `slots`: room for this many paths before the columns grow (the manifest's reader gives its
   * entry count and some room for the run's new paths: growing doubles nothing, but copies the
   * columns while both old and new are held).
   */
  constructor(slots = INITIAL_SLOTS) {
    const n = Math.max(INITIAL_SLOTS, Math.min(Math.ceil(slots), MAX_PRESIZED_SLOTS));
    this.tx = new Int32Array(n);
    this.start = new Int32Array(n);
    this.keyPos = new Int32Array(n);
    this.end = new Int32Array(n);
    this.hashes = new Int32Array(n);
    this.live = new Uint8Array(n);
    this.buckets = new Int32Array(bucketsFor(n));
  }

  /**
   * Drops every entry and the memory that held them, at once: a run that stopped on a fault holds
   * the table of the last state, and recovery reads the manifest again beside it (a W3 run that
   * found the drive full held ~275 MiB of this table's texts while recovery read its own).
   */
  release(): void {
    const empty = new StateTable();
    this.texts.length = 0;
    this.own.length = 0;
    this.tx = empty.tx;
    this.start = empty.start;
    this.keyPos = empty.keyPos;
    this.end = empty.end;
    this.hashes = empty.hashes;
    this.live = empty.live;
    this.buckets = empty.buckets;
    this.n = 0;
    this.liveCount = 0;
    this.dirCount = 0;
    this.base = undefined;
    this.top = undefined;
    this.reencoded = false;
  }

  static from(entries: Iterable<StateEntry>): StateTable {
    const t = new StateTable();
    for (const e of entries) t.set(e.path, e);
    return t;
  }

  /** Parses one manifest line; undefined when it is malformed (its path is re-checked when it is decoded). */
  static pathOfLine(line: string): string | undefined {
    return StateTable.pathAt(line, 0, line.length);
  }

  /** The path of the line text[start, end); undefined when it is malformed. */
  static pathAt(text: string, start: number, end: number): string | undefined {
    const tab = text.indexOf('\t', start);
    if (tab < start + 2 || tab >= end || text.charCodeAt(start) !== 34 /* " */ || text.charCodeAt(tab - 1) !== 34) return undefined;
    for (let i = start + 1; i < tab - 1; i++) if (!isPlain(text.charCodeAt(i))) return jsonString(text.slice(start, tab));
    return text.slice(start + 1, tab - 1);
  }

  /** One comparison of the source with this state (the scan, then the plan), marking what it finds. */
  compare(): StateComparison {
    return new StateComparison(this);
  }

  /** @internal StateComparison's access to the slots: the live slot of `path`. */
  slot(path: string): number | undefined {
    const slot = this.find(path);
    return slot >= 0 && this.live[slot] === 1 ? slot : undefined;
  }
  /**
   * @internal Whether the slot is recorded with exactly this quick key: the no-change test of the
   * scan, made for every entry of the tree, so it compares in place rather than cutting the key out
   * of the line.
   */
  keyAt(slot: number, key: string): boolean {
    const text = this.textOf(slot);
    const a = this.keyPos[slot] as number;
    return text.startsWith(key, a) && text.charCodeAt(a + key.length) === 9; /* \t */
  }
  /**
   * @internal Whether `slot` is a live slot of `path`, compared in place. Only a path without a
   * backslash: then a range equal to it is written without escapes, so it is that path's own line (in
   * canonical JSON every character that needs one is escaped with a backslash).
   */
  isPathOf(slot: number, path: string): boolean {
    if (slot >= this.n || this.live[slot] !== 1) return false;
    const from = (this.start[slot] as number) + 1;
    return (this.keyPos[slot] as number) - 2 - from === path.length && this.textOf(slot).startsWith(path, from) && !path.includes('\\');
  }
  /** @internal */
  slots(): number {
    return this.n;
  }
  /**
   * @internal Sets marks[slot] for each live slot below `n` whose path lies below one of the
   * top-level `names`. The lines of one top-level folder mostly follow each other, so its name is cut
   * out and looked up once per run of them, not once per line (~10 ms of a 100k-entry scan).
   */
  markBelowTopLevel(names: ReadonlySet<string>, marks: Uint8Array, n: number): void {
    let raw = ''; // the last top-level name, as written in the line (escaped)
    let inNames = false;
    for (let slot = 0; slot < n; slot++) {
      if (this.live[slot] !== 1 || marks[slot] === 1) continue;
      const text = this.textOf(slot);
      const from = (this.start[slot] as number) + 1;
      const to = (this.keyPos[slot] as number) - 2;
      const after = from + raw.length;
      if (!(raw !== '' && after <= to && text.startsWith(raw, from) && (after === to || text.charCodeAt(after) === 47) /* / */)) {
        const slash = text.indexOf('/', from);
        raw = text.slice(from, slash < 0 || slash > to ? to : slash);
        inNames = names.has(rawPath(raw));
      }
      if (inNames) marks[slot] = 1;
    }
  }
  /**
   * @internal Whether the line of `slot` matches `re` as a whole, tested where it lies: `re` is
   * sticky (y), cannot match past a line's newline, and ends with `(?=\n|$)` (a line in a chunk as
   * read is followed by its newline there; one kept on its own, or read across two chunks, ends its
   * text). A reader checks every line so, without a copy of each.
   */
  lineMatches(slot: number, re: RegExp): boolean {
    if (!re.sticky) throw new Error('state: lineMatches needs a sticky pattern');
    re.lastIndex = this.start[slot] as number;
    return re.test(this.textOf(slot)) && re.lastIndex === this.end[slot];
  }
  /** @internal The `since` field of the line of `slot`, undefined when it has none (the reader's `since` set). */
  sinceAt(slot: number): string | undefined {
    const text = this.textOf(slot);
    const b = text.lastIndexOf('\t', (this.end[slot] as number) - 1);
    const a = text.lastIndexOf('\t', b - 1);
    return a + 1 < b ? text.slice(a + 1, b) : undefined;
  }
  /** @internal The path of a live slot, undefined for a deleted one. */
  livePathAt(slot: number): string | undefined {
    return this.live[slot] === 1 ? this.pathOf(slot) : undefined;
  }

  /**
   * Entries that are not folders. Kept as lines come and go (a look at each line's quick key): counting
   * them over a 100k-entry table cost 6 ms of every run that deletes 20 files or more.
   */
  countNonDirs(): number {
    return this.liveCount - this.dirCount;
  }

  /** The encoded lines, for writing the manifest. */
  *encodedLines(): IterableIterator<string> {
    for (let i = 0; i < this.n; i++) if (this.live[i] === 1) yield this.lineOf(i);
  }

  /**
   * The manifest's lines, newline-terminated, in as few pieces as they allow: lines that follow each
   * other in one text as read are one piece (a whole manifest rewritten after a small change is
   * mostly a few dozen slices of what was read).
   */
  *linePieces(): IterableIterator<string> {
    let run = -1; // the text index of the run of lines being gathered, -1 for none
    let from = 0;
    let to = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.live[i] !== 1) continue;
      const t = this.tx[i] as number;
      const s = this.start[i] as number;
      const e = this.end[i] as number;
      const text = t >= 0 ? (this.texts[t] as string) : undefined;
      if (t === run && s === to + 1 && text?.charCodeAt(e) === 10) {
        to = e;
        continue;
      }
      if (run >= 0) yield (this.texts[run] as string).slice(from, to + 1);
      run = -1;
      if (text?.charCodeAt(e) === 10 /* \n */) {
        run = t;
        from = s;
        to = e;
      } else yield `${this.lineOf(i)}\n`;
    }
    if (run >= 0) yield (this.texts[run] as string).slice(from, to + 1);
  }

  /** The encoded line of one path. */
  encodedLine(path: string): string | undefined {
    const slot = this.slot(path);
    return slot === undefined ? undefined : this.lineOf(slot);
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

  /** The base and the paths changed since it (each once, in slot order); undefined when the table must be written whole. */
  delta(): { baseId: string; changes: IterableIterator<{ path: string; line: string | undefined }> } | undefined {
    const base = this.base;
    if (base?.changed === undefined) return undefined;
    const slots = [...base.changed].sort((a, b) => a - b);
    const self = this;
    function* changes(): IterableIterator<{ path: string; line: string | undefined }> {
      for (const s of slots) yield { path: self.pathOf(s), line: self.live[s] === 1 ? self.lineOf(s) : undefined };
    }
    return { baseId: base.id, changes: changes() };
  }

  /** The id of the manifest base this table was read from (null when none: a format 1 manifest, or none at all). */
  baseId(): string | null {
    return this.base?.id ?? null;
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

  private count(slot: number, by: number): void {
    if (this.top === undefined) return;
    const name = topLevelName(this.pathOf(slot));
    this.top.set(name, (this.top.get(name) ?? 0) + by);
  }

  // --- the manifest's index (store/manifest-index.ts) ---

  /**
   * @internal Adds the line text[start, end) of a manifest read through its index, as the next slot:
   * `h` is its path's hash as the index holds it, and nothing is probed (the index's buckets are
   * adopted once every line is in, or built from the hashes: hashAdopted). False, and nothing added,
   * when the line is not shaped as a line there: the index is then not used.
   */
  adoptLineAt(text: string, start: number, end: number, h: number): boolean {
    const tab = text.indexOf('\t', start);
    if (tab < start + 2 || tab >= end || text.charCodeAt(start) !== 34 /* " */ || text.charCodeAt(tab - 1) !== 34) return false;
    if (this.n === this.tx.length) this.grow();
    const slot = this.n++;
    this.tx[slot] = this.textIndex(text);
    this.start[slot] = start;
    this.keyPos[slot] = tab + 1;
    this.end[slot] = end;
    this.hashes[slot] = h;
    this.live[slot] = 1;
    this.liveCount++;
    if (text.charCodeAt(tab + 1) === 100 /* d */) this.dirCount++;
    return true;
  }
  /**
   * @internal Where a manifest's index is read to (store/manifest-index.ts readIndexParts), before
   * any line is added: for the whole manifest (`whole`), this table's own hash column (its slots are
   * the lines) and buckets; for a part, an array of the hashes of its own, and no buckets (the part
   * builds its own: hashAdopted). Undefined when the table cannot hold them (another bucket count).
   */
  indexColumns(entries: number, buckets: number, whole: boolean): IndexColumns | undefined {
    if (!whole) return { hashes: new Int32Array(entries), buckets: undefined };
    if (this.n !== 0) return undefined;
    // Grown as a full read would have grown it (past MAX_PRESIZED_SLOTS), so the bucket counts match.
    while (this.tx.length < entries) this.grow();
    if (buckets !== this.buckets.length) return undefined;
    return { hashes: this.hashes.subarray(0, entries), buckets: this.buckets };
  }
  /** @internal Whether each bucket, as an index gave them, is empty or names a slot the table has. */
  bucketsHold(): boolean {
    const buckets = this.buckets;
    const n = this.n;
    for (let b = 0; b < buckets.length; b++) {
      const v = buckets[b] as number;
      if (v < 0 || v > n) return false;
    }
    return true;
  }
  /**
   * @internal Whether the hashes adoptLineAt was given are those of the lines' paths, for some of
   * them (every 4,096th and the last: ~25 at 100k entries): an index whose writer hashed otherwise
   * (a change of the hash without a new index format) is not used.
   */
  hashesHold(): boolean {
    const holds = (slot: number): boolean => pathHash(this.pathOf(slot)) === this.hashes[slot];
    const last = this.n - 1;
    for (let slot = 0; slot < last; slot += 4096) if (!holds(slot)) return false;
    return last < 0 || holds(last);
  }
  /**
   * @internal The buckets, built from the hashes of the lines adoptLineAt added: when they are some of
   * an index's lines only (a scan thread's share), whose buckets are of all of them.
   */
  hashAdopted(): void {
    const buckets = this.buckets;
    buckets.fill(0);
    const mask = buckets.length - 1;
    for (let slot = 0; slot < this.n; slot++) {
      let b = (this.hashes[slot] as number) & mask;
      while (buckets[b] !== 0) b = (b + 1) & mask;
      buckets[b] = slot + 1;
    }
  }
  /**
   * @internal What an index of the lines added so far holds (copies): each one's path hash and the
   * buckets. Undefined when a line was re-encoded: its slot does not hold the text the index's
   * reader would find in the file.
   */
  indexOfLines(seed: number): { hashes: Int32Array; buckets: Int32Array; checks: Int32Array; keys: Int32Array } | undefined {
    if (this.reencoded) return undefined;
    // And what the scan's worker compares with (store/hashed-state.ts): each path's second hash, and
    // the two of its quick key, hashed where the line holds them (keyAt's key: up to the next tab;
    // a line with none after its key is damage, which no index hides).
    const checks = new Int32Array(this.n);
    const keys = new Int32Array(2 * this.n);
    const both = new Int32Array(2);
    for (let slot = 0; slot < this.n; slot++) {
      const text = this.textOf(slot);
      const from = (this.start[slot] as number) + 1;
      const to = (this.keyPos[slot] as number) - 2;
      // Hashed as written; an escaped path again, decoded.
      if (pathHashes(text, from, to, seed, both, 0)) {
        const path = this.pathOf(slot);
        pathHashes(path, 0, path.length, seed, both, 0);
      }
      checks[slot] = both[1] as number;
      const k = this.keyPos[slot] as number;
      const tab = text.indexOf('\t', k);
      if (tab < 0 || tab >= (this.end[slot] as number)) return undefined;
      keyHashes(text, k, tab, seed, keys, 2 * slot);
    }
    return { hashes: this.hashes.slice(0, this.n), buckets: this.buckets.slice(), checks, keys };
  }

  // --- Map ---

  get size(): number {
    return this.liveCount;
  }
  has(path: string): boolean {
    return this.slot(path) !== undefined;
  }
  get(path: string): StateEntry | undefined {
    const slot = this.slot(path);
    return slot === undefined ? undefined : this.valueAt(slot);
  }
  /** @internal */
  valueAt(slot: number): StateEntry {
    return decode(this.pathOf(slot), this.lineOf(slot));
  }
  set(path: string, entry: StateEntry): this {
    if (entry.path !== path) throw new Error(`state: key ${path} does not match entry ${entry.path}`);
    this.keep(entry);
    return this;
  }
  /**
   * Keeps an entry a run stored, encoded as its manifest line at once: the run lets the object go
   * (increment.json's records are decoded from these lines), so a run that stores many entries (a
   * big move) holds one string per entry, not an object with half a dozen strings of its own.
   */
  keep(entry: StateEntry): void {
    this.setLine(entry.path, encode(entry));
  }
  /** Stores an already-encoded line of `path` (from a delta, or encoded by `keep`). */
  setLine(path: string, line: string): void {
    const h = pathHash(path);
    const plain = hashedPlain;
    // Lines are kept with their path in canonical form, which lookups compare with.
    const tab = line.indexOf('\t');
    if (tab < 0) throw new Error(`state: not a manifest line for ${path}`);
    if (line.charCodeAt(0) !== 34 || line.charCodeAt(tab - 1) !== 34 || !isPathAt(line, 1, tab - 1, path, plain)) line = asciiJson(path) + line.slice(tab);
    const slot = this.findPath(path, h, plain);
    if (slot < 0) this.append(line, h);
    else this.replace(slot, line);
  }
  /**
   * setLine for the line text[start, end) of a delta (the manifest's reader), its path read where it
   * is, as addLineAt reads a base line's: a path that needs no escape is hashed and compared in the
   * text, where setLine made it a string, hashed it, and compared it twice. readManifest of the
   * search benchmark's backup (104,000 entries, a delta of 9,430 lines), 8 alternating fresh
   * processes: median ~231 → ~219 ms (session 26). 'damaged' when the line has no readable path.
   */
  putLineAt(text: string, start: number, end: number): 'put' | 'damaged' {
    return this.lineAt(text, start, end, true) === 'damaged' ? 'damaged' : 'put';
  }
  /**
   * Adds the line of a path not yet in the table (reading a manifest whole). False when the path was
   * already there (a damaged manifest): the table is then to be dropped.
   */
  addLine(path: string, line: string): boolean {
    if (StateTable.pathOfLine(line) !== path) throw new Error(`state: line does not match ${path}`);
    return this.addLineAt(line, 0, line.length) === 'added';
  }
  /**
   * Adds the line text[start, end) where it is, without copying it (the manifest's reader: `text` is
   * one of its chunks, and ends each line with a newline). 'repeat' when its path is already in the
   * table, 'damaged' when it has no readable path.
   */
  addLineAt(text: string, start: number, end: number): 'added' | 'repeat' | 'damaged' {
    return this.lineAt(text, start, end, false);
  }
  /**
   * The line text[start, end), kept where it is: addLineAt's, or with `put` putLineAt's, which
   * replaces the line of a path already in the table where addLineAt refuses it ('repeat').
   */
  private lineAt(text: string, start: number, end: number, put: boolean): 'added' | 'repeat' | 'damaged' {
    const tab = text.indexOf('\t', start);
    if (tab < start + 2 || tab >= end || text.charCodeAt(start) !== 34 /* " */ || text.charCodeAt(tab - 1) !== 34) return 'damaged';
    let h = FNV_OFFSET;
    for (let i = start + 1; i < tab - 1; i++) {
      const c = text.charCodeAt(i);
      if (!isPlain(c)) return this.escapedLineAt(text, start, tab, end, put);
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    const slot = this.findRange(text, start + 1, tab - 1, h);
    if (slot < 0) this.appendAt(this.textIndex(text), start, tab + 1, end, h);
    else if (this.live[slot] === 1 && !put) return 'repeat';
    else this.replace(slot, text.slice(start, end)); // a deleted path back, or a delta's change
    return 'added';
  }
  /**
   * lineAt for a path with escapes (or characters JSON does not allow as they are): its path is
   * decoded, and the line re-encoded when it is not written the way asciiJson writes it.
   */
  private escapedLineAt(text: string, start: number, tab: number, end: number, put: boolean): 'added' | 'repeat' | 'damaged' {
    const path = jsonString(text.slice(start, tab));
    if (path === undefined) return 'damaged';
    const h = pathHash(path);
    const plain = hashedPlain;
    const slot = this.findPath(path, h, plain);
    if (slot >= 0 && this.live[slot] === 1 && !put) return 'repeat';
    const canonical = !plain && isPathAt(text, start + 1, tab - 1, path, false);
    if (slot >= 0) this.replace(slot, canonical ? text.slice(start, end) : asciiJson(path) + text.slice(tab, end));
    else if (canonical) this.appendAt(this.textIndex(text), start, tab + 1, end, h);
    else {
      this.append(asciiJson(path) + text.slice(tab, end), h);
      this.reencoded = true;
    }
    return 'added';
  }
  delete(path: string): boolean {
    const slot = this.slot(path);
    if (slot === undefined) return false;
    this.live[slot] = 0;
    this.liveCount--;
    if (this.isDirAt(slot)) this.dirCount--;
    this.count(slot, -1);
    this.changed(slot);
    return true;
  }
  clear(): void {
    for (const path of [...this.keys()]) this.delete(path);
  }
  *keys(): IterableIterator<string> {
    for (let i = 0; i < this.n; i++) if (this.live[i] === 1) yield this.pathOf(i);
  }
  *values(): IterableIterator<StateEntry> {
    for (let i = 0; i < this.n; i++) if (this.live[i] === 1) yield this.valueAt(i);
  }
  *entries(): IterableIterator<[string, StateEntry]> {
    for (let i = 0; i < this.n; i++) if (this.live[i] === 1) yield [this.pathOf(i), this.valueAt(i)];
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

  // --- slots and their lines ---

  /** @internal Whether the slot's line records a file (its quick key starts with "f"). */
  isFileAt(slot: number): boolean {
    return this.textOf(slot).charCodeAt(this.keyPos[slot] as number) === 102; /* f */
  }
  /** Whether the slot's line records a folder (its quick key starts with "d"). */
  private isDirAt(slot: number): boolean {
    return this.textOf(slot).charCodeAt(this.keyPos[slot] as number) === 100; /* d */
  }
  private textOf(slot: number): string {
    const t = this.tx[slot] as number;
    return (t >= 0 ? this.texts[t] : this.own[-1 - t]) as string;
  }
  private lineOf(slot: number): string {
    const text = this.textOf(slot);
    const s = this.start[slot] as number;
    const e = this.end[slot] as number;
    return s === 0 && e === text.length ? text : text.slice(s, e);
  }
  private pathOf(slot: number): string {
    const text = this.textOf(slot);
    const s = this.start[slot] as number;
    return rawPath(text.slice(s + 1, (this.keyPos[slot] as number) - 2));
  }
  /** The index of a chunk's text, the last one added when it is the same (lines come in order). */
  private textIndex(text: string): number {
    const last = this.texts.length - 1;
    if (last >= 0 && this.texts[last] === text) return last;
    this.texts.push(text);
    return last + 1;
  }

  /** The slot of `path` (live or not), -1 when it never had one. */
  private find(path: string): number {
    const h = pathHash(path);
    return this.findPath(path, h, hashedPlain);
  }
  /** The slot of `path`, whose hash is h and which is `plain` when it needs no escape; -1 when none. */
  private findPath(path: string, h: number, plain: boolean): number {
    const mask = this.buckets.length - 1;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const v = this.buckets[b] as number;
      if (v === 0) return -1;
      const slot = v - 1;
      if (this.hashes[slot] !== h) continue;
      if (isPathAt(this.textOf(slot), (this.start[slot] as number) + 1, (this.keyPos[slot] as number) - 2, path, plain)) return slot;
    }
  }
  /** The slot whose path needs no escape and is text[from, to), with hash h; -1 when none. */
  private findRange(text: string, from: number, to: number, h: number): number {
    const mask = this.buckets.length - 1;
    const len = to - from;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const v = this.buckets[b] as number;
      if (v === 0) return -1;
      const slot = v - 1;
      if (this.hashes[slot] !== h) continue;
      const p = (this.start[slot] as number) + 1;
      if ((this.keyPos[slot] as number) - 2 - p === len && sameRange(this.textOf(slot), p, text, from, len)) return slot;
    }
  }

  private append(line: string, h: number): void {
    this.own.push(line);
    this.appendAt(-this.own.length, 0, line.indexOf('\t') + 1, line.length, h);
  }
  private appendAt(t: number, start: number, keyPos: number, end: number, h: number): number {
    if (this.n === this.tx.length) this.grow();
    const slot = this.n++;
    this.tx[slot] = t;
    this.start[slot] = start;
    this.keyPos[slot] = keyPos;
    this.end[slot] = end;
    this.hashes[slot] = h;
    this.live[slot] = 1;
    this.liveCount++;
    if (this.isDirAt(slot)) this.dirCount++;
    const mask = this.buckets.length - 1;
    let b = h & mask;
    while (this.buckets[b] !== 0) b = (b + 1) & mask;
    this.buckets[b] = slot + 1;
    this.count(slot, 1);
    this.changed(slot);
    return slot;
  }
  /** A new line for a slot that has one (or had one: a deleted path stored again). */
  private replace(slot: number, line: string): void {
    if (this.live[slot] === 1 && this.isDirAt(slot)) this.dirCount--;
    const t = this.tx[slot] as number;
    if (t < 0) this.own[-1 - t] = line;
    else {
      this.own.push(line);
      this.tx[slot] = -this.own.length;
    }
    this.start[slot] = 0;
    this.keyPos[slot] = line.indexOf('\t') + 1;
    this.end[slot] = line.length;
    if (this.isDirAt(slot)) this.dirCount++;
    if (this.live[slot] === 0) {
      this.live[slot] = 1;
      this.liveCount++;
      this.count(slot, 1);
    }
    this.changed(slot);
  }
  private grow(): void {
    const size = Math.ceil(this.tx.length * 1.5);
    this.tx = widened(this.tx, size);
    this.start = widened(this.start, size);
    this.keyPos = widened(this.keyPos, size);
    this.end = widened(this.end, size);
    this.hashes = widened(this.hashes, size);
    this.live = widened(this.live, size);
    const want = bucketsFor(size);
    if (want === this.buckets.length) return;
    const buckets = new Int32Array(want);
    const mask = buckets.length - 1;
    for (let slot = 0; slot < this.n; slot++) {
      let b = (this.hashes[slot] as number) & mask;
      while (buckets[b] !== 0) b = (b + 1) & mask;
      buckets[b] = slot + 1;
    }
    this.buckets = buckets;
  }
}

const INITIAL_SLOTS = 1024;
/** A count given to the constructor is a hint (a manifest's header, untrusted): no more is set aside. */
const MAX_PRESIZED_SLOTS = 1 << 21;
/** Buckets for `slots` slots: a power of two, at most three quarters full. */
const bucketsFor = (slots: number): number => 2 ** Math.ceil(Math.log2(Math.ceil((slots * 4) / 3)));
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** A character asciiJson writes as it is inside a string: printable ASCII but the quote and the backslash. */
const isPlain = (c: number): boolean => c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c;

/** Set by pathHash: whether the path it hashed needs no escape in JSON. */
let hashedPlain = true;

/** A column copied into a new one of `size` elements, of its kind (the columns' growth: here and in store/hashed-state.ts). */
export function widened<A extends Int32Array | Uint8Array>(a: A, size: number): A {
  const b = (a instanceof Int32Array ? new Int32Array(size) : new Uint8Array(size)) as A;
  b.set(a);
  return b;
}

/** A path (or a part of one) as written between a line's quotes, decoded. */
function rawPath(raw: string): string {
  // Lines are checked when added: a path with a backslash is valid JSON, in canonical form.
  return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
}

/**
 * FNV-1a over the path's UTF-16 units (a path that needs no escape hashes the same as its text in a
 * line, which is how a manifest's plain lines are hashed as they are read); sets hashedPlain. No
 * allocation: it runs for every entry of every scan. The hash the table's buckets and the manifest's
 * index use (store/line-hashes.ts pathHashes computes it too, beside a second one).
 */
export function pathHash(path: string): number {
  let h = FNV_OFFSET;
  let plain = true;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (plain && !isPlain(c)) plain = false;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  hashedPlain = plain;
  return h;
}

/**
 * Whether text[from, to) is `path` as asciiJson writes it inside its quotes, compared without
 * building that form: each character is itself when plain, else its escape, which depends on the
 * character alone (JSON.stringify's \" \\ \b \t \n \f \r, \u00xx below 0x20; asciiJson's \uxxxx from
 * 0x7f, each UTF-16 unit apart; lower-case hex).
 */
function isPathAt(text: string, from: number, to: number, path: string, plain: boolean): boolean {
  if (plain) return to - from === path.length && text.startsWith(path, from);
  let i = from;
  for (let k = 0; k < path.length; k++) {
    const c = path.charCodeAt(k);
    if (isPlain(c)) {
      if (i >= to || text.charCodeAt(i) !== c) return false;
      i++;
      continue;
    }
    if (i + 2 > to || text.charCodeAt(i) !== 92 /* \ */) return false;
    const short = c < SHORT_ESCAPE.length ? (SHORT_ESCAPE[c] as number) : 0;
    if (short !== 0) {
      if (text.charCodeAt(i + 1) !== short) return false;
      i += 2;
      continue;
    }
    if (i + 6 > to || text.charCodeAt(i + 1) !== 117 /* u */) return false;
    for (let shift = 12, j = i + 2; shift >= 0; shift -= 4, j++) if (text.charCodeAt(j) !== HEX[(c >> shift) & 15]) return false;
    i += 6;
  }
  return i === to;
}

/** The one-letter escapes of JSON.stringify, by character code (0: none, \uXXXX). */
const SHORT_ESCAPE: readonly number[] = (() => {
  const t = new Array<number>(0x5d).fill(0);
  for (const [c, e] of [[0x22, '"'], [0x5c, '\\'], [0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r']] as const) t[c] = e.charCodeAt(0);
  return t;
})();
const HEX: readonly number[] = [...'0123456789abcdef'].map((ch) => ch.charCodeAt(0));

function sameRange(a: string, ai: number, b: string, bi: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a.charCodeAt(ai + k) !== b.charCodeAt(bi + k)) return false;
  return true;
}

/** A JSON string's value; undefined when `json` is not one. */
function jsonString(json: string): string | undefined {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which recorded entries the source still has: the scan marks what it finds unchanged (hasQuickKey),
 * the plan what it finds changed (found); whatever is left unmarked (unseen) is gone from the source.
 * A mark per slot, so a run with deletions needs no set of its 100k paths.
 */
export class StateComparison {
  private readonly marks: Uint8Array;
  /** The slot after the last one hasQuickKey found: the next path the scan asks for, most often. */
  private next = 0;
  constructor(readonly table: StateTable) {
    this.marks = new Uint8Array(table.slots());
  }
  /**
   * Whether `path` is recorded with exactly `key` (then marked). The manifest's lines are in the order
   * a walk found them, and the scan walks in that order too, so the slot after the last one found is
   * tried first: its path compared in place, with no hash and no probe of the index (it misses for a
   * folder, asked at its end, and the path after it; the lookups of a 100k-file scan took 42–47 ms
   * against 77–114 ms on one thread).
   */
  hasQuickKey(path: string, key: string): boolean {
    const slot = this.table.isPathOf(this.next, path) ? this.next : this.table.slot(path);
    if (slot === undefined) return false;
    this.next = slot + 1;
    if (!this.table.keyAt(slot, key)) return false;
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
   * Marks the recorded paths below the top-level `names` another thread compared, but for the ones
   * it did not find: its `unseen` (scan/parallel.ts). Nothing below those names may be marked here
   * yet (this thread did not walk them).
   */
  foundElsewhere(names: ReadonlySet<string>, notFound: Iterable<string>): void {
    const n = Math.min(this.marks.length, this.table.slots());
    this.table.markBelowTopLevel(names, this.marks, n);
    for (const path of notFound) {
      if (!names.has(topLevelName(path))) continue;
      const slot = this.table.slot(path);
      if (slot !== undefined && slot < n) this.marks[slot] = 0;
    }
  }
  /**
   * Marks what the scan's worker found, comparing with the same manifest through its hashes
   * (store/hashed-state.ts): its marks, one per slot of its state (`slots` of them, `live` paths,
   * of the base `base`), numbered as this table numbers them. False, and nothing marked, when they
   * cannot be of this table (another count of slots or of paths, or another base).
   */
  foundByWorker(marks: Uint8Array, slots: number, base: string | null, live: number): boolean {
    if (slots !== this.marks.length || marks.length !== slots || base !== this.table.baseId() || live !== this.table.size) return false;
    for (let i = 0; i < slots; i++) if (marks[i] === 1) this.marks[i] = 1;
    return true;
  }
  /**
   * The recorded files marked found so far but for the paths in `except`, each decoded when asked
   * for. Before the plan, marked are the files the scan found exactly as recorded and the entries
   * the scan's worker sent (foundElsewhere): --checksum hashes the former, the scanned entries being
   * `except` (apply/run.ts), without an entry per file held for the whole run.
   */
  foundFiles(except: ReadonlySet<string>): { count: number; at(k: number): StateEntry } {
    const slots: number[] = [];
    const n = Math.min(this.marks.length, this.table.slots());
    for (let i = 0; i < n; i++) {
      if (this.marks[i] !== 1 || !this.table.isFileAt(i)) continue;
      if (except.size > 0 && except.has(this.table.livePathAt(i) as string)) continue;
      slots.push(i);
    }
    return { count: slots.length, at: (k) => this.table.valueAt(slots[k] as number) };
  }
  /** Recorded paths not marked: gone from the source (or not seen because unreadable). */
  *unseen(): IterableIterator<string> {
    const n = Math.min(this.marks.length, this.table.slots());
    for (let i = 0; i < n; i++) {
      if (this.marks[i] === 1) continue;
      const path = this.table.livePathAt(i);
      if (path !== undefined) yield path;
    }
  }
  private mark(slot: number): void {
    // A comparison is of the table as it was when it began: slots added later are neither marked
    // nor unseen; a deleted path stored again takes its old slot, unmarked, so it is unseen unless
    // found (a run changes the table only after it has compared).
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
  if (!isSafeRelPath(path)) throw damagedEntry(path, 'unsafe path');
  // The fields are cut out where their tabs are, and the key's parts where its colons are, with no
  // array of either: decoding W1's 104,000 lines (a recreate decodes them all) took 377–540 ms with
  // split(), median ~500 ms, and 342–439 ms so, median ~370 ms (10 alternating rounds, entries kept).
  // Regular expressions stay where they are: a loop over the sha256's characters was slower.
  let at = -1;
  for (let i = 0; i < 8; i++) {
    at = line.indexOf('\t', at + 1);
    if (at < 0) throw damagedEntry(path, 'field count');
    TABS[i] = at;
  }
  if (line.indexOf('\t', at + 1) >= 0) throw damagedEntry(path, 'field count');
  const field = (i: number): string => line.slice((TABS[i - 1] as number) + 1, i === 8 ? line.length : TABS[i]);
  const key = field(1);
  const mtime_ns = field(2);
  if (!/^-?\d+$/.test(mtime_ns)) throw damagedEntry(path, 'mtime');
  const mode = Number(field(3));
  const uid = Number(field(4));
  const gid = Number(field(5));
  // The key is <type>:<tracked>:...; its parts are cut at its colons (a symlink's target, JSON, may hold more).
  const type = key.charCodeAt(0);
  const c2 = key.length > 1 && key.charCodeAt(1) === 58 /* : */ ? key.indexOf(':', 2) : -2;
  // tracked: the key's second part is "1" (a key that ends there, "l:1", has no target: refused below).
  const tracked = c2 === 3 && key.charCodeAt(2) === 49; /* 1 */
  // Object literals of one shape each, not a spread of a shared base: decoding 100k entries with a
  // spread took ~5 µs each, most of a `backup-tool` read.
  let e: StateEntry;
  if (type === 102 /* f */ && c2 >= 0 && colons(key, c2 + 1, 2)) {
    const sha256 = field(6);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw damagedEntry(path, 'sha256');
    e = { path, mtime_ns, uid, gid, tracked, type: 'file', size: Number(key.slice(c2 + 1, key.indexOf(':', c2 + 1))), mode, sha256 };
  } else if (type === 100 /* d */ && c2 >= 0 && colons(key, c2 + 1, 0)) {
    e = { path, mtime_ns, uid, gid, tracked, type: 'dir', size: 0, mode };
  } else if (type === 108 /* l */ && c2 !== -2) {
    let target: unknown;
    try {
      target = JSON.parse(key.slice(4));
    } catch {
      throw damagedEntry(path, 'target');
    }
    if (typeof target !== 'string') throw damagedEntry(path, 'target');
    e = { path, mtime_ns, uid, gid, tracked, type: 'symlink', size: 0, mode, target };
  } else throw damagedEntry(path, 'key');
  if (!Number.isFinite(e.size) || !Number.isFinite(e.mode) || !Number.isFinite(e.uid) || !Number.isFinite(e.gid)) throw damagedEntry(path, 'numbers');
  // Both go into journal lines as they are (store/journal.ts entryJson): only their formats pass.
  const since = field(7);
  if (since !== '') {
    if (!isIncrementId(since)) throw damagedEntry(path, 'since');
    e.since = since;
  }
  const ino = field(8);
  if (ino !== '') {
    if (!IDENTITY.test(ino)) throw damagedEntry(path, 'ino');
    e.ino = ino;
  }
  return e;
}

/** Where decode found a line's eight tabs. */
const TABS = new Int32Array(8);

const damagedEntry = (path: string, why: string): StateError => new StateError(`the entry for ${JSON.stringify(path)} is damaged (${why})`);

/** Whether key has exactly n colons from `from` on. */
function colons(key: string, from: number, n: number): boolean {
  let at = from - 1;
  for (let i = 0; i < n; i++) {
    at = key.indexOf(':', at + 1);
    if (at < 0) return false;
  }
  return key.indexOf(':', at + 1) < 0;
}

/** A file's identity as the scan records it (scan/walk.ts identityOf): device, inode and birth time (manifests of earlier builds: device and inode). */
const IDENTITY = /^\d+:\d+(?::\d+)?$/;

/** A damaged manifest entry: a failure (exit 1) naming the entry, never a stack trace. */
export class StateError extends HardbackError {
  constructor(message: string) {
    super('failure', `the manifest is damaged: ${message}`, { hint: 'run `backup-tool verify`; see docs/format.md' });
  }
}
