import type { BigIntStats } from 'node:fs';
import { realFs, type Fs } from './fs.js';

/**
 * The lstat of the scan and the fstat of a copy: the fields they read, each converted only when it
 * is read.
 *
 * `fs.lstatSync` and `fs.fstatSync` build a stats object with four Date objects (their BigInt
 * divisions included) for every call: a no-change run of W1 lstats 104,000 entries, a first run
 * also fstats each of its 100,000 copies, and none of them reads a Date. Node's own binding, which
 * those functions call, leaves the raw values of the call in one typed array; read from there, a
 * one-thread walk of W1 took ~650 ms against ~820 ms (tmpfs, 5 alternating runs each), and 100,000
 * fstats ~2.5 µs less each (bench/HISTORY.md "What changed in session 21").
 *
 * That binding is Node's internal API (`process.binding`, deprecated in the documentation), so it is
 * used only on the Node majors it was tried on (TRIED_MAJORS: a binding whose arguments changed
 * could abort the process natively, which no check here could catch), and there only when it
 * proves itself: on the real file system, with no permission model, when asking for it with
 * deprecation warnings off, and when its first answer on this thread (for the source folder, or
 * the first copy's descriptor) is, field for field, what the public call answers. Any other case,
 * and any call that fails (a file that vanished, EACCES, a Node whose binding reports errors in
 * another way), goes through `fs.lstatSync` / `fs.fstatSync`, so errors and "not there" are exactly
 * the public API's.
 */
export interface StatView {
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

/**
 * Undefined when nothing is at the path (ENOENT), as fs.lstatSync with throwIfNoEntry false; throws
 * any other error. A view is valid until this thread's next stat call with bigint times (public or
 * not), or its next await or yield (an async stat's answer is filled into the same array): read
 * what is needed from it at once.
 */
export type Lstat = (path: string) => StatView | undefined;
/** Throws what fs.fstatSync throws. A view lasts as an Lstat's does. */
export type Fstat = (fd: number) => StatView;

const BIGINT_NO_THROW = { bigint: true, throwIfNoEntry: false } as const;
const NS_PER_S = 1_000_000_000n;

/** A view of fs.lstatSync's answer (the fallback, and what the fast path is checked against). */
class StatsView implements StatView {
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
 * at every call (lstat and fstat alike), which is why a view lasts only until this thread's next
 * stat call.
 */
class ArrayView implements StatView {
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

/** A call of the binding: a path (lstat) or a descriptor (fstat), then (bigint, req, ctx). */
type RawCall<T> = (target: T, bigint: true, req: undefined, ctx: Record<string, unknown>) => unknown;
interface RawStat {
  lstat: RawCall<string>;
  fstat: RawCall<number>;
}

/**
 * The Node majors whose binding was tried, by `unit/stat` (20, the machines' Node) and by hand (22.23,
 * 24.21). Its first three arguments (path or descriptor, bigint, req) were the same in each; the
 * fourth has changed within Node 20 (see ctx), which is why an answer is still checked against fs
 * rather than trusted for its major. On any other major the public calls are used.
 */
const TRIED_MAJORS = [20, 22, 24];

/** The binding's calls, once asked for: null when they are not to be used. */
let calls: RawStat | null | undefined;

function loadCalls(): RawStat | null {
  if (calls !== undefined) return calls;
  calls = null;
  if (!TRIED_MAJORS.includes(Number(process.versions.node.split('.')[0]))) return calls;
  if ((process as { permission?: unknown }).permission !== undefined) return calls;
  // Asked with deprecation warnings off, so that a Node that warns about it prints nothing to the
  // user. `--no-deprecation` has set them off already, read-only (assigning would throw); a flag
  // that cannot be set means the public calls.
  const was = Object.getOwnPropertyDescriptor(process, 'noDeprecation');
  const silent = process.noDeprecation === true;
  if (!silent && was !== undefined && was.writable !== true && was.set === undefined) return calls;
  try {
    if (!silent) process.noDeprecation = true;
    const b = (process as unknown as { binding?: (name: string) => { lstat?: unknown; fstat?: unknown } }).binding?.('fs');
    if (typeof b?.lstat === 'function' && typeof b.fstat === 'function') {
      calls = { lstat: b.lstat.bind(b) as RawCall<string>, fstat: b.fstat.bind(b) as RawCall<number> };
    }
  } catch {
    // no binding: fs it is
  } finally {
    if (!silent) {
      try {
        if (was === undefined) delete (process as { noDeprecation?: boolean }).noDeprecation;
        else Object.defineProperty(process, 'noDeprecation', was);
      } catch {
        // left silenced: warnings of deprecations are not this program's to show
      }
    }
  }
  return calls;
}

// Passed where older Node 20 releases take an object to report an error in, and newer ones a flag
// that an object sets ("throw when not found"): either way a failure shows, and is left to fs. A
// fresh one replaces it after a failure.
let ctx: Record<string, unknown> = {};

/** The binding's array for `target`, or undefined for any failure (the caller asks fs then). */
function rawArray<T>(call: RawCall<T>, target: T): BigInt64Array | undefined {
  let a: unknown;
  try {
    a = call(target, true, undefined, ctx);
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

/**
 * True when the binding answers for `target` exactly what fs answers (`slow`; also its nlink, rdev
 * and ctime: the array's layout). Asked twice at most: the file may change between the two calls
 * compared.
 */
function agrees<T>(call: RawCall<T>, target: T, slow: (target: T) => BigIntStats | undefined): boolean {
  const once = (): boolean => {
    // A copy: fs fills the same array.
    const a = rawArray(call, target)?.slice(0, 18);
    const st = slow(target);
    if (a === undefined || st === undefined) return false;
    const fast = new ArrayView(a);
    const view = new StatsView(st);
    return (
      FIELDS.every((f) => fast[f] === view[f]) &&
      a[2] === st.nlink &&
      a[5] === st.rdev &&
      (a[14] as bigint) * NS_PER_S + (a[15] as bigint) === st.ctimeNs
    );
  };
  return once() || once();
}

/** This thread's verdict on each call: undefined until the first one on the real file system. */
const verdict: { lstat: boolean | undefined; fstat: boolean | undefined } = { lstat: undefined, fstat: undefined };

/** Which lstat and fstat this thread uses: decided by the first call of each on the real file system. */
export function statSource(): { lstat: 'binding' | 'fs' | 'undecided'; fstat: 'binding' | 'fs' | 'undecided' } {
  const of = (v: boolean | undefined) => (v === undefined ? 'undecided' : v ? 'binding' : 'fs');
  return { lstat: of(verdict.lstat), fstat: of(verdict.fstat) };
}

/** The binding's answers as views: one view of its array serves every call (it is the same array, in practice). */
function viewing<T>(call: RawCall<T>, slow: (target: T) => StatView | undefined): (target: T) => StatView | undefined {
  let view: ArrayView | undefined;
  return (target) => {
    const a = rawArray(call, target);
    if (a === undefined) return slow(target);
    if (view === undefined || view.a !== a) view = new ArrayView(a);
    return view;
  };
}

/** fs.lstatSync itself, as an Lstat: for a single call, where proving the binding would cost more than it saves. */
export function publicLstat(fs: Fs): Lstat {
  return (path) => {
    const st = fs.lstatSync(path, BIGINT_NO_THROW);
    return st === undefined ? undefined : new StatsView(st);
  };
}

/**
 * The lstat a walk of `root` uses on `fs`. `root` is lstat'ed once to check the binding (once per
 * thread): a path that cannot be lstat'ed leaves the decision to a later call.
 */
export function lstatFor(fs: Fs, root: string): Lstat {
  const slow = publicLstat(fs);
  if (fs !== realFs) return slow;
  const raw = loadCalls();
  if (verdict.lstat === undefined) {
    if (raw === null) verdict.lstat = false;
    else {
      let agreed: boolean | undefined;
      try {
        const slowRoot = (p: string) => realFs.lstatSync(p, BIGINT_NO_THROW);
        if (slowRoot(root) !== undefined) agreed = agrees(raw.lstat, root, slowRoot);
      } catch {
        // The walk meets the same error, and reports it as it reports any folder it cannot read.
      }
      if (agreed === undefined) return slow;
      verdict.lstat = agreed;
    }
  }
  if (raw === null || !verdict.lstat) return slow;
  const fast = viewing(raw.lstat, slow);
  // fs refuses a path with a NUL byte (ERR_INVALID_ARG_VALUE); the binding is not asked to.
  return (path) => (path.includes('\0') ? slow(path) : fast(path));
}

/**
 * The fstat of a copy (src/io/copy.ts), for `fs` (made once per fs): throws what fs.fstatSync
 * throws. On the real file system the first call checks the binding against fs.fstatSync (once per
 * thread).
 */
export function fstatFor(fs: Fs): Fstat {
  let made = fstats.get(fs);
  if (made === undefined) fstats.set(fs, (made = makeFstat(fs)));
  return made;
}
const fstats = new WeakMap<Fs, Fstat>();

function makeFstat(fs: Fs): Fstat {
  const slow = (fd: number): StatView => new StatsView(fs.fstatSync(fd, { bigint: true }));
  if (fs !== realFs) return slow;
  const raw = loadCalls();
  if (raw === null) verdict.fstat = false;
  if (raw === null || verdict.fstat === false) return slow;
  const fast = viewing(raw.fstat, slow);
  return (fd) => {
    if (verdict.fstat === undefined) {
      const slowFd = (d: number) => realFs.fstatSync(d, { bigint: true });
      verdict.fstat = agrees(raw.fstat, fd, slowFd);
    }
    return (verdict.fstat ? fast(fd) : undefined) ?? slow(fd);
  };
}
