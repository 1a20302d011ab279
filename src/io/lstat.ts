import type { BigIntStats } from 'node:fs';
import { realFs, type Fs } from './fs.js';

/**
 * The lstat of the scan: the fields a walk reads, each converted only when it is read.
 *
 * `fs.lstatSync` builds a stats object with four Date objects (their BigInt divisions included) for
 * every call, and a no-change run of W1 calls it 104,000 times; the scan reads none of those Dates.
 * Node's own binding, which `fs.lstatSync` calls, leaves the raw values of the call in one typed
 * array; read from there, a one-thread walk of W1 took ~650 ms against ~820 ms (tmpfs, 5
 * alternating runs each, bench/README.md "What changed in session 21").
 *
 * That binding is Node's internal API (`process.binding`, deprecated in the documentation), so it is
 * used only when it proves itself: on the real file system, with no permission model, when asking
 * for it raises no warning, and when its answer for a path this thread is about to walk is, field
 * for field, what `fs.lstatSync` answers. Any other case, and any call that fails (a file that
 * vanished, EACCES, a Node whose binding reports errors in another way), goes through
 * `fs.lstatSync`, so errors and "not there" are exactly the public API's.
 */
export interface LstatView {
  /** st_mode, type bits included. */
  readonly mode: number;
  readonly size: number;
  /** The modification time in nanoseconds, as a decimal string (an entry's `mtime_ns`). */
  readonly mtimeNs: string;
  readonly uid: number;
  readonly gid: number;
  readonly dev: bigint;
  readonly ino: bigint;
  /** 0n where the file system reports no birth time. */
  readonly birthtimeNs: bigint;
}

/** Undefined when nothing is at the path (ENOENT, ENOTDIR); throws any other error. A view is valid until this thread's next lstat. */
export type Lstat = (path: string) => LstatView | undefined;

const BIGINT_NO_THROW = { bigint: true, throwIfNoEntry: false } as const;
const NS_PER_S = 1_000_000_000n;

/** A view of fs.lstatSync's answer (the fallback, and what the fast path is checked against). */
class StatsView implements LstatView {
  constructor(private readonly st: BigIntStats) {}
  get mode(): number {
    return Number(this.st.mode);
  }
  get size(): number {
    return Number(this.st.size);
  }
  get mtimeNs(): string {
    return this.st.mtimeNs.toString();
  }
  get uid(): number {
    return Number(this.st.uid);
  }
  get gid(): number {
    return Number(this.st.gid);
  }
  get dev(): bigint {
    return this.st.dev;
  }
  get ino(): bigint {
    return this.st.ino;
  }
  get birthtimeNs(): bigint {
    return this.st.birthtimeNs;
  }
}

/**
 * A view of the binding's array: [dev, mode, nlink, uid, gid, rdev, blksize, ino, size, blocks,
 * then seconds and nanoseconds of atime, mtime, ctime, birthtime]. The binding fills the same array
 * at every call, which is why a view lasts only until the next lstat.
 */
class ArrayView implements LstatView {
  constructor(readonly a: BigInt64Array) {}
  get mode(): number {
    return Number(this.a[1]);
  }
  get size(): number {
    return Number(this.a[8]);
  }
  get mtimeNs(): string {
    return ((this.a[12] as bigint) * NS_PER_S + (this.a[13] as bigint)).toString();
  }
  get uid(): number {
    return Number(this.a[3]);
  }
  get gid(): number {
    return Number(this.a[4]);
  }
  get dev(): bigint {
    return this.a[0] as bigint;
  }
  get ino(): bigint {
    return this.a[7] as bigint;
  }
  get birthtimeNs(): bigint {
    return (this.a[16] as bigint) * NS_PER_S + (this.a[17] as bigint);
  }
}

type RawLstat = (path: string, bigint: true, req: undefined, ctx: Record<string, unknown>) => unknown;

/** This thread's verdict on the binding: undefined until asked, null when it is not to be used. */
let binding: RawLstat | null | undefined;

function loadBinding(): RawLstat | null {
  if ((process as { permission?: unknown }).permission !== undefined) return null;
  const quiet = process.noDeprecation;
  try {
    // Asked with deprecation warnings off: a Node that warns about it must not print to the user.
    process.noDeprecation = true;
    const b = (process as unknown as { binding?: (name: string) => { lstat?: unknown } }).binding?.('fs');
    return typeof b?.lstat === 'function' ? (b.lstat.bind(b) as RawLstat) : null;
  } catch {
    return null;
  } finally {
    process.noDeprecation = quiet;
  }
}

// Passed where older Node 20 releases take an object to report an error in, and newer ones a flag
// that an object sets ("throw when not found"): either way a failure shows, and is left to fs. A
// fresh one replaces it after a failure.
let ctx: Record<string, unknown> = {};

/** The binding's array for `path`, or undefined for any failure (the caller asks fs.lstatSync then). */
function rawArray(raw: RawLstat, path: string): BigInt64Array | undefined {
  let a: unknown;
  try {
    a = raw(path, true, undefined, ctx);
  } catch {
    ctx = {};
    return undefined;
  }
  if (ctx.errno !== undefined || !(a instanceof BigInt64Array) || a.length < 18) {
    ctx = {};
    return undefined;
  }
  return a;
}

const FIELDS = ['mode', 'size', 'mtimeNs', 'uid', 'gid', 'dev', 'ino', 'birthtimeNs'] as const;

/** True when the binding answers for `path` exactly what fs.lstatSync does (also its nlink, rdev and ctime: the array's layout). */
function agrees(raw: RawLstat, path: string): boolean {
  // A copy: fs.lstatSync fills the same array.
  const a = rawArray(raw, path)?.slice(0, 18);
  const st = realFs.lstatSync(path, BIGINT_NO_THROW);
  if (a === undefined || st === undefined) return false;
  const fast = new ArrayView(a);
  const slow = new StatsView(st);
  return (
    FIELDS.every((f) => fast[f] === slow[f]) &&
    a[2] === st.nlink &&
    a[5] === st.rdev &&
    (a[14] as bigint) * NS_PER_S + (a[15] as bigint) === st.ctimeNs
  );
}

/** Which lstat this thread's walks use: decided by the first lstatFor on the real file system. */
export function lstatSource(): 'binding' | 'fs' | 'undecided' {
  return binding === undefined ? 'undecided' : binding === null ? 'fs' : 'binding';
}

/**
 * The lstat a walk of `root` uses on `fs`. `root` is lstat'ed once to check the binding (once per
 * thread): a path that cannot be lstat'ed leaves the decision to a later call.
 */
export function lstatFor(fs: Fs, root: string): Lstat {
  const slow: Lstat = (path) => {
    const st = fs.lstatSync(path, BIGINT_NO_THROW);
    return st === undefined ? undefined : new StatsView(st);
  };
  if (fs !== realFs) return slow;
  if (binding === undefined) {
    const raw = loadBinding();
    if (raw === null) binding = null;
    else if (realFs.lstatSync(root, BIGINT_NO_THROW) === undefined) return slow;
    else binding = agrees(raw, root) ? raw : null;
  }
  const raw = binding;
  if (raw === null) return slow;
  let view: ArrayView | undefined;
  return (path) => {
    const a = rawArray(raw, path);
    if (a === undefined) return slow(path);
    // The same array at every call, in practice: one view of it serves them all.
    if (view === undefined || view.a !== a) view = new ArrayView(a);
    return view;
  };
}
