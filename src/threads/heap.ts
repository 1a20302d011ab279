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
 * Caps how far V8 lets the heap grow, from the moment a backup starts applying a large plan (or
 * walking a first run) until the run ends: the returned function puts V8's own policy back (the
 * settings are the process's, all threads, and `backup` runs its profiles one after another in one
 * process).
 *
 * - The old generation may grow by 20 % per full collection. After each full collection V8 sets the
 *   next one's threshold at up to 4× the live size when collecting looks cheap, and what a run holds
 *   only grows while it applies. The cap counts from the next full collection, so one is made here:
 *   without it, the threshold set during the scan of a 1M-file plan (W3 of bench/, ~1.4 GB) stood
 *   until the end, and the cap changed nothing.
 * - The young generation keeps the size it has (growth factor 1). It doubles whenever enough of it
 *   survives, up to 16 MiB a half: while a batch of 4,096 files is copied its entries survive, and a
 *   walked first run grew it to 8 MiB halves (32 MiB resident with both halves). V8 sets the factor
 *   back to 2 whenever it configures an isolate's heap, a worker thread's too: call this once the
 *   run's workers run (apply/run.ts waits for the copier's).
 *
 * Measured on tmpfs, first runs of W1 (100k files), peak RSS (rss sampled every 5 ms) and time
 * (hyperfine, 5 runs): walked with the old generation capped, 160–167 MiB at 4.56 s; with both
 * capped, 124–129 MiB at 4.72 s (the build before first runs were walked: 185–190 MiB at 4.73 s). W3 (1M files): 735 MiB before, 371 MiB walked. Before the first run was walked, the
 * old-generation cap alone took W1 from 257–269 MiB to 187–198 MiB, W3 from 1,494 to 743–766 MiB;
 * 10 % gave no less at W1, 30 % gave more.
 *
 * Not for every run: a no-change run peaks while it reads the manifest, at ~146 MiB at W1 with or
 * without the cap, and the cap from the start made it 8–12 % slower; nor for backup-tool, where a
 * search only got slower with it (0.83 → 0.92 s over 100 increments).
 */
export function capHeapGrowth(): () => void {
  setFlagsFromString('--heap-growing-percent=20');
  setFlagsFromString('--semi-space-growth-factor=1');
  // The collection: Node has no call for it without --expose-gc on its command line, which the
  // user's `node backup.js` does not give; the flag exposes gc() to contexts made while it is on.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  setFlagsFromString('--no-expose-gc');
  if (typeof gc === 'function') gc();
  // V8's defaults: 0 is no fixed factor (its own policy), 2 the young generation's doubling.
  return () => {
    setFlagsFromString('--heap-growing-percent=0');
    setFlagsFromString('--semi-space-growth-factor=2');
  };
}
