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
 * An entry as the scan makes it. Every entry the scan finds is made here (and every one a scan
 * worker sends is remade here), with all its fields present (the optional ones undefined), so all
 * share one shape that V8 keeps inside the object. A field added later (a run completes each entry
 * it stores with `sha256` and `since`) would instead go to a separate property array: 62 bytes more
 * per entry, 6.3 MB of the 62 MB a 100k-file first run holds at its end (heap snapshot, W1 of bench/).
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
  const ms = msFromNs(ns);
  // Every increment record carries it: formatted here for the years 1970–9999, 3.5× as fast as a
  // Date's toISOString (19 against 66 ms per 100k), which stays for the rest.
  return Number.isInteger(ms) && ms >= 0 && ms < YEAR_10000_MS ? isoFromMs(ms) : dateFromNs(ns).toISOString();
}

/** The time of a nanosecond timestamp, to the millisecond; the epoch when it is out of range. */
export function dateFromNs(ns: string): Date {
  const d = new Date(msFromNs(ns));
  return Number.isNaN(d.getTime()) ? new Date(0) : d;
}

/**
 * Dropping the last six digits of the decimal string divides by 1e6, truncating as a BigInt
 * division would, without one (search shows tens of thousands of versions).
 */
function msFromNs(ns: string): number {
  const head = ns.slice(0, -6);
  return head === '' || head === '-' ? 0 : Number(head);
}

const DAY_MS = 86_400_000;
const YEAR_10000_MS = 253_402_300_800_000;
const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** toISOString of a whole number of milliseconds in [0, year 10000): the civil date of a day count (proleptic Gregorian). */
function isoFromMs(ms: number): string {
  const days = Math.floor(ms / DAY_MS);
  let t = ms - days * DAY_MS;
  // Days since 0000-03-01, in 400-year eras of 146,097 days; March-based years put leap days last.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const milli = t % 1000;
  t = (t - milli) / 1000;
  const sec = t % 60;
  t = (t - sec) / 60;
  const min = t % 60;
  const hour = (t - min) / 60;
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(min)}:${pad2(sec)}.${pad3(milli)}Z`;
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
 * JSON.stringify(toRecord(e)), without making the record: what a run writes for each entry of its
 * increment.json (109 against 149 ms per 100k records). The strings that come from outside
 * (path, target) are escaped by JSON.stringify; mtime_ns (digits), sha256 (hex) and the type are
 * checked formats and need none. The fields are toRecord's, in its order (meta/increment.ts reads
 * records by that layout): a field added there must be added here; records-text.test.ts compares
 * the two on every kind of entry.
 */
export function recordJson(e: Entry): string {
  let s = `{"path":${JSON.stringify(e.path)},"type":"${e.type}","size":${e.size},"mtime":"${isoFromNs(e.mtime_ns)}","mtime_ns":"${e.mtime_ns}","mode":${e.mode},"uid":${e.uid},"gid":${e.gid},"tracked":${e.tracked}`;
  if (e.sha256 !== undefined) s += `,"sha256":"${e.sha256}"`;
  if (e.target !== undefined) s += `,"target":${JSON.stringify(e.target)}`;
  return `${s}}`;
}

/** A non-negative mtime_ns of at least one whole second and at most 15 digits of them (under 2^53). */
const WHOLE_SECONDS = /^[0-9]{10,24}$/;

/**
 * Seconds since the epoch as a float, for utimes. Node cannot set nanoseconds: a double near 1.8e9 s
 * is exact to about 240 ns, and libuv truncates. Aiming at the middle of the source's microsecond
 * keeps the result inside that microsecond (and so inside its millisecond) whichever way the double
 * rounds; aiming at the exact value could land 1 ns early and show a millisecond less.
 */
export function secondsFromNs(ns: string): number {
  // Digits only, with whole seconds under 2^53: the same double from Numbers (each operand below is
  // an exact integer, as in the BigInt form), without BigInts on the copying threads (~80 ms of the
  // worker's time per 100k files, CPU profile).
  if (WHOLE_SECONDS.test(ns)) return Number(ns.slice(0, -9)) + (Number(ns.slice(-9, -3)) * 1000 + 500) / 1e9;
  const n = BigInt(ns);
  let sec = n / 1_000_000_000n;
  let frac = n % 1_000_000_000n;
  if (frac < 0n) {
    sec -= 1n;
    frac += 1_000_000_000n;
  }
  return Number(sec) + Number((frac / 1000n) * 1000n + 500n) / 1e9;
}
