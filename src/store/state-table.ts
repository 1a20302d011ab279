import type { StateEntry } from '../meta/entry.js';
import { isSafeRelPath } from '../meta/safe-path.js';
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
 * An entry a run sets is kept as the object it gave (it must not change it afterwards) and encoded
 * only when the manifest is written: the run holds those objects anyway (for increment.json), so a
 * 100k-file run does not hold each entry a second time as a line.
 */
export class StateTable implements Map<string, StateEntry> {
  private readonly lines: Map<string, string | StateEntry>;

  constructor(lines?: Map<string, string | StateEntry>) {
    this.lines = lines ?? new Map();
  }

  static from(entries: Iterable<StateEntry>): StateTable {
    const t = new StateTable();
    for (const e of entries) t.set(e.path, e);
    return t;
  }

  /** Parses one manifest line; undefined when it is malformed or its path is unsafe. */
  static parseLine(line: string): { path: string; line: string } | undefined {
    const tab = line.indexOf('\t');
    if (tab < 2 || line.charCodeAt(0) !== 34 /* " */) return undefined;
    const raw = line.slice(1, tab - 1);
    let path: string;
    if (raw.includes('\\')) {
      try {
        path = JSON.parse(line.slice(0, tab)) as string;
      } catch {
        return undefined;
      }
    } else path = raw;
    return { path, line };
  }

  /**
   * Whether `path` is recorded with exactly this quick key: the no-change test of the scan, made for
   * every entry of the tree, so it compares in place rather than cutting the key out of the line.
   */
  hasQuickKey(path: string, key: string): boolean {
    const line = this.lines.get(path);
    if (line === undefined) return false;
    if (typeof line !== 'string') return quickKey(line) === key;
    const a = line.indexOf('\t') + 1;
    return line.startsWith(key, a) && line.charCodeAt(a + key.length) === 9 /* \t */;
  }

  /** Entries that are not folders, counted from the quick keys without decoding any entry. */
  countNonDirs(): number {
    let n = 0;
    for (const line of this.lines.values()) {
      if (typeof line === 'string' ? line.charCodeAt(line.indexOf('\t') + 1) !== 100 /* d */ : line.type !== 'dir') n++;
    }
    return n;
  }

  /** The encoded lines, for writing the manifest. */
  *encodedLines(): IterableIterator<string> {
    for (const line of this.lines.values()) yield asLine(line);
  }

  /** Each path with its encoded line, without decoding any entry (a reader checks them apart). */
  *encodedEntries(): IterableIterator<[string, string]> {
    for (const [path, line] of this.lines) yield [path, asLine(line)];
  }

  /** The encoded line of one path. */
  encodedLine(path: string): string | undefined {
    const line = this.lines.get(path);
    return line === undefined ? undefined : asLine(line);
  }

  get size(): number {
    return this.lines.size;
  }
  has(path: string): boolean {
    return this.lines.has(path);
  }
  get(path: string): StateEntry | undefined {
    const line = this.lines.get(path);
    return line === undefined || typeof line !== 'string' ? line : decode(path, line);
  }
  set(path: string, entry: StateEntry): this {
    if (entry.path !== path) throw new Error(`state: key ${path} does not match entry ${entry.path}`);
    this.lines.set(path, entry);
    return this;
  }
  /** Stores an already-encoded line (from the manifest file). */
  setLine(path: string, line: string): void {
    this.lines.set(path, line);
  }
  delete(path: string): boolean {
    return this.lines.delete(path);
  }
  clear(): void {
    this.lines.clear();
  }
  keys(): IterableIterator<string> {
    return this.lines.keys();
  }
  *values(): IterableIterator<StateEntry> {
    for (const [path, line] of this.lines) yield typeof line === 'string' ? decode(path, line) : line;
  }
  *entries(): IterableIterator<[string, StateEntry]> {
    for (const [path, line] of this.lines) yield [path, typeof line === 'string' ? decode(path, line) : line];
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

/** A stored value as a manifest line: read lines as they are, a run's entries encoded now. */
const asLine = (v: string | StateEntry): string => (typeof v === 'string' ? v : encode(v));

export function encode(e: StateEntry): string {
  // join gives one flat string; a template literal would give a rope of a dozen pieces.
  return [asciiJson(e.path), quickKey(e), e.mtime_ns, e.mode, e.uid, e.gid, e.sha256 ?? '', e.since ?? '', e.ino ?? ''].join('\t');
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
