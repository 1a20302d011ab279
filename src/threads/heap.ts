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
 * Caps how far V8 lets the heap grow past what is live, for the rest of the process (the setting
 * is the process's, all threads): from the moment a backup starts applying a large plan.
 *
 * While it applies, a run only adds to what it holds (every entry it stores stays until the
 * manifest is written), and after each full collection V8 sets the next one's threshold at up to 4×
 * the live size when collecting looks cheap. Capping the growth at 20 % per collection collects a
 * little more often. The cap counts from the next full collection, so one is made here: without
 * it, the threshold set during the scan of a 1M-file first run (W3 of bench/, ~1.4 GB) stood until
 * the end, and the cap changed nothing.
 *
 * Measured on tmpfs with GNU time, first runs: W1 (100k files) 257–269 MiB → 187–194 MiB at
 * 4.7–5.0 s against 4.6–5.3 s (three runs each); W3 1,494 MiB → 747 MiB (40 s against 43 s, one run
 * each). 10 % gave no less at W1 (196–199 MiB), 30 % gave 200–205 MiB.
 *
 * Not for every run: a no-change run peaks while it reads the manifest, at ~146 MiB at W1 with or
 * without the cap, and the cap from the start made it 8–12 % slower; nor for backup-tool, where a
 * search only got slower with it (0.83 → 0.92 s over 100 increments).
 */
export function capHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=20');
  // The collection: Node has no call for it without --expose-gc on its command line, which the
  // user's `node backup.js` does not give; the flag exposes gc() to contexts made from now on.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  if (typeof gc === 'function') gc();
}
