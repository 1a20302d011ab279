import { setFlagsFromString } from 'node:v8';

/**
 * The V8 flags the programs change while they run, which V8's code cache checks (threads/jit.ts,
 * the inlining budget; threads/heap.ts, the old generation's growth), and how a worker thread
 * starts despite them.
 *
 * V8 takes a code cache only when the process's flags hash as they did where the cache was made
 * (FlagList::Hash; V8 11.3, Node 20's, counts every flag but a few). Node's own modules come with one,
 * made under V8's defaults. While one of these flags is off its default, a worker thread started
 * then compiles every module of Node that it loads from source: Node 20 on this 2-core host, a bare
 * worker took 98–111 ms to its first line with the inlining budget capped, 38–49 ms without, and
 * 20 ms against 8 to load four more of Node's modules; a search's worker began to read ~60 ms later. The young
 * generation's flags (heap.ts holdYoungGeneration) are not in the hash: a worker started under them
 * starts as fast.
 *
 * So startWorker (threads/roles.ts) puts these flags at V8's defaults just before it starts a
 * worker, and the worker puts them back as this thread wants them once its modules are loaded
 * (workerStarting, before its first statement of work), unless this thread changed one meanwhile
 * (it then stands as this thread set it). Until then this thread runs under V8's defaults too: its
 * code compiled in those ~50 ms inlines as V8 would. This thread puts them back itself when the
 * worker exits (a worker that failed before it could).
 */

export type Flag = 'max-inlined-bytecode-size-cumulative' | 'heap-growing-percent';

/** V8's defaults, in Node 20's V8 (11.3) and the V8 of Node 22 and 24 (flag-definitions.h). */
export const V8_DEFAULTS: Readonly<Record<Flag, number>> = {
  'max-inlined-bytecode-size-cumulative': 920,
  // 0: no fixed factor, V8's own policy.
  'heap-growing-percent': 0,
};

/** The flags this thread has set away from V8's defaults, with their values. */
const wanted = new Map<Flag, number>();
/** Counts the changes this thread makes (setFlag), shared with the workers it starts. */
let changes: Int32Array | undefined;

export function setFlag(flag: Flag, value: number): void {
  setFlagsFromString(`--${flag}=${value}`);
  if (value === V8_DEFAULTS[flag]) wanted.delete(flag);
  else wanted.set(flag, value);
  if (changes !== undefined) Atomics.add(changes, 0, 1);
}

/** The value this thread set last (V8's default until it sets one): V8 cannot be asked for a flag. */
export function flagValue(flag: Flag): number {
  return wanted.get(flag) ?? V8_DEFAULTS[flag];
}

/** What a worker puts back once its modules are loaded: plain data, passed in its workerData. */
export interface FlagsToPutBack {
  flags: [Flag, number][];
  /** The starting thread's count of changes, shared, and what it was when the worker started. */
  changes: Int32Array;
  seen: number;
}

/**
 * Every flag of this thread's at V8's default, for a worker about to start; what the worker puts
 * back (putBackFlags), or undefined when all are at their defaults already.
 */
export function defaultsForWorkerStart(): FlagsToPutBack | undefined {
  if (wanted.size === 0) return undefined;
  changes ??= new Int32Array(new SharedArrayBuffer(4));
  for (const flag of wanted.keys()) setFlagsFromString(`--${flag}=${V8_DEFAULTS[flag]}`);
  return { flags: [...wanted], changes, seen: Atomics.load(changes, 0) };
}

/** In the worker, its modules loaded: the starting thread's flags back, unless it changed one since. */
export function putBackFlags(back: FlagsToPutBack | undefined): boolean {
  if (back === undefined || Atomics.load(back.changes, 0) !== back.seen) return false;
  for (const [flag, value] of back.flags) setFlagsFromString(`--${flag}=${value}`);
  return true;
}

/** This thread's flags as it set them, after a worker exited (one that never put them back). */
export function settleFlags(): void {
  for (const [flag, value] of wanted) setFlagsFromString(`--${flag}=${value}`);
}
