import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A run that stores at least this many entries caps the heap's growth before it applies them
 * (capHeapGrowth). Below, it adds little to what it holds, and the full collection that makes the
 * cap take effect costs more than it saves: a 1 % change of a 100k-file tree (~1,200 entries)
 * took 0.74–0.79 s with it against 0.69–0.72 s without, at the same peak (146–147 MiB).
 */
export const CAP_HEAP_MIN_STORES = 20_000;

/**
 * Caps how far V8 lets the heap grow past what is live, from the moment a backup starts applying a
 * large plan until the run ends: the returned function puts V8's own policy back (the setting is
 * the process's, all threads, and `backup` runs its profiles one after another in one process).
 *
 * While it applies, a run only adds to what it holds (every entry it stores stays until the
 * manifest is written), and after each full collection V8 sets the next one's threshold at up to 4×
 * the live size when collecting looks cheap. Capping the growth at 20 % per collection collects a
 * little more often. The cap counts from the next full collection, so one is made here: without
 * it, the threshold set during the scan of a 1M-file first run (W3 of bench/, ~1.4 GB) stood until
 * the end, and the cap changed nothing.
 *
 * Measured on tmpfs with GNU time, first runs: W1 (100k files) 257–269 MiB → 187–198 MiB at
 * 4.7–5.3 s against 4.6–5.3 s (three runs each, alternating); W3 1,494 MiB → 743–766 MiB at
 * 41.6–44.3 s against 42.8 s (one run per build). 10 % gave no less at W1 (196–199 MiB) and 23 MiB
 * less at W3 for 3.3 s more; 30 % gave 200–205 MiB at W1.
 *
 * Not for every run: a no-change run peaks while it reads the manifest, at ~146 MiB at W1 with or
 * without the cap, and the cap from the start made it 8–12 % slower; nor for backup-tool, where a
 * search only got slower with it (0.83 → 0.92 s over 100 increments).
 */
export function capHeapGrowth(): () => void {
  setFlagsFromString('--heap-growing-percent=20');
  // The collection: Node has no call for it without --expose-gc on its command line, which the
  // user's `node backup.js` does not give; the flag exposes gc() to contexts made while it is on.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  setFlagsFromString('--no-expose-gc');
  if (typeof gc === 'function') gc();
  // 0 is V8's default: no fixed factor, its own policy.
  return () => setFlagsFromString('--heap-growing-percent=0');
}
