/**
 * What hardback records about one entry of the selection. The same shape is used in the manifest
 * (the last backed-up state), in journal lines and in increment.json records.
 */

export type EntryType = 'file' | 'dir' | 'symlink';

export interface Entry {
  /** Relative to src, '/'-separated, never empty, never starting with '/' or holding '..' segments. */
  path: string;
  type: EntryType;
  /** Bytes for files; 0 for folders and symlinks. */
  size: number;
  /** Exact modification time in nanoseconds since the epoch, as a decimal string. */
  mtime_ns: string;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Files only: sha256 of the content, lowercase hex. */
  sha256?: string;
  /** Symlinks only: the link's target, verbatim. */
  target?: string;
  /** Tracked entries keep history (SPEC §1). */
  tracked: boolean;
  /**
   * Files, in the scan and the manifest only: the source's `<dev>:<inode>`. A rename keeps it, so a
   * move is recognised by identity, not only by looks (plan.ts detectMoves).
   */
  ino?: string;
}

/** An entry as the manifest holds it: plus the id of the increment that recorded this version. */
export interface StateEntry extends Entry {
  since?: string;
}

/**
 * An entry as the scan makes it. Every entry object is made here, with all its fields present (the
 * optional ones undefined), so all share one shape that V8 keeps inside the object. A field added
 * later (a run completes each entry it stores with `sha256` and `since`) would instead go to a
 * separate property array: 62 bytes more per entry, 6.3 MB of the 62 MB a 100k-file first run
 * holds at its end (heap snapshot, W1 of bench/).
 */
export function newEntry(
  path: string,
  type: EntryType,
  size: number,
  mtime_ns: string,
  mode: number,
  uid: number,
  gid: number,
  tracked: boolean,
  target: string | undefined,
  ino: string | undefined,
): StateEntry {
  return { path, type, size, mtime_ns, mode, uid, gid, tracked, target, ino, sha256: undefined, since: undefined };
}

/** The same entry in newEntry's shape: for entries that arrive from a worker thread (a deserialized object has its own). */
export function reshaped(e: Entry): StateEntry {
  return newEntry(e.path, e.type, e.size, e.mtime_ns, e.mode, e.uid, e.gid, e.tracked, e.target, e.ino);
}

/** increment.json record: an Entry plus the readable mtime. */
export interface EntryRecord extends Entry {
  mtime: string;
}

/** Readable ISO time of a nanosecond timestamp (millisecond precision). */
export function isoFromNs(ns: string): string {
  return dateFromNs(ns).toISOString();
}

/** The time of a nanosecond timestamp, to the millisecond; the epoch when it is out of range. */
export function dateFromNs(ns: string): Date {
  // Dropping the last six digits of the decimal string divides by 1e6, truncating as a BigInt
  // division would, without one (search shows tens of thousands of versions).
  const head = ns.slice(0, -6);
  const d = new Date(head === '' || head === '-' ? 0 : Number(head));
  return Number.isNaN(d.getTime()) ? new Date(0) : d;
}

export function toRecord(e: Entry): EntryRecord {
  const r: EntryRecord = {
    path: e.path,
    type: e.type,
    size: e.size,
    mtime: isoFromNs(e.mtime_ns),
    mtime_ns: e.mtime_ns,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    tracked: e.tracked,
  };
  if (e.sha256 !== undefined) r.sha256 = e.sha256;
  if (e.target !== undefined) r.target = e.target;
  return r;
}

/**
 * Seconds since the epoch as a float, for utimes. Node cannot set nanoseconds: a double near 1.8e9 s
 * is exact to about 240 ns, and libuv truncates. Aiming at the middle of the source's microsecond
 * keeps the result inside that microsecond (and so inside its millisecond) whichever way the double
 * rounds; aiming at the exact value could land 1 ns early and show a millisecond less.
 */
export function secondsFromNs(ns: string): number {
  const n = BigInt(ns);
  let sec = n / 1_000_000_000n;
  let frac = n % 1_000_000_000n;
  if (frac < 0n) {
    sec -= 1n;
    frac += 1_000_000_000n;
  }
  return Number(sec) + Number((frac / 1000n) * 1000n + 500n) / 1e9;
}
