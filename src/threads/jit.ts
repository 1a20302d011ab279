import { setFlagsFromString } from 'node:v8';

/**
 * How many bytes of bytecode V8's optimizing compiler may inline into one function, in all, while
 * a program does short work: a no-change or small backup run, a search (V8's own default is
 * V8_INLINE_BUDGET). Set once by each program before any code is hot (src/bin/backup.ts,
 * src/bin/backup-tool.ts); the setting is the process's, so the worker threads compile under it too,
 * once loaded (workerStartsUncapped). Only the main thread sets it: a worker's own copy of this
 * module's state is not the one its workers would be counted in.
 *
 * Why: such a run lives about a second, on two threads, on two cores. Each thread compiles its own
 * hot functions, again after each deoptimization, and under V8's default the hot loops of a
 * no-change run (the manifest's reader, the walk) pull in so much that compiling them took ~300 ms
 * of CPU in a ~1.1 s run (W1, tmpfs, `--trace-opt --no-concurrent-recompilation`: 74 compilations,
 * ~20 ms each for the walk). V8 compiles on helper threads, which find no free core while both
 * threads walk: the walk meanwhile runs unoptimized, and the compile then takes a core from it.
 * Under the cap the same compilations took ~160 ms (100) or ~125 ms (50).
 *
 * Long work (a first run, a plan that stores many entries, the scan of a state of 600,000 entries
 * or more, the copies of a restore) gets V8's default back (inlineForLongWork): its compilations
 * are paid once in many seconds, and its loops ran ~4 % faster with the default (a first run of W1;
 * a no-change run of W3, apply/run.ts LONG_SCAN_ENTRIES).
 *
 * The budget is one of the flags V8's code cache checks, so a worker loads under V8's default
 * (workerStartsUncapped, below).
 *
 * Measured on Node 20 only. From Node 22 on, V8 also optimizes with Maglev first, which has a budget
 * of its own (not capped here): what the cap gains there is not measured.
 *
 * Measured in session 27 (W1, tmpfs, alternating runs): a no-change run 671 → 565 ms (medians of
 * 16; 625 at 400, 579 at 200) in a slow spell, 615 → 586 ms (50: 571, 150: 591) in a faster one,
 * 815 → 740 ms over 8 rounds; a 1 % change 1,027 → 861 ms; bench/HISTORY.md, "What changed in
 * session 27", has the rest.
 */
export const INLINE_BUDGET = 100;
/** V8's default in Node 20's V8 (11.3) and in the V8 of Node 22 and 24 (flag-definitions.h). */
export const V8_INLINE_BUDGET = 920;

/**
 * Shared with the workers this thread starts: a lock, how many of them are still loading, and the
 * budget this thread wants (the budget's value outside those loads).
 */
export const LOCK = 0;
const LOADING = 1;
const WANTED = 2;
const shared = new Int32Array(new SharedArrayBuffer(12));
shared[WANTED] = V8_INLINE_BUDGET;

/**
 * The budget as this thread set it last (V8's own until a program sets one): what the tests check.
 * It is the one in effect but while a worker loads, when V8's default stands.
 */
export const inlineBudget = (): number => Atomics.load(shared, WANTED);

/** Caps inlining for short work (see INLINE_BUDGET). */
export function limitInlining(): void {
  setInlineBudget(INLINE_BUDGET);
}

/**
 * V8's default inlining from now on, for long work: code compiled after this call inlines as V8
 * would. The returned function puts back the budget that was set before (the cap, for the next
 * profile of a `backup` run); called twice, it does it once.
 */
export function inlineForLongWork(): () => void {
  const before = inlineBudget();
  setInlineBudget(V8_INLINE_BUDGET);
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    setInlineBudget(before);
  };
}

function setInlineBudget(bytes: number): void {
  withLock(shared, () => {
    Atomics.store(shared, WANTED, bytes);
    // While a worker loads, V8's default stands: the last worker to be loaded sets this one.
    if (Atomics.load(shared, LOADING) === 0) setFlag(bytes);
  });
}

/**
 * V8 takes a code cache only when the process's flags hash as they did where the cache was made
 * (FlagList::Hash, which counts this budget), and Node's own modules come with one made under V8's
 * defaults. A worker started under the cap compiled every module of Node it loaded from source:
 * a bare worker reached its first line in 98–111 ms with the cap against 38–49 ms without, and
 * took 20 ms against 8 to load four more of Node's modules (Node 20, this 2-core host, session 28).
 *
 * So while any worker loads, the process runs under V8's default: startWorker (threads/roles.ts)
 * calls this just before it starts one, and the worker calls workerLoaded with what it returns once
 * its modules are loaded (threads/roles.ts workerStarting); the last of them to be loaded sets the
 * budget this thread wants by then, whatever it changed meanwhile. This thread calls workerLoaded
 * too when the worker exits: it counts out a worker that never got so far, and sets the wanted
 * budget again. For those ~50–100 ms this thread compiles under V8's default too.
 *
 * Other flags the programs set at run time are counted in the hash too, and are left as they are:
 * the old generation's growth (threads/heap.ts capHeapGrowth, set for long work, whose full
 * collection must follow it at once) and the young generation's growth factor (the hold, which V8
 * itself sets back when it configures a worker's heap, and which this thread puts back while the
 * worker may still load: heap.ts).
 */
export function workerStartsUncapped(): WorkerLoad {
  const loading = new Int32Array(new SharedArrayBuffer(4));
  loading[0] = 1;
  withLock(shared, () => {
    if (Atomics.add(shared, LOADING, 1) === 0) setFlag(V8_INLINE_BUDGET);
  });
  return { shared, loading };
}

/** One worker's load (workerStartsUncapped): plain shared memory, passed in its workerData. */
export interface WorkerLoad {
  shared: Int32Array;
  /** 1 until the worker is loaded (or has exited). */
  loading: Int32Array;
}

/**
 * The worker is loaded, or has exited: it is counted out (once per load), and when none is loading
 * any more the budget the starting thread wants is set. Called again at its exit, it sets it again:
 * a worker stopped between its count and the setting (terminate() can stop it anywhere) leaves it to
 * its exit.
 */
export function workerLoaded(load: WorkerLoad | undefined): void {
  if (load === undefined) return;
  const cells = load.shared;
  withLock(cells, () => {
    if (Atomics.compareExchange(load.loading, 0, 1, 0) === 1) Atomics.sub(cells, LOADING, 1);
    if (Atomics.load(cells, LOADING) === 0) setFlag(Atomics.load(cells, WANTED));
  });
}

/**
 * Held for one flag setting at most, by this thread or one of its workers. A worker stopped while it
 * held it (terminate() runs no `finally`) would hold it for ever: after LOCK_WAIT_MS it is taken
 * over, since what it guards is speed, never a result, and a run must not hang on it. (A holder only
 * paused that long may then write a budget read before the pause; the worker's exit sets the
 * wanted one again.)
 */
function withLock(cells: Int32Array, fn: () => void): void {
  const until = performance.now() + LOCK_WAIT_MS;
  while (Atomics.compareExchange(cells, LOCK, 0, 1) !== 0 && performance.now() < until);
  try {
    fn();
  } finally {
    Atomics.store(cells, LOCK, 0);
  }
}
export const LOCK_WAIT_MS = 100;

function setFlag(bytes: number): void {
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${bytes}`);
}
