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
 */
export class StateTable implements Map<string, StateEntry> {
  private readonly lines: Map<string, string>;

  constructor(lines?: Map<string, string>) {
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

  clone(): StateTable {
    return new StateTable(new Map(this.lines));
  }

  /** The predicate inputs recorded for `path`, without decoding the entry. */
  quickKey(path: string): string | undefined {
    const line = this.lines.get(path);
    if (line === undefined) return undefined;
    const a = line.indexOf('\t');
    const b = line.indexOf('\t', a + 1);
    return line.slice(a + 1, b);
  }

  /** Entries that are not folders, counted from the quick keys without decoding any entry. */
  countNonDirs(): number {
    let n = 0;
    for (const line of this.lines.values()) if (line.charCodeAt(line.indexOf('\t') + 1) !== 100 /* d */) n++;
    return n;
  }

  /** The encoded lines, for writing the manifest. */
  encodedLines(): IterableIterator<string> {
    return this.lines.values();
  }

  /** Each path with its encoded line, without decoding any entry (a reader checks them apart). */
  encodedEntries(): IterableIterator<[string, string]> {
    return this.lines.entries();
  }

  /** The encoded line of one path. */
  encodedLine(path: string): string | undefined {
    return this.lines.get(path);
  }

  get size(): number {
    return this.lines.size;
  }
  has(path: string): boolean {
    return this.lines.has(path);
  }
  get(path: string): StateEntry | undefined {
    const line = this.lines.get(path);
    return line === undefined ? undefined : decode(path, line);
  }
  set(path: string, entry: StateEntry): this {
    if (entry.path !== path) throw new Error(`state: key ${path} does not match entry ${entry.path}`);
    this.lines.set(path, encode(entry));
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
    for (const [path, line] of this.lines) yield decode(path, line);
  }
  *entries(): IterableIterator<[string, StateEntry]> {
    for (const [path, line] of this.lines) yield [path, decode(path, line)];
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

export function encode(e: StateEntry): string {
  return `${asciiJson(e.path)}\t${quickKey(e)}\t${e.mtime_ns}\t${e.mode}\t${e.uid}\t${e.gid}\t${e.sha256 ?? ''}\t${e.since ?? ''}\t${e.ino ?? ''}`;
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
